// The designer's calls to its JSON API. Writes send the page's CSRF token.

export class Api {
  constructor(base) {
    this.base = base;
    this.token = document.querySelector('meta[name="csrf-token"]').content;
  }

  async call(method, path, body, headers = {}) {
    const init = { method, headers: { Accept: "application/json", ...headers } };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRFToken"] = this.token;
      init.body = JSON.stringify(body ?? {});
    }
    const response = await fetch(this.base + path, init);
    let answer = {};
    try {
      answer = await response.json();
    } catch {
      answer = { message: `The server answered ${response.status}.` };
    }
    return { status: response.status, ok: response.ok, body: answer };
  }

  draft() {
    return this.call("GET", "/draft");
  }

  save(document, revision) {
    return this.call("PUT", "/draft", { document }, { "If-Match": `"${revision}"` });
  }

  /** Check a document; `extra` adds to what is sent (the workflow designer's `fields_seen`). */
  check(document, extra = {}) {
    return this.call("POST", "/check", { document, ...extra });
  }

  /** Preview a document; `post` holds sample answers as a browser posts them (name -> values). */
  preview(document, post) {
    return this.call("POST", "/preview", post === undefined ? { document } : { document, post });
  }

  publish(revision, confirm) {
    return this.call("POST", "/publish", { revision, confirm });
  }

  versions() {
    return this.call("GET", "/versions");
  }

  diff(from, to) {
    return this.call("GET", `/diff?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  }
}
