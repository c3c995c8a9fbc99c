// The storefront: a small shop page over the service's public API (docs/service.md#storefront).
// The view lives in the URL (?q=&user=&page=&debug=1), so a search can be linked and reloaded. What a shopper does
// (open a product, add it to the cart, buy it) goes to POST /v1/events with the query_id of the answer that showed
// it, so the service attributes it to the place it was shown (docs/ubi.md).
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 12;
const ROW_SIZE = 6;
// A "because you ..." line names the result's strongest history item, and is shown only where it says something
// (docs/service.md#storefront): that item is clearly the strongest (not tied with the next one), and it singles the
// result out: it is the strongest item of at most a third of the list, or the model put at least STRONG_WEIGHT of
// its attention on it. A line that would stand under every card of a list is never shown.
const STRONG_WEIGHT = 0.5;
const SHARED_AT_MOST = 1 / 3;
const TIE = 0.01;
const VERBS = { purchase: "bought", add_to_cart: "added", click: "looked at", view: "viewed" };
const SMALL_WORDS = new Set(["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"]);

const shop = { name: "Shop", currency: "USD" };
let state = { q: "", user: "", page: 1, debug: false };

// ---------------------------------------------------------------- the URL

function readState() {
  const p = new URLSearchParams(location.search);
  const page = Number.parseInt(p.get("page") || "1", 10);
  return { q: (p.get("q") || "").trim(), user: (p.get("user") || "").trim(),
           page: Number.isFinite(page) && page > 0 ? page : 1, debug: p.get("debug") === "1" };
}

function writeState() {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.user) p.set("user", state.user);
  if (state.page > 1) p.set("page", String(state.page));
  if (state.debug) p.set("debug", "1");
  const url = p.toString() ? `?${p}` : location.pathname;
  if (url !== location.search) history.pushState(null, "", url);
}

// ---------------------------------------------------------------- the API

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["X-API-Key"] = key;
  return h;
}

async function call(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers() });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16)); // pages not served over https have no randomUUID
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// A guest's events need a user id: one per browser session, so the guest's own clicks shape nothing else.
function shopperId() {
  if (state.user) return state.user;
  let guest = sessionStorage.getItem("recsearch-guest");
  if (!guest) sessionStorage.setItem("recsearch-guest", (guest = `guest-${uuid()}`));
  return guest;
}

async function send(type, item, answer) {
  const event = { event_id: uuid(), user_id: shopperId(), item_id: item.id, type, ts: new Date().toISOString(),
                  query_id: answer.query_id };
  if (answer.query) event.query = answer.query;
  if (type !== "click") { event.quantity = 1; if (item.price != null) event.value = item.price; }
  try {
    await call("/v1/events", { method: "POST", body: JSON.stringify({ events: [event] }) });
    return true;
  } catch (e) {
    $("status").textContent = `Could not record that: ${e.message}`;
    return false;
  }
}

// ---------------------------------------------------------------- how an item looks

/** A title in readable case: an ALL-CAPS catalog title becomes Title Case (the index keeps the original). */
function readable(title) {
  if (!title || /\p{Ll}/u.test(title)) return title || "";
  return title.toLowerCase().split(/(\s+)/).map((word, n) => {
    if (n > 0 && SMALL_WORDS.has(word)) return word;
    return word.replace(/(^|[-/("])(\p{L})/gu, (_, before, letter) => before + letter.toUpperCase());
  }).join("");
}

function price(value) {
  if (value == null) return "";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: shop.currency }).format(value);
  } catch (e) {
    return `${Number(value).toFixed(2)} ${shop.currency}`;
  }
}

const words = (text) => (text || "").match(/\p{L}[\p{L}'-]*/gu) || [];

// The placeholder's colour and initials come from the category; an item without one gets its colour from the
// title's last word (the noun of most product names: all holders alike) and the initials of its title.
function look(item) {
  const category = words(item.category);
  const title = words(item.title).filter((w) => !SMALL_WORDS.has(w.toLowerCase()));
  const kind = category.length ? category : title.slice(-1);
  const named = category.length ? category : title;
  const initials = named.length > 1 ? named[0][0] + named[1][0] : (named[0] || "?").slice(0, 2);
  return { kind: kind.join(" ") || "?", initials: initials.toUpperCase() };
}

function hue(text) { // FNV-1a: the same category always gets the same colour
  let h = 0x811c9dc5;
  for (const ch of text.toLowerCase()) h = Math.imul(h ^ ch.codePointAt(0), 0x01000193) >>> 0;
  return h % 360;
}

const SVG = "http://www.w3.org/2000/svg";
function svgEl(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** A generated product image: a colour and initials from the item's category (deterministic). */
function placeholder(item) {
  const { kind, initials } = look(item);
  const h = hue(kind);
  const svg = svgEl("svg", { viewBox: "0 0 160 120", role: "img", "aria-label": readable(item.category || kind) });
  svg.append(svgEl("rect", { width: 160, height: 120, fill: `hsl(${h} 55% 90%)` }));
  svg.append(svgEl("circle", { cx: 132, cy: 18, r: 46, fill: `hsl(${(h + 30) % 360} 55% 84%)` }));
  svg.append(svgEl("circle", { cx: 80, cy: 60, r: 30, fill: `hsl(${h} 45% 72%)` }));
  const text = svgEl("text", { x: 80, y: 61, "text-anchor": "middle", "dominant-baseline": "central",
                               "font-size": 24, "font-weight": 600, fill: `hsl(${h} 45% 25%)` });
  text.textContent = initials;
  svg.append(text);
  return svg;
}

/** The "because you ..." line of each result, or "" where it would say nothing (the rule above STRONG_WEIGHT). */
function reasons(results) {
  const tops = results.map((r) => {
    const [first, second] = [...(r.explanations || [])].sort((a, b) => b.weight - a.weight);
    return first && first.title && (!second || first.weight - second.weight >= TIE) ? first : null;
  });
  const count = new Map();
  for (const t of tops) if (t) count.set(t.item_id, (count.get(t.item_id) || 0) + 1);
  return tops.map((t) => {
    if (!t) return "";
    const shared = count.get(t.item_id);
    if (shared === results.length && results.length > 1) return "";
    if (shared > results.length * SHARED_AT_MOST && t.weight < STRONG_WEIGHT) return "";
    return `Because you ${VERBS[t.type] || t.type} ${readable(t.title)}`;
  });
}

// ---------------------------------------------------------------- cards

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function actions(item, answer) {
  const box = document.createElement("div");
  box.className = "actions";
  const add = button("Add to cart", "add", async () => {
    if (await send("add_to_cart", item, answer)) bumpCart(1, `${readable(item.title)} is in your cart`);
  });
  const buy = button("Buy", "buy", async () => {
    if (await send("purchase", item, answer)) notify(`Thank you: ${readable(item.title)} is ordered`);
  });
  box.append(add, buy);
  return box;
}

function open(item, answer, why) {
  send("click", item, answer);
  $("detail-image").replaceChildren(placeholder(item));
  $("detail-title").textContent = readable(item.title);
  $("detail-price").textContent = price(item.price);
  $("detail-why").textContent = why;
  $("detail-actions").replaceWith(Object.assign(actions(item, answer), { id: "detail-actions" }));
  $("detail").showModal();
}

function card(item, answer, position, why) {
  const el = document.createElement("article");
  el.className = "card";
  el.dataset.id = item.id;
  el.dataset.position = String(position);
  const thumb = document.createElement("a");
  thumb.className = "thumb";
  thumb.href = "#";
  thumb.append(placeholder(item));
  const title = document.createElement("h3");
  title.className = "title";
  const link = document.createElement("a");
  link.href = "#";
  link.textContent = readable(item.title) || "Untitled product";
  title.append(link);
  for (const a of [thumb, link]) a.addEventListener("click", (e) => { e.preventDefault(); open(item, answer, why); });
  const cost = document.createElement("p");
  cost.className = "price";
  cost.textContent = price(item.price);
  el.append(thumb, title, cost);
  if (why) {
    const p = document.createElement("p");
    p.className = "why";
    p.textContent = why;
    el.append(p);
  }
  if (state.debug) {
    const d = document.createElement("p");
    d.className = "debug";
    d.textContent = `${item.id} · #${position} · score ${Number(item.score).toFixed(3)}`;
    el.append(d);
  }
  el.append(actions(item, answer));
  return el;
}

function fill(list, answer, offset) {
  const why = reasons(answer.results);
  list.replaceChildren(...answer.results.map((r, n) => card(r, answer, offset + n + 1, why[n])));
}

function flag(body) {
  if (body.personalized) return `personalized by model ${body.model_version || ""}`;
  const why = { unknown_user: "new shopper", no_user: "anonymous", no_history: "no history yet",
                model_unavailable: "ranker unavailable", profile_store_unavailable: "profiles unavailable",
                profile_store_timeout: "profiles slow" };
  return `${body.source === "popularity" ? "popular items" : "search order"} (${why[body.reason] || body.reason})`;
}

// ---------------------------------------------------------------- cart and messages

let cartCount = Number(sessionStorage.getItem("recsearch-cart") || "0");

function bumpCart(n, message) {
  cartCount += n;
  sessionStorage.setItem("recsearch-cart", String(cartCount));
  $("cart-count").textContent = String(cartCount);
  notify(message);
}

function notify(message) {
  $("status").textContent = message;
  $("status").className = "note";
}

// ---------------------------------------------------------------- the views

// Each view is one generation: answers that come back after the shopper moved on are dropped, not shown.
let generation = 0;

async function showSearch(g) {
  const section = $("search-section");
  if (!state.q) { section.hidden = true; return; }
  const offset = (state.page - 1) * PAGE_SIZE;
  try {
    const body = await call("/v1/search", { method: "POST", body: JSON.stringify({
      query: state.q, user_id: state.user || null, k: PAGE_SIZE, offset }) });
    if (g !== generation) return;
    const answer = { ...body, query: state.q };
    fill($("results"), answer, offset);
    $("results-title").textContent = `Results for “${state.q}”`;
    $("results-count").textContent = body.total === 1 ? "1 product" : `${body.total} products`;
    $("search-flag").textContent = flag(body);
    const pages = Math.max(1, Math.ceil(body.total / PAGE_SIZE));
    $("page-info").textContent = `Page ${state.page} of ${pages}`;
    $("prev").disabled = state.page <= 1;
    $("next").disabled = offset + PAGE_SIZE >= body.total;
    section.hidden = false;
  } catch (e) {
    if (g !== generation) return;
    section.hidden = true;
    $("status").textContent = `Search failed: ${e.message}`;
  }
}

async function showRecommendations(g) {
  const section = $("recommend-section");
  if (!state.user) { section.hidden = true; return; }
  try {
    const body = await call(`/v1/recommend/${encodeURIComponent(state.user)}?k=${ROW_SIZE}`);
    if (g !== generation) return;
    fill($("recommendations"), body, 0);
    $("recommend-flag").textContent = flag(body);
    section.hidden = body.results.length === 0;
  } catch (e) {
    if (g !== generation) return;
    section.hidden = true;
    $("status").textContent = `Recommendations failed: ${e.message}`;
  }
}

/** Show ``state``; ``fromUrl``: the view came from the URL (a load, reload, back or forward), so the search box
 * and the picker are set from it too (otherwise they hold what the shopper typed). */
async function show(fromUrl = false) {
  const g = ++generation;
  document.body.dataset.ready = "";
  if (fromUrl) {
    $("query").value = state.q;
    $("user").value = state.user;
  }
  $("status").textContent = "";
  $("status").className = "";
  document.body.classList.toggle("debug", state.debug);
  $("welcome").hidden = Boolean(state.q || state.user);
  document.title = state.q ? `${state.q} · ${shop.name}` : shop.name;
  await Promise.all([showSearch(g), showRecommendations(g)]);
  if (g === generation) document.body.dataset.ready = "1"; // for tests and screenshots: the view is complete
}

function go(change) {
  state = { ...state, ...change };
  writeState();
  show();
}

// ---------------------------------------------------------------- start

async function loadShop() {
  try {
    const body = await (await fetch("/storefront/config")).json();
    Object.assign(shop, { name: body.shop_name, currency: body.currency });
  } catch (e) { /* keep the neutral defaults */ }
  $("shop-name").textContent = shop.name;
}

async function loadUsers() {
  try {
    const body = await call("/v1/storefront/users?k=30");
    $("user-list").replaceChildren(...body.users.map((u) => Object.assign(document.createElement("option"), { value: u })));
  } catch (e) { /* the picker still accepts any id typed in (the list needs a personal key) */ }
}

$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  go({ q: $("query").value.trim(), user: $("user").value.trim(), page: 1 });
});
$("user").addEventListener("change", () => go({ user: $("user").value.trim(), page: 1 }));
$("prev").addEventListener("click", () => { go({ page: state.page - 1 }); window.scrollTo(0, 0); });
$("next").addEventListener("click", () => { go({ page: state.page + 1 }); window.scrollTo(0, 0); });
window.addEventListener("popstate", () => { state = readState(); show(true); });
$("api-key").value = sessionStorage.getItem("recsearch-key") || "";
$("api-key").addEventListener("change", () => sessionStorage.setItem("recsearch-key", $("api-key").value));
$("cart-count").textContent = String(cartCount);

state = readState();
loadUsers();
loadShop().then(() => show(true));
