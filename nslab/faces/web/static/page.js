// The live picture: one cytoscape graph redrawn from each snapshot the server streams (SSE).
"use strict";
const COLOURS = { up: "#2e7d32", down: "#c62828", nocarrier: "#ef6c00" };
const slots = {};  // namespace -> slot, kept for the page's life: a new namespace moves none of the others
let lab = null;

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

function slot(name) {
  if (!(name in slots)) slots[name] = Object.keys(slots).length;
  const i = slots[name];
  return { x: (i % 4) * 320, y: Math.floor(i / 4) * 300 };
}

function draw(state) {
  lab = state;
  const els = [];
  for (const ns of state.namespaces) {
    const at = slot(ns.name);
    els.push({ group: "nodes", position: { ...at }, data: { id: "ns:" + ns.name, label: ns.name }, classes: "ns" + (ns.context ? " context" : "") });
    ns.interfaces.forEach((x, j) => {
      els.push({ group: "nodes", position: { x: at.x, y: at.y + 50 * j },
                 data: { id: ns.name + ":" + x.name, parent: "ns:" + ns.name, label: [x.name, ...x.addrs].join("\n"),
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
}

cy.on("tap", "node", ev => {
  const d = ev.target.data();
  document.getElementById("details").textContent = d.parent
    ? `${d.id}\nkind: ${d.kind}\nstate: ${d.state}\naddresses: ${(d.addrs || []).join(", ") || "none"}`
    : `${d.label}`;
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
