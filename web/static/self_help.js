// Self-help on public forms (docs/self-help.md): while a requester describes their
// trouble, the workarounds the service desk published for matching known errors are
// shown under the fields they type in, without leaving the form. The form works the
// same without this file; it sends nothing but the text typed in those fields.
//
// Contract: <form data-self-help-url="URL" data-self-help-fields="summary description">.
// On input (debounced) it POSTs {"text": "<the fields' text>"} as JSON and expects
//   {"answers": [{"title": "...", "workaround": "..."}]}
// A status line (role="status", a polite live region) says how many matched; the
// answers themselves are listed beside it, not read out on every keystroke.

const DEBOUNCE_MS = 600;
/** Fewer characters than this say too little to look for. */
const MIN_CHARS = 8;
const MAX_CHARS = 4000;

class SelfHelp {
  constructor(form) {
    this.form = form;
    this.url = form.dataset.selfHelpUrl;
    this.names = (form.dataset.selfHelpFields || "").split(/\s+/).filter(Boolean);
    this.timer = 0;
    this.request = null;
    this.asked = "";
    this.build();
    form.addEventListener("input", (event) => this.onInput(event));
  }

  /** The fields read, as the form holds them. */
  controls() {
    return this.names
      .map((name) => this.form.elements.namedItem(name))
      .filter((control) => control && typeof control.value === "string");
  }

  /** Put the live status line and the (hidden) list after the last field read. */
  build() {
    const box = document.createElement("div");
    box.className = "self-help";
    this.status = document.createElement("p");
    this.status.className = "self-help-status";
    this.status.setAttribute("role", "status");
    this.answers = document.createElement("section");
    this.answers.className = "panel self-help-answers";
    this.answers.setAttribute("aria-labelledby", "self-help-title");
    this.answers.hidden = true;
    const heading = document.createElement("h2");
    heading.id = "self-help-title";
    heading.textContent = "Known problems that may be yours";
    const lead = document.createElement("p");
    lead.textContent =
      "The service desk already knows these problems and how to work around them. " +
      "If one is yours, try its workaround; you can still send your report.";
    this.list = document.createElement("ul");
    this.list.className = "plain";
    this.answers.append(heading, lead, this.list);
    box.append(this.status, this.answers);
    const controls = this.controls();
    const last = controls.length ? controls[controls.length - 1].closest("[data-field]") : null;
    if (last) last.after(box);
    else this.form.querySelector('button[type="submit"]')?.before(box);
  }

  onInput(event) {
    if (!this.controls().includes(event.target)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ask(), DEBOUNCE_MS);
  }

  text() {
    return this.controls()
      .map((control) => control.value.trim())
      .filter(Boolean)
      .join("\n")
      .slice(0, MAX_CHARS);
  }

  async ask() {
    const text = this.text();
    if (text === this.asked) return;
    this.asked = text;
    if (this.request) this.request.abort();
    if (text.length < MIN_CHARS) {
      this.show([]);
      return;
    }
    const request = new AbortController();
    this.request = request;
    let answer;
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ text }),
        credentials: "omit",
        signal: request.signal,
      });
      if (!response.ok) return; // Too many questions, or offline: the form still works.
      answer = await response.json();
    } catch {
      return;
    }
    if (request !== this.request) return;
    this.request = null;
    this.show(Array.isArray(answer.answers) ? answer.answers : []);
  }

  /** List the answers (as text, never as markup) and say how many in the live region. */
  show(answers) {
    const items = answers.map((answer) => {
      const item = document.createElement("li");
      item.className = "known-error";
      const title = document.createElement("h3");
      title.textContent = String(answer.title || "");
      const workaround = document.createElement("p");
      workaround.className = "workaround";
      const label = document.createElement("strong");
      label.textContent = "Workaround: ";
      workaround.append(label, String(answer.workaround || ""));
      item.append(title, workaround);
      return item;
    });
    this.list.replaceChildren(...items);
    this.answers.hidden = items.length === 0;
    const said =
      items.length === 0
        ? ""
        : items.length === 1
          ? "1 known problem may be yours; its workaround is shown below."
          : `${items.length} known problems may be yours; their workarounds are shown below.`;
    if (this.status.textContent !== said) this.status.textContent = said;
  }
}

function enhance() {
  for (const form of document.querySelectorAll("form[data-self-help-url]")) {
    if (!form.hasAttribute("data-self-help")) {
      form.setAttribute("data-self-help", "");
      new SelfHelp(form);
    }
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", enhance);
} else {
  enhance();
}

export { enhance };
