// The live picture: one cytoscape graph redrawn from each snapshot the server streams (SSE).
"use strict";
const COLOURS = { up: "#2e7d32", down: "#c62828", nocarrier: "#ef6c00" };
let lab = null;
let selected = null;  // the node whose details are shown: read again as the lab changes
let asked = -1e9;  // when the details were last asked for

const cy = cytoscape({
  container: document.getElementById("graph"),
  style: [
    { selector: "node.ns", style: { "label": "data(label)", "text-valign": "top", "background-color": "#eceff1",
                                    "border-width": 1, "border-color": "#37474f" } },
    { selector: "node.ns.context", style: { "border-width": 4 } },
    { selector: "node.if", style: { "label": "data(label)", "shape": "round-rectangle", "width": 120, "height": 34,
                                    "text-wrap": "wrap", "text-valign": "center", "font-size": 10,
                                    "background-color": "white", "border-width": 2, "border-color": "data(colour)" } },
    { selector: "node.bridge", style: { "shape": "hexagon", "width": 130 } },
    { selector: "edge.cable", style: { "width": 3, "line-color": "#455a64", "label": "data(rate)", "font-size": 9 } },
    { selector: "edge.port", style: { "width": 1, "line-style": "dashed", "line-color": "#6a1b9a" } },
  ],
  layout: { name: "preset" },
});

// A namespace's place comes from its slot, which the server gives (the order the lab first had it):
// a reload draws the same picture, and a new namespace moves none of the others.
function place(i) {
  return { x: (i % 4) * 320, y: Math.floor(i / 4) * 300 };
}

function draw(state) {
  lab = state;
  const els = [];
  for (const ns of state.namespaces) {
    const at = place(ns.slot);
    els.push({ group: "nodes", position: { ...at }, data: { id: "ns:" + ns.name, label: ns.name, ns: ns.name }, classes: "ns" + (ns.context ? " context" : "") });
    ns.interfaces.forEach((x, j) => {
      els.push({ group: "nodes", position: { x: at.x, y: at.y + 50 * j },
                 data: { id: ns.name + ":" + x.name, parent: "ns:" + ns.name, label: [x.name, ...x.addrs].join("\n"),
                         ns: ns.name, ifname: x.name,
                         colour: COLOURS[x.state], state: x.state, kind: x.kind, addrs: x.addrs },
                 classes: "if" + (x.bridge ? " bridge" : "") });
    });
  }
  state.cables.forEach(([a, b]) => els.push({ group: "edges", data: { id: "cable:" + a + "|" + b, source: a, target: b, rate: "" }, classes: "cable" }));
  state.ports.forEach(([p, br]) => els.push({ group: "edges", data: { id: "port:" + p, source: p, target: br }, classes: "port" }));
  const grew = state.namespaces.some(ns => cy.getElementById("ns:" + ns.name).length === 0);
  cy.batch(() => { cy.elements().remove(); cy.add(els); });
  if (grew) cy.fit(undefined, 30);  // a new namespace is brought into view; the others keep their places
  const journal = document.getElementById("journal");
  journal.replaceChildren(...state.journal.map(s => {
    const d = document.createElement("div");
    d.className = "step " + s.outcome;
    d.textContent = `${s.n} [${s.source}] ${s.context}> ${s.text}  ${s.outcome} ${s.ms} ms`;
    for (const line of s.ip) { const i = document.createElement("div"); i.className = "ip"; i.textContent = line; d.appendChild(i); }
    return d;
  }));
  refresh();
}

// Counters and neighbours change with the lab: read again after a snapshot, at most once a second
// (20 pages asking after every step of a burst would hold up the server's thread).
let later = null;
function refresh() {
  if (!selected || later) return;
  later = setTimeout(() => { later = null; if (selected) show(selected); }, Math.max(0, 1000 - (performance.now() - asked)));
}

// Details of a click, read by the server from the kernel: /api/if/NS/IF and /api/ns/NS.
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function table(cls, columns, rows) {
  const t = el("table", undefined, { class: cls });
  t.appendChild(el("tr")).append(...columns.map(c => el("th", c)));
  for (const r of rows) t.appendChild(el("tr", undefined, { class: "row" })).append(...r.map(c => el("td", String(c ?? ""))));
  return t;
}

function onoff(v) { return v === null ? "unknown" : v ? "on" : "off"; }

function ifDetails(d) {
  const peer = (lab.cables.find(c => c.includes(d.ns + ":" + d.name)) || []).find(k => k !== d.ns + ":" + d.name);
  const out = [el("div", `${d.ns}:${d.name}`, { class: "title" }),
               el("div", `${d.kind}, ${d.up ? "up" : "down"} (${d.operstate}), mtu ${d.mtu}, mac ${d.mac}` +
                         (d.master ? `, port of ${d.master}` : "") + (peer ? `, cable to ${peer}` : "")),
               el("div", "addresses: " + ([...d.addrs, ...d.link_local].join(", ") || "none"), { class: "addrs" })];
  const c = d.counters || {};
  const row = dir => [dir, ...["packets", "bytes", "dropped", "errors"].map(k => c[dir + "_" + k])];
  out.push(table("counters", ["", "packets", "bytes", "dropped", "errors"], [row("rx"), row("tx")]));
  out.push(d.neighbours.length
    ? table("neighbours", ["neighbour", "mac", "state", "owner"], d.neighbours.map(n => [n.address, n.mac, n.state, n.owner.join(", ")]))
    : el("div", "no neighbours", { class: "neighbours" }));
  const button = el("button", "capture", { id: "capture-start" });
  button.onclick = () => startCapture(d.ns, d.name);
  out.push(button);
  return out;
}

// A live capture of one interface (/api/capture/NS/IF, SSE): its own box under the details, which are
// redrawn every second; "stop" closes the stream, and the server closes its packet socket.
const KEEP = 300;  // lines the box keeps
let capturing = null;
function stopCapture() {
  if (capturing) capturing.close();
  capturing = null;
  const box = document.getElementById("capture");
  box.dataset.state = "stopped";
  const stop = document.getElementById("capture-stop");
  if (stop) stop.disabled = true;
}

function startCapture(ns, ifname) {
  stopCapture();
  const box = document.getElementById("capture");
  const stop = el("button", "stop", { id: "capture-stop" });
  stop.onclick = stopCapture;
  const counts = el("div", "", { class: "counts" });
  const lines = el("div", undefined, { class: "lines" });
  box.replaceChildren(el("div", `capture ${ns}:${ifname}`, { class: "title" }), stop, counts, lines);
  box.dataset.endpoint = ns + ":" + ifname;
  const stream = new EventSource(`api/capture/${encodeURIComponent(ns)}/${encodeURIComponent(ifname)}`);
  capturing = stream;
  box.dataset.state = "opening";
  stream.onopen = () => { if (capturing === stream) box.dataset.state = "open"; };
  stream.onmessage = ev => {
    lines.appendChild(el("div", ev.data, { class: "line" }));
    while (lines.childElementCount > KEEP) lines.firstChild.remove();
  };
  stream.addEventListener("counts", ev => {
    const c = JSON.parse(ev.data);
    counts.textContent = `${c.seen} seen, ${c.shown} shown` + (c.skipped ? `, ${c.skipped} skipped (over 50 a second)` : "");
  });
  stream.onerror = () => {  // refused (too many, a name gone) or the lab ended: an EventSource would retry
    if (capturing !== stream) return;
    stopCapture();
    counts.textContent += " (ended)";
  };
}

function nsDetails(d) {
  return [el("div", d.ns, { class: "title" }),
          el("div", `forwarding: IPv4 ${onoff(d.forwarding.ipv4)}, IPv6 ${onoff(d.forwarding.ipv6)}`, { class: "forwarding" }),
          d.routes.length
            ? table("routes", ["route", "via", "dev", ""], d.routes.map(r => [r.dst, r.via, r.dev, r.kernel ? "kernel" : ""]))
            : el("div", "no routes", { class: "routes" })];
}

async function show(node) {
  selected = node;
  asked = performance.now();
  const path = node.ifname !== undefined ? `api/if/${encodeURIComponent(node.ns)}/${encodeURIComponent(node.ifname)}`
                                         : `api/ns/${encodeURIComponent(node.ns)}`;
  const box = document.getElementById("details");
  try {
    const r = await fetch(path);
    const d = await r.json();
    if (selected !== node) return;  // another click came first
    box.replaceChildren(...(r.ok ? (node.ifname !== undefined ? ifDetails(d) : nsDetails(d)) : [el("div", d.error, { class: "failed" })]));
    box.dataset.shown = node.ifname !== undefined ? node.ns + ":" + node.ifname : "ns:" + node.ns;
  } catch (e) {
    box.textContent = "the server is gone";
  }
}

cy.on("tap", "node", ev => {
  const d = ev.target.data();
  show(d.ifname !== undefined ? { ns: d.ns, ifname: d.ifname } : { ns: d.ns });
});

window.cy = cy;  // for scripts and the tests: cytoscape's own API on what is drawn
const events = new EventSource("events");
events.onmessage = ev => draw(JSON.parse(ev.data));

// Per-link rates, every second while the page is open (`event: rates`: {"NS:IF": [rx, tx] bit/s}, the
// non-zero ones): each cable shows its busier direction; a new picture redraws the cables, so the last
// rates are put back on them after it.
function followRates() {
  let last = {};
  const human = bits => {
    for (const [unit, size] of [["Gbit/s", 1e9], ["Mbit/s", 1e6], ["kbit/s", 1e3]])
      if (bits >= size) return (bits / size).toFixed(1) + " " + unit;
    return Math.round(bits) + " bit/s";
  };
  const show = () => cy.edges(".cable").forEach(e => {
    const seen = [e.source().id(), e.target().id()].flatMap(end => last[end] || []);
    const busiest = Math.max(0, ...seen);
    e.data("rate", busiest > 0 ? human(busiest) : "");
  });
  events.addEventListener("rates", ev => { last = JSON.parse(ev.data); show(); });
  events.addEventListener("message", show);  // after draw(), which made the cables anew
}
followRates();
