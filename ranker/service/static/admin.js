// The admin page (docs/service.md#admin-page): index versions, ranker versions, experiments and evaluation reports
// from GET /v1/admin/overview (write scope). A browser sends no bearer header when it navigates, so the page is
// open and holds no data; it asks for the key, keeps it in sessionStorage (this tab only) and sends it with its own
// requests. Every value is put into the page as text (textContent), never as HTML: names and titles are shop data.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "recsearch.admin.key";
const REFRESH_MS = 30000; // experiments are measured anew on every load

// ---------------------------------------------------------------- the API

function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function get(path, as = "json") {
  const response = await fetch(path, { headers: authHeaders(), cache: "no-store" });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw new Refused(response.status, body.error || `HTTP ${response.status}`);
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `HTTP ${response.status}`);
  }
  return as === "json" ? response.json() : response.text();
}

// ---------------------------------------------------------------- building blocks (text only)

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const pill = (text, kind) => el("span", { className: `pill ${kind}` }, text);
const cell = (content, className) => el("td", { className }, content);
const num = (content) => cell(content, "num");

function when(iso) {
  // ISO 8601 in UTC from the service: shown as "2026-01-02 03:04", the same on every machine.
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toISOString().slice(0, 16).replace("T", " ");
}

const count = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
const fixed = (x, digits = 4) => (x === null || x === undefined ? "—" : Number(x).toFixed(digits));

function pValue(p) {
  if (p === null || p === undefined) return "—";
  return p < 0.0001 ? "< 0.0001" : p.toFixed(4);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// ---------------------------------------------------------------- sections

function fill(panelId, section, emptyText, row, columns) {
  const panel = $(panelId);
  const error = panel.querySelector(".error");
  const body = panel.querySelector("tbody");
  body.replaceChildren();
  error.hidden = !section.error;
  error.textContent = section.error || "";
  if (section.error) return;
  if (!section.items.length) {
    body.append(el("tr", { className: "empty" }, el("td", { colspan: columns }, emptyText)));
    return;
  }
  for (const item of section.items) body.append(...[row(item)].flat()); // an experiment has several rows
}

function indexRow(v) {
  const state = [];
  if (v.live) state.push(pill("live", "good"));
  state.push(pill(v.build_state, v.build_state === "complete" ? "plain" : "warn"));
  return el("tr", { className: v.live ? "current" : "", dataset: { name: v.name } },
    cell(el("code", {}, v.name)), num(count(v.documents)), cell(when(v.created)), cell(state),
    num(v.schema_version ?? "—"), cell(v.embedding_model || "—"), num(count(v.enriched_items)));
}

function modelRow(m) {
  const metric = (name) => num(fixed(m.headline[name]));
  const all = Object.entries(m.metrics).sort(([a], [b]) => a.localeCompare(b));
  const details = all.length
    ? el("details", {}, el("summary", {}, `${all.length} metrics`),
        el("dl", { className: "metrics" }, all.map(([k, v]) => [el("dt", {}, k), el("dd", {}, fixed(v))])))
    : "—";
  return el("tr", { className: m.active ? "current" : "", dataset: { version: m.version } },
    cell(el("strong", {}, m.version)), cell(when(m.created)),
    cell(m.active ? pill("active", "good") : pill("registered", "plain")),
    metric("val_ndcg@10"), metric("val_hr@10"), metric("val_popularity_ndcg@10"), cell(details));
}

function interval(c, mode) {
  // The estimate, then a small bar: the interval as a band, the estimate as a tick, the line of no difference.
  const digits = mode === "interleave" ? 3 : 4;
  if (c.decided === 0) return el("span", { className: "muted" }, "nothing to compare yet");
  const [lo, hi] = mode === "interleave" ? [0, 1] : bounds(c);
  const at = (x) => `${Math.max(0, Math.min(100, ((x - lo) / (hi - lo)) * 100)).toFixed(1)}%`;
  const band = el("span", { className: "band" });
  band.style.left = at(c.low);
  band.style.width = `calc(${at(c.high)} - ${at(c.low)})`;
  const tick = el("span", { className: "tick" });
  tick.style.left = at(c.estimate);
  const even = el("span", { className: "even" });
  even.style.left = at(mode === "interleave" ? 0.5 : 0);
  return el("div", { className: "interval" },
    el("span", { className: "estimate" }, fixed(c.estimate, digits)),
    el("span", { className: "range" }, band, even, tick),
    el("span", { className: "muted" }, `[${fixed(c.low, digits)}, ${fixed(c.high, digits)}]`));
}

function bounds(c) {
  const reach = Math.max(Math.abs(c.low), Math.abs(c.high), Math.abs(c.estimate), 1e-9) * 1.1;
  return [-reach, reach];
}

function verdict(e, primary) {
  if (!primary || e.answers === 0) return pill("no answers yet", "plain");
  if (e.winner_version) {
    const after = e.significant_after ? `from ${count(e.significant_after)} answers` : "";
    return [pill(`${e.winner_version} wins`, "good"), el("div", { className: "muted small" }, after)];
  }
  return pill("no difference yet", "plain");
}

function period(e) {
  const line = (text) => el("div", { className: "muted small nowrap" }, text);
  return e.stopped ? [line(`from ${when(e.started)}`), line(`to ${when(e.stopped)}`)] : line(`since ${when(e.started)}`);
}

function experimentRows(e) {
  const [primary, ...others] = e.comparisons;
  const mode = e.mode === "interleave" ? "interleaved" : "A/B";
  const rows = [el("tr", { dataset: { name: e.name }, className: e.state === "running" ? "current" : "" },
    cell([el("strong", {}, e.name), el("div", { className: "nowrap" }, `${e.control} → ${e.treatment}`),
      el("div", { className: "muted small" }, `${Math.round(e.traffic * 100)}% of users, ${mode}`)]),
    cell([pill(e.state, e.state === "running" ? "info" : "plain"), period(e)]),
    num(count(e.answers)),
    cell(primary ? primary.measure : "—", "nowrap"), cell(primary ? interval(primary, e.mode) : "—"),
    num(primary && primary.decided !== 0 ? pValue(primary.p_value) : "—"),
    cell(verdict(e, primary)))];
  for (const c of others) {
    const better = c.winner ? pill(`${c.winner === "treatment" ? e.treatment : e.control} better`, "good") : "";
    rows.push(el("tr", { className: "secondary" }, cell(""), cell(""), cell(""), cell(c.measure, "nowrap"),
      cell(interval(c, e.mode)), num(c.decided !== 0 ? pValue(c.p_value) : "—"), cell(better)));
  }
  return rows;
}

function reportRow(r) {
  const link = el("a", { href: r.url, dataset: { report: r.name } }, r.name);
  link.addEventListener("click", (event) => {
    event.preventDefault(); // a navigation would carry no key: fetch it and show it in a sandboxed frame
    openReport(r);
  });
  return el("tr", {}, cell(link), cell(when(r.generated)), num(bytes(r.size)));
}

async function openReport(r) {
  try {
    const text = await get(r.url, "text");
    $("viewer-title").textContent = r.name;
    $("viewer-frame").srcdoc = text; // sandbox: no scripts, no origin, so it cannot reach this page's key
    $("viewer").showModal();
  } catch (e) {
    fail(e);
  }
}

// ---------------------------------------------------------------- the page

function render(data) {
  $("alias").textContent = `alias ${data.alias}`;
  $("updated").textContent = `updated ${when(data.generated)} UTC`;
  fill("index-panel", data.index_versions, "No index versions yet: recadmin index build --catalog PATH", indexRow, 7);
  fill("models-panel", data.models, "No ranker versions yet: recadmin train", modelRow, 7);
  fill("experiments-panel", data.experiments,
    "No experiments yet: recadmin experiment start NAME --control V --treatment V", experimentRows, 7);
  fill("reports-panel", data.reports, "No evaluation reports yet: recadmin evaluate", reportRow, 3);
  $("panels").hidden = false;
}

function askKey(message) {
  $("panels").hidden = true;
  $("forget").hidden = true;
  $("key-form").hidden = false;
  $("key-why").textContent = message;
  $("key").focus();
}

function fail(error) {
  if (error instanceof Refused) {
    const why = error.status === 403
      ? "That key lacks the write scope: this page needs a write key."
      : sessionStorage.getItem(KEY) ? "That key is not known to the service." : "This page needs a key with the write scope.";
    if (sessionStorage.getItem(KEY)) sessionStorage.removeItem(KEY);
    askKey(why);
    return;
  }
  $("status").textContent = `Could not load: ${error.message}`;
}

async function load() {
  $("status").textContent = "";
  try {
    const data = await get("/v1/admin/overview");
    $("key-form").hidden = true;
    $("forget").hidden = !sessionStorage.getItem(KEY);
    render(data);
  } catch (e) {
    fail(e);
  } finally {
    document.body.dataset.ready = "1";
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key").value.trim());
  $("key").value = "";
  document.body.dataset.ready = "";
  load();
});
$("refresh").addEventListener("click", () => {
  document.body.dataset.ready = "";
  load();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  askKey("Key forgotten. This page needs a key with the write scope.");
});
setInterval(() => {
  if (document.visibilityState === "visible" && $("key-form").hidden) load();
}, REFRESH_MS);
load();
