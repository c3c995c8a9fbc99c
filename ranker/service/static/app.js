// The storefront: calls the service's own API and shows results with the ranker's explanations.
"use strict";

const $ = (id) => document.getElementById(id);
const VERBS = { purchase: "bought", add_to_cart: "added to your cart", click: "looked at", view: "viewed" };

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

function flag(body) {
  if (body.personalized) return `personalized by model ${body.model_version || ""}`;
  const why = { unknown_user: "new shopper", no_user: "anonymous", no_history: "no history yet",
                model_unavailable: "ranker unavailable", profile_store_unavailable: "profiles unavailable" };
  return `${body.source === "popularity" ? "popular items" : "search order"} (${why[body.reason] || body.reason})`;
}

function explain(explanations) {
  if (!explanations || !explanations.length) return "";
  const parts = explanations.map((e) => `${VERBS[e.type] || e.type} ${e.title || e.item_id}`);
  return "Because you " + parts.join(", ");
}

function render(list, results) {
  list.replaceChildren();
  for (const r of results) {
    const li = document.createElement("li");
    li.className = "item";
    li.dataset.id = r.id;
    const title = document.createElement("div");
    title.className = "title";
    title.textContent = r.title || r.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = `${r.id}` + (r.price != null ? ` · £${Number(r.price).toFixed(2)}` : "") +
      ` · score ${Number(r.score).toFixed(3)}`;
    li.append(title, meta);
    const why = explain(r.explanations);
    if (why) {
      const p = document.createElement("div");
      p.className = "why";
      p.textContent = why;
      li.append(p);
    }
    list.append(li);
  }
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value.trim();
  const user = $("user").value.trim();
  $("status").textContent = "";
  try {
    const body = await call("/v1/search", {
      method: "POST", body: JSON.stringify({ query, user_id: user || null, k: 10 }),
    });
    render($("results"), body.results);
    $("search-flag").textContent = flag(body);
    $("search-section").hidden = false;
  } catch (e) {
    $("status").textContent = `Search failed: ${e.message}`;
  }
  await recommend(user);
}

async function recommend(user) {
  if (!user) { $("recommend-section").hidden = true; return; }
  try {
    const body = await call(`/v1/recommend/${encodeURIComponent(user)}?k=5`);
    render($("recommendations"), body.results);
    $("recommend-flag").textContent = flag(body);
    $("recommend-section").hidden = false;
  } catch (e) {
    $("status").textContent = `Recommendations failed: ${e.message}`;
  }
}

async function loadUsers() {
  try {
    const body = await call("/v1/storefront/users?k=30");
    for (const u of body.users) {
      const option = document.createElement("option");
      option.value = u;
      $("user-list").append(option);
    }
  } catch (e) { /* the picker still accepts any id typed in */ }
}

$("search-form").addEventListener("submit", search);
$("user").addEventListener("change", () => recommend($("user").value.trim()));
$("api-key").value = sessionStorage.getItem("recsearch-key") || "";
$("api-key").addEventListener("change", () => sessionStorage.setItem("recsearch-key", $("api-key").value));
loadUsers();
