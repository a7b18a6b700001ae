// From a workflow document to a block tree the canvas draws top to bottom. Pure: no DOM.
//
// A flow is a sequence of items: a "slot" (the gap between two cards, where a step can be
// added: the routes that cross it and the step they lead to), a "card" (one step), a
// "lanes" block (the ways a decision, a step with several outcomes or a parallel step
// opens, side by side, each a sequence of its own) and a "link" ("goes back to" a step
// drawn above, or "goes to" one drawn elsewhere). Lanes join again at the nearest step all
// of them reach (the step's immediate post-dominator); a step is drawn once, and steps the
// start never reaches are drawn at the end. Every route of the document crosses a slot,
// opens a lane or is a link, so what is drawn is the whole flow.

import { pointer } from "./pointer.js";
import { forwardRoutes, gotoRoutes } from "./routes.js";

const EXIT = "\u0000exit";

function stepsOf(holder) {
  const steps = holder && typeof holder === "object" ? holder.steps : null;
  return steps && typeof steps === "object" && !Array.isArray(steps) ? steps : {};
}

/**
 * The ways on of a step, one lane each: `[{to, routes, labels, when}]`. They are not merged
 * when they lead to the same step, so a new decision shows its lanes (empty, joined).
 */
function outsOf(step, at) {
  const routes = forwardRoutes(step, at);
  if (new Set(routes.map((r) => r.to)).size === 1 && step?.type !== "decision") {
    return [{ to: routes[0].to, routes: routes.map((r) => r.pointer), labels: routes.map((r) => r.label) }];
  }
  return routes.map((r) => ({ to: r.to, routes: [r.pointer], labels: [r.label], when: r.when }));
}

/**
 * The immediate post-dominator of each step of a scope (Cooper, Harvey and Kennedy's
 * iterative algorithm on the reversed graph): where all the ways out of a step meet again.
 */
function postDominators(ids, succ) {
  const preds = new Map([[EXIT, []], ...ids.map((id) => [id, []])]);
  for (const id of ids) for (const to of succ(id)) preds.get(to).push(id);
  const order = [];
  const seen = new Set([EXIT]);
  const stack = [[EXIT, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1];
    const next = preds.get(top[0])[top[1]];
    top[1] += 1;
    if (next === undefined) {
      order.push(top[0]);
      stack.pop();
    } else if (!seen.has(next)) {
      seen.add(next);
      stack.push([next, 0]);
    }
  }
  const index = new Map(order.map((node, i) => [node, i]));
  const idom = new Map([[EXIT, EXIT]]);
  const intersect = (a, b) => {
    while (a !== b) {
      while (index.get(a) < index.get(b)) a = idom.get(a);
      while (index.get(b) < index.get(a)) b = idom.get(b);
    }
    return a;
  };
  const reverse = order.slice().reverse().filter((node) => node !== EXIT);
  for (let changed = true; changed; ) {
    changed = false;
    for (const node of reverse) {
      let found;
      for (const to of succ(node)) {
        if (idom.has(to)) found = found === undefined ? to : intersect(to, found);
      }
      if (found !== undefined && idom.get(node) !== found) {
        idom.set(node, found);
        changed = true;
      }
    }
  }
  return (id) => {
    const found = idom.get(id);
    return found === undefined || found === EXIT ? null : found;
  };
}

/** Lay out one flow: the top level, or one branch of a parallel step. */
function layoutScope(ctx, holder, scope) {
  const steps = stepsOf(holder);
  const ids = Object.keys(steps);
  const at = (id) => `${scope}${pointer("steps", id)}`;
  const outs = new Map(ids.map((id) => [id, outsOf(steps[id], at(id))]));
  const succ = (id) => {
    const inside = [...new Set(outs.get(id).map((o) => o.to))].filter((to) => Object.hasOwn(steps, to));
    return inside.length ? inside : [EXIT];
  };
  const flow = { ctx, steps, scope, at, outs, pdom: postDominators(ids, succ), succ, reach: new Map() };
  const first = holder && typeof holder.first === "string" ? holder.first : null;
  const seq = first === null ? [] : walk(flow, first, [`${scope}/first`], [], null);
  const unreached = [];
  for (const id of ids) {
    if (!ctx.placed.has(id)) unreached.push(walk(flow, id, [], [], null));
  }
  return { seq, unreached };
}

/** Whether `from` can be reached again from `to`: a route from `from` to `to` then loops. */
function loops(flow, from, to) {
  if (!flow.reach.has(to)) {
    const seen = new Set([to]);
    const queue = [to];
    while (queue.length) {
      for (const next of flow.succ(queue.pop())) {
        if (next !== EXIT && !seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    flow.reach.set(to, seen);
  }
  return flow.reach.get(to).has(from);
}

function link(flow, from, to, routes, label = "") {
  const missing = !Object.hasOwn(flow.steps, to);
  return { kind: "link", to, routes, label, missing, back: !missing && from !== null && loops(flow, from, to) };
}

/** The sequence that starts at `start`, reached by `routes`, until it meets `stops`' last. */
function walk(flow, start, incoming, stops, previous) {
  const { ctx, steps } = flow;
  const own = stops[stops.length - 1];
  const items = [];
  let current = start;
  let routes = incoming;
  let from = previous;
  for (;;) {
    if (current === own) {
      items.push({ kind: "slot", routes, target: current });
      break;
    }
    if (!Object.hasOwn(steps, current) || ctx.placed.has(current) || stops.includes(current)) {
      items.push(link(flow, from, current, routes));
      break;
    }
    if (routes.length) items.push({ kind: "slot", routes, target: current });
    const card = placeCard(flow, current);
    items.push(card);
    const step = steps[current];
    if (step && step.type === "parallel") items.push(branchLanes(flow, current, step));
    let ways = flow.outs.get(current);
    if (ways.length > 1 && step?.type !== "decision") {
      // A task or approval whose other outcomes go back or elsewhere goes on as one line.
      const isLink = (o) => !Object.hasOwn(steps, o.to) || ctx.placed.has(o.to) || (stops.includes(o.to) && o.to !== own);
      const rest = ways.filter((o) => !isLink(o));
      if (rest.length <= 1) {
        card.links = ways.filter(isLink).map((o) => link(flow, current, o.to, o.routes, o.labels.join(", ")));
        ways = rest;
      }
    }
    if (ways.length === 0) break;
    from = current;
    if (ways.length === 1) {
      routes = ways[0].routes;
      current = ways[0].to;
      continue;
    }
    let join = flow.pdom(current);
    if (join !== null && ctx.placed.has(join)) join = null;
    const inner = join === null ? stops : [...stops, join];
    const lanes = ways.map((o) => ({
      label: o.labels.join(", "),
      when: o.when,
      routes: o.routes,
      seq: walk(flow, o.to, o.routes, inner, current),
    }));
    // Lanes that join where the lanes around them join (`own`) are said to join there once.
    items.push({ kind: "lanes", from: current, parallel: false, lanes, join, joinsOuter: join !== null && join === own });
    if (join === null) break;
    routes = lanes.flatMap((lane) => {
      const last = lane.seq[lane.seq.length - 1];
      return last && last.kind === "slot" && last.target === join ? last.routes : [];
    });
    current = join;
  }
  return items;
}

function placeCard(flow, id) {
  flow.ctx.placed.add(id);
  flow.ctx.order.push(id);
  const at = flow.at(id);
  const step = flow.steps[id];
  const gotos = gotoRoutes(step, at).map((g) => link(flow, id, g.to, [g.pointer], "escalation"));
  const card = { kind: "card", id, pointer: at, step, scope: flow.scope, links: [], gotos };
  flow.ctx.cards.set(id, card);
  return card;
}

function branchLanes(flow, id, step) {
  const branches = step.branches && typeof step.branches === "object" ? step.branches : {};
  const lanes = Object.entries(branches).map(([name, branch]) => {
    const scope = `${flow.at(id)}${pointer("branches", name)}`;
    const inner = layoutScope(flow.ctx, branch, scope);
    return { label: branch?.label || name, name, routes: [`${scope}/first`], seq: inner.seq, unreached: inner.unreached };
  });
  return { kind: "lanes", from: id, parallel: true, lanes, join: typeof step.next === "string" ? step.next : null };
}

/** A document -> its layout: documents are never changed, so each is laid out once. */
const layouts = new WeakMap();

/**
 * The block tree of a workflow: `{seq, unreached, order, cards}`, where `order` lists the
 * step ids in drawing order and `cards` maps each id to its card. Read only: the same
 * document gives the same tree, laid out once (a move lays out the document drawn).
 */
export function buildLayout(doc) {
  const known = doc && typeof doc === "object" ? layouts.get(doc) : undefined;
  if (known) return known;
  const ctx = { placed: new Set(), order: [], cards: new Map() };
  const top = layoutScope(ctx, doc, "");
  const layout = { seq: top.seq, unreached: top.unreached, order: ctx.order, cards: ctx.cards };
  if (doc && typeof doc === "object") layouts.set(doc, layout);
  return layout;
}

/** Call `visit(items)` on every sequence of the tree, nested ones included. */
export function eachSequence(layout, visit) {
  const walkSeq = (items) => {
    visit(items);
    for (const item of items) {
      if (item.kind !== "lanes") continue;
      for (const lane of item.lanes) {
        walkSeq(lane.seq);
        (lane.unreached || []).forEach(walkSeq);
      }
    }
  };
  walkSeq(layout.seq);
  layout.unreached.forEach(walkSeq);
}

/** Where a step's card is: `{items, index}` (its sequence and its place there), or null. */
export function locateCard(layout, id) {
  let found = null;
  eachSequence(layout, (items) => {
    const index = items.findIndex((item) => item.kind === "card" && item.id === id);
    if (index >= 0 && !found) found = { items, index };
  });
  return found;
}
