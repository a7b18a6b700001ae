// The bell in the header, kept current without a reload (web/desk/notifications.py).
//
// Contract: <a id="bell" data-unread-url="URL" data-newest="ID" data-poll-s="S"> holding
// <span id="bell-count">. Every S seconds while the page is visible it GETs URL, which
// answers {"unread": n, "newest": id}; it shows n, and when `newest` grew (something new
// arrived) it refreshes the lists that show it: the inbox (.worklist on /inbox) and the
// notifications list (#notification-list), by fetching the same page and swapping that
// part, unless the person is typing in it. A polite live region says what changed.

const bell = document.getElementById("bell");
const count = document.getElementById("bell-count");

/** A polite live region, made once, for what changed while the person was looking. */
function announcer() {
  let region = document.getElementById("bell-news");
  if (!region) {
    region = document.createElement("p");
    region.id = "bell-news";
    region.className = "visually-hidden";
    region.setAttribute("role", "status");
    document.body.append(region);
  }
  return region;
}

/** The part of this page that lists what a new notification changes, if any. */
function liveList() {
  if (location.pathname === "/inbox") return document.querySelector(".worklist");
  return document.getElementById("notification-list");
}

async function refreshList() {
  const list = liveList();
  if (!list || list.contains(document.activeElement) && document.activeElement !== list) {
    return false;
  }
  const answer = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!answer.ok) return false;
  const page = new DOMParser().parseFromString(await answer.text(), "text/html");
  const fresh = list.id
    ? page.getElementById(list.id)
    : page.querySelector(".worklist");
  if (!fresh) return false;
  list.replaceWith(document.importNode(fresh, true));
  return true;
}

async function poll() {
  if (document.visibilityState !== "visible") return;
  let answer;
  try {
    answer = await fetch(bell.dataset.unreadUrl, { headers: { Accept: "application/json" } });
  } catch {
    return; // offline for a moment: the next round tries again
  }
  if (!answer.ok) return;
  const { unread, newest } = await answer.json();
  count.textContent = String(unread);
  count.toggleAttribute("data-zero", unread === 0);
  if (newest > Number(bell.dataset.newest || 0)) {
    bell.dataset.newest = String(newest);
    const refreshed = await refreshList();
    announcer().textContent =
      `${unread} unread notification${unread === 1 ? "" : "s"}` +
      (refreshed ? "; the list was updated." : ".");
  }
}

if (bell && count) {
  const seconds = Math.max(2, Number(bell.dataset.pollS) || 20);
  setInterval(poll, seconds * 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") poll();
  });
}
