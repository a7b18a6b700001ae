// Keeps the browser's time zone in the `time_zone` cookie, so the next pages say moments in
// it (web/common/moments.py); a zone chosen on the account page comes first.
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
if (zone && /^[A-Za-z0-9_+\-/]+$/.test(zone) && !document.cookie.split("; ").includes(`time_zone=${zone}`)) {
  document.cookie = `time_zone=${zone}; path=/; max-age=31536000; SameSite=Lax`;
}
