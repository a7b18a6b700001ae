// Keeps the browser's time zone in the `time_zone` cookie, so the next pages say moments in
// it (web/common/moments.py); a zone chosen on the account page comes first.
//
// Asked once the page is idle: the first use of `Intl` in a page loads the time zone data,
// tens of milliseconds that would otherwise come before the page's first frame.
function keepZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && /^[A-Za-z0-9_+\-/]+$/.test(zone) && !document.cookie.split("; ").includes(`time_zone=${zone}`)) {
    document.cookie = `time_zone=${zone}; path=/; max-age=31536000; SameSite=Lax`;
  }
}

if ("requestIdleCallback" in window) requestIdleCallback(keepZone, { timeout: 1000 });
else setTimeout(keepZone, 200);
