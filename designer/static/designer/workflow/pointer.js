// JSON Pointers (RFC 6901) over a workflow document: read, and pure writes that return a
// new document, the input never changed. Every edit of the workflow designer that is not a
// step-level command (model.js) is `setAt` or `removeAt`, so undo keeps working.

/** The reference tokens of a pointer: "/steps/a~1b/next" -> ["steps", "a/b", "next"]. */
export function tokens(pointer) {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`not a JSON Pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => token.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** A pointer from tokens: ["steps", "a/b"] -> "/steps/a~1b". */
export function pointer(...parts) {
  return parts.map((part) => `/${String(part).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

/** The value at a pointer, or undefined when the path does not exist. */
export function getAt(doc, at) {
  let value = doc;
  for (const token of tokens(at)) {
    if (value === null || typeof value !== "object") return undefined;
    value = value[Array.isArray(value) ? Number(token) : token];
  }
  return value;
}

/**
 * A shallow copy of an object or array. Writes copy only the containers on the path to
 * what they change and share the rest with the input: documents are never changed in
 * place, so an unchanged step keeps its identity from one document to the next, which
 * lets a redraw pass over it without comparing its content.
 */
function shallow(node) {
  return Array.isArray(node) ? [...node] : { ...node };
}

/** A copy of `doc` with `value` at the pointer; objects on the way are made as needed. */
export function setAt(doc, at, value) {
  const path = tokens(at);
  if (path.length === 0) return structuredClone(value);
  const copy = shallow(doc);
  let node = copy;
  path.slice(0, -1).forEach((token, i) => {
    const key = Array.isArray(node) ? Number(token) : token;
    node[key] = node[key] === null || typeof node[key] !== "object" ? (/^\d+$/.test(path[i + 1]) ? [] : {}) : shallow(node[key]);
    node = node[key];
  });
  const last = path[path.length - 1];
  if (Array.isArray(node) && last === "-") node.push(structuredClone(value));
  else node[Array.isArray(node) ? Number(last) : last] = structuredClone(value);
  return copy;
}

/**
 * A copy of `doc` without the value at the pointer (an array closes the gap). With
 * `prune`, objects and arrays left empty on the way are removed too, so clearing the
 * last option of a setting drops the setting rather than leaving `{}`.
 */
export function removeAt(doc, at, { prune = false } = {}) {
  const path = tokens(at);
  if (path.length === 0) return undefined;
  const copy = shallow(doc);
  const parents = [];
  let node = copy;
  for (const token of path.slice(0, -1)) {
    if (node === null || typeof node !== "object") return copy;
    const key = Array.isArray(node) ? Number(token) : token;
    const child = node[key];
    if (child === null || typeof child !== "object") return copy;
    parents.push([node, token]);
    node[key] = shallow(child);
    node = node[key];
  }
  const last = path[path.length - 1];
  if (Array.isArray(node)) node.splice(Number(last), 1);
  else delete node[last];
  if (prune) {
    for (let i = parents.length - 1; i >= 0; i -= 1) {
      const [parent, token] = parents[i];
      const child = parent[Array.isArray(parent) ? Number(token) : token];
      const empty = Array.isArray(child) ? child.length === 0 : Object.keys(child).length === 0;
      if (!empty) break;
      if (Array.isArray(parent)) parent.splice(Number(token), 1);
      else delete parent[token];
    }
  }
  return copy;
}
