// The list of published versions, and the difference between any two of them in words.

import { momentFormat } from "./dom.js";

function option(value, text) {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text;
  return node;
}

async function load(api) {
  const answer = await api.versions();
  const versions = answer.ok ? answer.body.versions : [];
  const list = document.getElementById("versions");
  const from = document.getElementById("diff-from");
  const to = document.getElementById("diff-to");
  list.replaceChildren();
  from.replaceChildren();
  to.replaceChildren(option("draft", "the draft"));
  if (!versions.length) {
    list.append(Object.assign(document.createElement("li"), { textContent: "Not published yet." }));
  }
  for (const version of versions) {
    const when = momentFormat({ day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" }).format(new Date(version.published_at));
    const item = document.createElement("li");
    item.textContent = `Version ${version.version}, published ${when}${version.published_by ? ` by ${version.published_by}` : ""}`;
    list.append(item);
    from.append(option(String(version.version), `version ${version.version}`));
    to.append(option(String(version.version), `version ${version.version}`));
  }
  if (versions.length) from.value = String(versions[versions.length - 1].version);
  document.getElementById("diff-show").disabled = !versions.length;
}

async function show(api) {
  const out = document.getElementById("diff");
  const from = document.getElementById("diff-from").value;
  const to = document.getElementById("diff-to").value;
  const answer = await api.diff(from, to);
  const items = answer.ok ? answer.body.changes.map((c) => c.text) : [answer.body.message];
  if (answer.ok && !items.length) items.push("No differences.");
  out.replaceChildren(...items.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
}

/** Fill in the versions now and after every publish; compare on demand. */
export function wireVersions(api) {
  document.getElementById("diff-show").addEventListener("click", () => show(api));
  document.addEventListener("designer:published", () => load(api));
  load(api);
}
