// The postmortem editor's live preview (web/postmortems).
//
// Contract: <form data-postmortem-editor data-preview-url="URL"> holding the CSRF token
// and <textarea name="body">, and <div id="postmortem-preview">. A moment after the
// person stops typing, it POSTs the text to URL, which answers the server's rendering
// (raw HTML shown as text, no script links), and shows it. Without this script the
// form's Preview button does the same through a page load. Once it listens, the form
// carries data-ready="true".

const form = document.querySelector("form[data-postmortem-editor]");
const preview = document.getElementById("postmortem-preview");

/** Milliseconds of quiet typing before the preview is asked for. */
const QUIET_MS = 300;

if (form && preview) {
  const area = form.querySelector("textarea[name=body]");
  const token = form.querySelector("input[name=csrf_token]").value;
  let timer = null;
  let asked = 0;

  async function refresh() {
    const mine = ++asked;
    const body = new URLSearchParams({ body: area.value, csrf_token: token });
    const response = await fetch(form.dataset.previewUrl, { method: "POST", body });
    // An answer to an older text, or a refusal, changes nothing on the page; but a text
    // too long to save is said (413, the server's own words).
    if (mine !== asked || (!response.ok && response.status !== 413)) return;
    preview.innerHTML = await response.text();
  }

  area.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, QUIET_MS);
  });
  form.dataset.ready = "true";
}
