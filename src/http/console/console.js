// The eventlog web console: a small single-page app over the JSON API under /api/v1/
// (the same API tools use, so the console can do nothing the API cannot). Pages are
// chosen by the URL hash; every value from the server is put into the page as text,
// never as HTML. No build step and no third-party code.
"use strict";

const API = "/api/v1";
const main = () => document.getElementById("main");
let cleanup = [];          // timers and streams of the current page, stopped on leaving it
const samples = {};        // kept across page changes for the rate and lag plots

// ---- DOM and API helpers --------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, body) { super(`${body.code || status}: ${body.message || ""}`); this.status = status; this.body = body; }
}

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  const response = await fetch(API + path, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) { showLogin(); throw new ApiError(401, data || {}); }
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

const enc = encodeURIComponent;
const fmtBytes = (n) => n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`;
const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
const errorBox = (err) => el("div", { class: "error" }, String(err.message || err));

function sparkline(values, width = 120, height = 24) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", width); svg.setAttribute("height", height);
  if (values.length === 1) values = [values[0], values[0]]; // one sample: a flat line
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`).join(" ");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points); svg.append(line);
  return svg;
}

function remember(key, value, keep = 60) {
  const list = (samples[key] = samples[key] || []);
  list.push(value); if (list.length > keep) list.shift();
  return list;
}

// Bytes of an encoded key or value, and its display in one of the views.
function bytesOf(encoded) {
  if (!encoded) return null;
  if (encoded.encoding === "base64") return Uint8Array.from(atob(encoded.data), (c) => c.charCodeAt(0));
  const text = encoded.encoding === "json" ? JSON.stringify(encoded.data) : encoded.data;
  return new TextEncoder().encode(text);
}
function render(encoded, view) {
  if (!encoded) return el("span", { class: "muted" }, "null");
  if (view === "hex") return el("pre", {}, Array.from(bytesOf(encoded), (b) => b.toString(16).padStart(2, "0")).join(" "));
  if (view === "text") return el("pre", {}, new TextDecoder().decode(bytesOf(encoded)));
  if (encoded.encoding === "json") return el("pre", { class: "json" }, JSON.stringify(encoded.data, null, 2));
  if (encoded.encoding === "text") {
    // JSON whose bytes are not in the server's canonical form (other key order, spaces)
    // comes as text; it is still shown pretty.
    try { const parsed = JSON.parse(encoded.data); if (parsed && typeof parsed === "object") return el("pre", { class: "json" }, JSON.stringify(parsed, null, 2)); } catch (_) { /* plain text */ }
    return el("pre", {}, encoded.data);
  }
  return el("pre", { class: "muted" }, Array.from(bytesOf(encoded), (b) => b.toString(16).padStart(2, "0")).join(" "));
}
const asText = (encoded) => encoded ? new TextDecoder().decode(bytesOf(encoded)) : "";

function confirmBox(question, action) {
  const box = el("div", { class: "confirm", id: "confirm" }, question, " ",
    el("button", { class: "danger", id: "confirm-yes", on: { click: async () => { box.remove(); await action(); } } }, "Yes, delete"), " ",
    el("button", { on: { click: () => box.remove() } }, "Cancel"));
  return box;
}

// ---- Pages ----------------------------------------------------------------------------

async function overview(root) {
  root.append(el("h1", {}, "Topics"));
  const createForm = el("form", { id: "create-topic" },
    el("label", {}, "Name", el("input", { name: "name", required: true })),
    el("label", {}, "Partitions", el("input", { name: "partitions", type: "number", min: 1, value: 1 })),
    el("button", { class: "primary" }, "Create topic"));
  const table = el("table", { id: "topics" }, el("tr", {}, el("th", {}, "Topic"), el("th", { class: "num" }, "Partitions"),
    el("th", { class: "num" }, "Records"), el("th", { class: "num" }, "Bytes"), el("th", {}, "Produce rate (records/s)"), el("th", {}, "Cleanup")));
  const status = el("div");
  root.append(table, status, el("h2", {}, "New topic"), createForm);
  createForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(createForm);
    try { await api("POST", "/topics", { name: data.get("name"), partitions: Number(data.get("partitions")) }); refresh(); }
    catch (err) { status.replaceChildren(errorBox(err)); }
  });
  async function refresh() {
    const topics = await api("GET", "/topics");
    const described = await Promise.all(topics.map((t) => api("GET", `/topics/${enc(t.name)}`).catch(() => t)));
    const now = Date.now();
    const rows = described.map((t) => {
      const stats = t.partition_stats || [];
      const records = stats.reduce((sum, p) => sum + p.high_watermark - p.log_start_offset, 0);
      const written = stats.reduce((sum, p) => sum + p.high_watermark, 0);
      const bytes = stats.reduce((sum, p) => sum + p.size_bytes, 0);
      const samples = remember(`hw:${t.name}`, { at: now, written });
      const rates = samples.slice(1).map((s, i) => Math.max(0, (s.written - samples[i].written) / Math.max(0.001, (s.at - samples[i].at) / 1000)));
      const rate = rates.length ? rates[rates.length - 1].toFixed(1) : "–";
      return el("tr", { "data-topic": t.name },
        el("td", {}, el("a", { href: `#/topic/${enc(t.name)}` }, t.name)),
        el("td", { class: "num" }, t.partitions), el("td", { class: "num records" }, records),
        el("td", { class: "num bytes" }, fmtBytes(bytes)),
        el("td", {}, sparkline(rates.length ? rates : [0]), " ", el("span", { class: "muted" }, rate)),
        el("td", {}, el("span", { class: "pill" }, t.config.cleanup_policy)));
    });
    table.replaceChildren(table.firstChild, ...rows);
    if (!rows.length) table.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No topics yet.")));
  }
  await refresh();
  cleanup.push(clearInterval.bind(null, setInterval(() => refresh().catch(() => {}), 2000)));
  // Nodes, once clustered (the call needs the admin role; others simply do not see them).
  try {
    const cluster = await api("GET", "/cluster");
    if (cluster.nodes.length) {
      root.prepend(el("h1", {}, "Nodes"), el("table", { id: "nodes" },
        el("tr", {}, el("th", {}, "Node"), el("th", {}, "Address"), el("th", {}, "Role")),
        cluster.nodes.map((n) => el("tr", {}, el("td", { class: "num" }, n.id, n.id === cluster.node_id ? " (this node)" : ""),
          el("td", {}, n.address), el("td", {}, n.id === cluster.metadata_leader ? "metadata leader" : "")))));
    }
  } catch (_) { /* a single node, or a token without the admin role */ }
}

async function topicPage(root, name) {
  const topic = await api("GET", `/topics/${enc(name)}`);
  const status = el("div");
  root.append(el("h1", {}, "Topic ", name), el("div", { class: "bar" },
    el("a", { href: `#/browse/${enc(name)}` }, "Browse messages"), " · ",
    el("a", { href: `#/produce/${enc(name)}` }, "Produce a record")));
  const parts = el("table", { id: "partitions" }, el("tr", {}, ["Partition", "Log start", "High watermark", "Records", "Segments", "Bytes"].map((h) => el("th", { class: "num" }, h))));
  for (const p of topic.partition_stats) {
    parts.append(el("tr", {}, el("td", { class: "num" }, el("a", { href: `#/browse/${enc(name)}?p=${p.partition}` }, p.partition)),
      el("td", { class: "num" }, p.log_start_offset), el("td", { class: "num" }, p.high_watermark),
      el("td", { class: "num" }, p.high_watermark - p.log_start_offset), el("td", { class: "num" }, p.segment_count),
      el("td", { class: "num" }, fmtBytes(p.size_bytes), p.unavailable ? el("span", { class: "error" }, " unavailable: ", p.unavailable) : null)));
  }
  const config = el("table", { id: "config" }, Object.entries(topic.config).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v === null ? "default" : String(v)))));
  const c = topic.config;
  const form = el("form", { id: "edit-config" },
    el("label", {}, "retention_ms (empty: forever)", el("input", { name: "retention_ms", type: "number", min: 1, value: c.retention_ms ?? "" })),
    el("label", {}, "retention_bytes (empty: no limit)", el("input", { name: "retention_bytes", type: "number", min: 1, value: c.retention_bytes ?? "" })),
    el("label", {}, "cleanup_policy", el("select", { name: "cleanup_policy" },
      ["delete", "compact"].map((p) => el("option", { value: p, selected: p === c.cleanup_policy }, p)))),
    el("button", { class: "primary" }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const number = (field) => data.get(field) === "" ? null : Number(data.get(field));
    try {
      await api("PATCH", `/topics/${enc(name)}`, { retention_ms: number("retention_ms"), retention_bytes: number("retention_bytes"), cleanup_policy: data.get("cleanup_policy") });
      route();
    } catch (err) { status.replaceChildren(errorBox(err)); }
  });
  const remove = el("button", { class: "danger", id: "delete-topic", on: { click: () => remove.after(confirmBox(`Delete topic ${name} and all its records?`, async () => {
    try { await api("DELETE", `/topics/${enc(name)}`); location.hash = "#/"; } catch (err) { status.replaceChildren(errorBox(err)); }
  })) } }, "Delete topic");
  root.append(el("h2", {}, "Partitions"), parts, el("h2", {}, "Configuration"), config, el("h2", {}, "Edit retention and cleanup"), form, status, el("h2", {}, "Danger"), remove);
}

async function browsePage(root, name, params) {
  const topic = await api("GET", `/topics/${enc(name)}`);
  const partition = Number(params.get("p") || 0);
  const controls = el("form", { id: "browse" },
    el("label", {}, "Partition", el("select", { name: "p" }, topic.partition_stats.map((p) => el("option", { value: p.partition, selected: p.partition === partition }, p.partition)))),
    el("label", {}, "Start", el("select", { name: "start" }, ["earliest", "latest", "offset", "time"].map((s) => el("option", { value: s, selected: s === (params.get("start") || "earliest") }, s)))),
    el("label", {}, "Offset / date-time (UTC)", el("input", { name: "at", value: params.get("at") || "", placeholder: "42 or 2026-01-31T09:30" })),
    el("label", {}, "Page size", el("input", { name: "n", type: "number", min: 1, max: 1000, value: params.get("n") || 50 })),
    el("label", {}, "View", el("select", { name: "view" }, ["pretty", "text", "hex"].map((v) => el("option", { value: v, selected: v === (params.get("view") || "pretty") }, v)))),
    el("label", {}, "Key or value contains", el("input", { name: "q", value: params.get("q") || "" })),
    el("button", { class: "primary" }, "Show"));
  controls.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = new URLSearchParams(new FormData(controls));
    location.hash = `#/browse/${enc(name)}?${q}`;
  });
  const info = el("div", { class: "muted", id: "scan-info" });
  const table = el("table", { id: "records" });
  const pager = el("div", { class: "bar" });
  const tail = el("input", { type: "checkbox", id: "tail" });
  root.append(el("h1", {}, "Messages of ", el("a", { href: `#/topic/${enc(name)}` }, name)), controls,
    el("div", { class: "bar" }, el("label", {}, el("span", {}, tail, " Live tail (new records appear below)"))), info, pager, table);
  const view = params.get("view") || "pretty";
  const size = Math.min(1000, Number(params.get("n") || 50));
  const needle = params.get("q") || "";
  const stats = topic.partition_stats.find((p) => p.partition === partition) || { log_start_offset: 0, high_watermark: 0 };
  const header = el("tr", {}, el("th", { class: "num" }, "Offset"), el("th", {}, "Time (UTC)"), el("th", {}, "Key"), el("th", {}, "Headers"), el("th", {}, "Value"));
  const row = (r, fresh) => el("tr", { "data-offset": r.offset, class: fresh ? "fresh" : null },
    el("td", { class: "num" }, r.offset), el("td", {}, fmtTime(r.timestamp_ms)), el("td", { class: "key" }, render(r.key, view)),
    el("td", {}, r.headers.map((h) => el("div", {}, h.key, ": ", asText(h.value)))), el("td", { class: "value" }, render(r.value, view)));
  const encoding = view === "pretty" ? "auto" : "base64";
  const fetchFrom = (offset, max) => api("GET", `/topics/${enc(name)}/partitions/${partition}/records?offset=${offset}&max_records=${max}&encoding=${encoding}`);

  async function firstOffset() {
    const start = params.get("start") || "earliest";
    const at = params.get("at") || "";
    if (start === "latest") return Math.max(stats.log_start_offset, stats.high_watermark - size);
    if (start === "offset") return Math.max(stats.log_start_offset, Number(at) || 0);
    if (start === "time") {
      const ms = Date.parse(at.endsWith("Z") ? at : at + "Z");
      if (Number.isNaN(ms)) throw new Error(`not a date-time: ${at}`);
      const found = await api("GET", `/topics/${enc(name)}/partitions/${partition}/records?timestamp_ms=${ms}&max_records=1`);
      return found.records.length ? found.records[0].offset : found.high_watermark;
    }
    return stats.log_start_offset;
  }

  async function show(from) {
    let shown = [], offset = from, scanned = 0, last = from;
    // A filter scans forward at most ten pages, and says which offsets it looked at.
    const budget = needle ? size * 10 : size;
    while (scanned < budget && shown.length < size) {
      const page = await fetchFrom(offset, Math.min(size, budget - scanned));
      if (!page.records.length) break;
      scanned += page.records.length;
      last = page.records[page.records.length - 1].offset;
      shown.push(...page.records.filter((r) => !needle || asText(r.key).includes(needle) || asText(r.value).includes(needle)));
      offset = page.next_offset;
      if (!needle) break;
    }
    shown = shown.slice(0, size);
    table.replaceChildren(header, ...shown.map((r) => row(r, false)));
    info.textContent = needle
      ? `Scanned offsets ${from}–${scanned ? last : from} (${scanned} records): ${shown.length} contain "${needle}".`
      : `Offsets ${shown.length ? shown[0].offset : from}–${shown.length ? shown[shown.length - 1].offset : from} of ${stats.log_start_offset}–${stats.high_watermark - 1}.`;
    pager.replaceChildren(
      el("button", { id: "older", disabled: from <= stats.log_start_offset, on: { click: () => show(Math.max(stats.log_start_offset, from - size)) } }, "◀ Older"),
      el("button", { id: "newer", on: { click: () => show(offset) } }, "Newer ▶"));
  }
  await show(await firstOffset());

  let source = null;
  tail.addEventListener("change", () => {
    if (source) { source.close(); source = null; }
    if (!tail.checked) return;
    source = new EventSource(`${API}/topics/${enc(name)}/stream?partitions=${partition}&start=latest&encoding=${encoding}`);
    source.addEventListener("open", () => { tail.dataset.open = "1"; });
    source.addEventListener("records", (event) => {
      const data = JSON.parse(event.data);
      for (const r of data.records) {
        if (needle && !asText(r.key).includes(needle) && !asText(r.value).includes(needle)) continue;
        table.append(row(r, true));
      }
    });
    source.addEventListener("error", (event) => { if (event.data) info.replaceChildren(errorBox(JSON.parse(event.data).message)); });
  });
  cleanup.push(() => source && source.close());
}

async function producePage(root, name) {
  const topic = await api("GET", `/topics/${enc(name)}`);
  const result = el("div", { id: "p-result" });
  const form = el("form", { id: "produce-form" },
    el("label", {}, "Partition", el("select", { id: "p-partition", name: "partition" }, el("option", { value: "" }, "by key"),
      topic.partition_stats.map((p) => el("option", { value: p.partition }, p.partition)))),
    el("label", {}, "Key (text, optional)", el("input", { id: "p-key", name: "key" })),
    el("label", {}, "Value", el("textarea", { id: "p-value", name: "value", rows: 6, cols: 60 })),
    el("label", {}, "Value is", el("select", { id: "p-encoding", name: "encoding" }, el("option", { value: "json" }, "JSON"), el("option", { value: "text" }, "text"))),
    el("label", {}, "Headers (name=value per line)", el("textarea", { id: "p-headers", name: "headers", rows: 3, cols: 30 })),
    el("button", { class: "primary", id: "p-send" }, "Produce"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const encoding = data.get("encoding");
      const record = { value: { encoding, data: encoding === "json" ? JSON.parse(data.get("value")) : data.get("value") } };
      if (data.get("key")) record.key = { encoding: "text", data: data.get("key") };
      record.headers = String(data.get("headers")).split("\n").filter((l) => l.includes("=")).map((l) => {
        const i = l.indexOf("="); return { key: l.slice(0, i).trim(), value: { encoding: "text", data: l.slice(i + 1) } };
      });
      const body = { records: [record] };
      if (data.get("partition") !== "") body.partition = Number(data.get("partition"));
      const [appended] = await api("POST", `/topics/${enc(name)}/records`, body);
      result.replaceChildren(el("div", { class: "ok" }, `Written to partition ${appended.partition} at offset ${appended.base_offset}.`));
    } catch (err) { result.replaceChildren(errorBox(err)); }
  });
  root.append(el("h1", {}, "Produce to ", el("a", { href: `#/topic/${enc(name)}` }, name)), form, result);
}

async function groupsPage(root) {
  const groups = await api("GET", "/groups");
  root.append(el("h1", {}, "Consumer groups"), el("table", { id: "groups" },
    el("tr", {}, el("th", {}, "Group"), el("th", {}, "Topics")),
    groups.length ? groups.map((g) => el("tr", { "data-group": g.group }, el("td", {}, el("a", { href: `#/group/${enc(g.group)}` }, g.group)), el("td", {}, g.topics.join(", "))))
      : el("tr", {}, el("td", { colspan: 2, class: "muted" }, "No group has committed offsets."))));
}

async function groupPage(root, group) {
  const status = el("div");
  const table = el("table", { id: "lag" });
  const plot = el("div", { id: "lag-plot" });
  const members = el("div");
  const generation = el("span", { class: "muted" });
  root.append(el("h1", {}, "Group ", group), el("h2", {}, "Members ", generation), members,
    el("h2", {}, "Committed offsets and lag"), table, el("div", {}, "Total lag over time: ", plot));
  let topics = [];
  async function refresh() {
    const described = await api("GET", `/groups/${enc(group)}`);
    const positions = described.partitions;
    members.replaceChildren(described.members.length
      ? el("table", { id: "members" }, el("tr", {}, ["Member", "Client", "Joined (UTC)", "Assigned", "Revoking"].map((h) => el("th", {}, h))),
        described.members.map((m) => el("tr", {}, el("td", {}, m.instance_id || m.member_id, m.connected ? "" : " (disconnected)"), el("td", {}, m.client),
          el("td", {}, fmtTime(m.joined_at_ms)), el("td", {}, m.assigned.map((a) => `${a.topic}/${a.partition}`).join(", ")),
          el("td", {}, m.revoking.map((a) => `${a.topic}/${a.partition}`).join(", ")))))
      : el("p", { class: "muted" }, "No members: offsets are committed by standalone consumers (or none are running)."));
    generation.textContent = described.members.length ? `generation ${described.generation}, ${described.strategy} assignment` : "";
    topics = [...new Set(positions.map((p) => p.topic))];
    const total = positions.reduce((sum, p) => sum + p.lag, 0);
    plot.replaceChildren(sparkline(remember(`lag:${group}`, total), 240, 32), ` ${total} records`);
    table.replaceChildren(el("tr", {}, ["Topic", "Partition", "Committed", "Log start", "High watermark", "Lag", "Committed at (UTC)"].map((h) => el("th", {}, h))),
      ...positions.map((p) => el("tr", { "data-topic": p.topic, "data-partition": p.partition },
        el("td", {}, p.topic), el("td", { class: "num" }, p.partition), el("td", { class: "num committed" }, p.committed_offset ?? "–"),
        el("td", { class: "num" }, p.log_start_offset), el("td", { class: "num" }, p.high_watermark),
        el("td", { class: "num lag" }, p.lag), el("td", {}, p.commit_time_ms ? fmtTime(p.commit_time_ms) : "–"))));
  }
  await refresh();
  cleanup.push(clearInterval.bind(null, setInterval(() => refresh().catch(() => {}), 2000)));
  const preview = el("div", { id: "reset-preview" });
  const form = el("form", { id: "reset" },
    el("label", {}, "Topic", el("select", { name: "topic" }, topics.map((t) => el("option", { value: t }, t)))),
    el("label", {}, "Partition (empty: all)", el("input", { name: "partition", type: "number", min: 0 })),
    el("label", {}, "To", el("select", { name: "to" }, ["earliest", "latest", "offset", "timestamp"].map((t) => el("option", { value: t }, t)))),
    el("label", {}, "Offset / date-time (UTC)", el("input", { name: "at" })),
    el("button", { name: "dry", value: "1", id: "reset-preview-button" }, "Preview (dry run)"),
    el("button", { class: "danger", name: "apply", value: "1", id: "reset-apply" }, "Reset"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { to: data.get("to"), dry_run: event.submitter && event.submitter.name === "dry" };
    if (data.get("partition") !== "") body.partition = Number(data.get("partition"));
    if (body.to === "offset") body.offset = Number(data.get("at"));
    if (body.to === "timestamp") body.timestamp_ms = Date.parse(String(data.get("at")).endsWith("Z") ? data.get("at") : data.get("at") + "Z");
    try {
      const results = await api("POST", `/groups/${enc(group)}/topics/${enc(data.get("topic"))}/reset`, body);
      preview.replaceChildren(el("div", { class: body.dry_run ? "muted" : "ok" }, body.dry_run ? "Dry run: nothing was stored." : "Reset stored."),
        el("table", {}, el("tr", {}, el("th", {}, "Partition"), el("th", {}, "Before"), el("th", {}, "After")),
          results.map((r) => el("tr", {}, el("td", { class: "num" }, r.partition), el("td", { class: "num" }, r.previous ?? "–"), el("td", { class: "num" }, r.next_offset)))));
      if (!body.dry_run) refresh();
    } catch (err) { preview.replaceChildren(errorBox(err)); }
  });
  const remove = el("button", { class: "danger", id: "delete-group", on: { click: () => remove.after(confirmBox(`Delete group ${group} and all its committed offsets?`, async () => {
    try { await api("DELETE", `/groups/${enc(group)}`); location.hash = "#/groups"; } catch (err) { status.replaceChildren(errorBox(err)); }
  })) } }, "Delete group");
  root.append(el("h2", {}, "Reset offsets"), form, preview, el("h2", {}, "Danger"), remove, status);
}

function showLogin() {
  if (document.getElementById("login")) return;
  cleanup.forEach((stop) => stop()); cleanup = [];
  const status = el("div");
  const form = el("form", { id: "login" },
    el("label", {}, "Token", el("input", { name: "token", type: "password", autocomplete: "current-password", required: true })),
    el("button", { class: "primary" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api("POST", "/session", { token: new FormData(form).get("token") }); route(); }
    catch (err) { status.replaceChildren(errorBox(err)); }
  });
  main().replaceChildren(el("h1", {}, "Log in"), el("p", { class: "muted" }, "This server asks for a token (one line of its token file). It is kept in a cookie this page's scripts cannot read."), form, status);
}

// ---- Routing --------------------------------------------------------------------------

async function route() {
  cleanup.forEach((stop) => stop()); cleanup = [];
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const root = el("div");
  main().replaceChildren(root);
  try {
    const session = await api("GET", "/session");
    document.getElementById("logout").hidden = !session.auth_required;
    if (parts[0] === "logout") { await api("DELETE", "/session"); location.hash = "#/"; return; }
    if (session.auth_required && !session.authenticated) return showLogin();
    switch (parts[0]) {
      case "topic": return await topicPage(root, parts[1]);
      case "browse": return await browsePage(root, parts[1], params);
      case "produce": return await producePage(root, parts[1]);
      case "groups": return await groupsPage(root);
      case "group": return await groupPage(root, parts[1]);
      default: return await overview(root);
    }
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) root.append(errorBox(err));
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
