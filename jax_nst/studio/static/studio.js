// jax-nst studio: builds the form from /api/config, runs jobs and follows each one's server-sent events.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = { total: "#1d2126", content: "#2f6fdb", style: "#c2410c", tv: "#15803d", temporal: "#7c3aed" };
const state = { config: null, content: "sample-content", styles: ["sample-style"], job: null, events: null, shown: -1 };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// ---- pictures ----------------------------------------------------------------------------------------

function thumb(picture, chosen, onclick) {
  const img = document.createElement("img");
  img.src = `/api/pictures/${picture.id}`;
  img.alt = img.title = `${picture.name} (${picture.width}×${picture.height})`;
  img.dataset.id = picture.id;
  img.className = chosen ? "chosen" : "";
  img.onclick = onclick;
  return img;
}

function drawPictures() {
  const contents = $("content-list"), styles = $("style-list");
  contents.replaceChildren(...state.config.pictures.map((p) => thumb(p, p.id === state.content, () => {
    state.content = p.id; drawPictures(); formChanged();
  })));
  styles.replaceChildren(...state.config.pictures.map((p) => thumb(p, state.styles.includes(p.id), () => {
    state.styles = state.styles.includes(p.id) ? state.styles.filter((i) => i !== p.id) : [...state.styles, p.id];
    drawPictures(); formChanged();
  })));
}

async function upload(files) {
  $("upload-message").textContent = "";
  for (const file of files) {
    try {
      const picture = await api(`/api/pictures?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
      state.config.pictures.push(picture);
    } catch (e) {
      $("upload-message").textContent = e.message;
    }
  }
  drawPictures();
}

// ---- the form ----------------------------------------------------------------------------------------

function field(option) {
  const label = document.createElement("label");
  label.className = "row";
  label.title = `${option.help} (${option.flag})`;
  label.append(option.name.replace(/_/g, " "));
  let input;
  if (option.kind === "choice") {
    input = document.createElement("select");
    for (const c of option.choices) input.add(new Option(c || "off", c));
    input.value = option.default ?? "";
  } else if (option.traced && option.name.endsWith("_weight")) {  // a weight: a log slider, traced (no compile)
    input = document.createElement("input");
    Object.assign(input, { type: "range", min: -3, max: 8, step: 0.1 });
    const out = document.createElement("output");
    const show = () => { out.textContent = input.value <= -3 ? "0" : Number(10 ** input.value).toPrecision(2); };
    input.value = option.default > 0 ? Math.log10(option.default) : -3;
    input.addEventListener("input", show);
    show();
    label.append(input, out);
    input.id = `opt-${option.name}`;
    input.dataset.log = "1";
    return label;
  } else {
    input = document.createElement("input");
    if (option.kind === "int" || option.kind === "float") input.type = "number";
    if (option.kind === "float") input.step = "any";
    input.value = option.default === null ? "" : Array.isArray(option.default) ? option.default.join(",") : option.default;
    if (option.default === null) input.placeholder = "default";
  }
  input.id = `opt-${option.name}`;
  label.append(input);
  return label;
}

function options() {
  const out = {};
  for (const option of state.config.options) {
    const input = $(`opt-${option.name}`), text = input.value;
    if (input.dataset.log) out[option.name] = text <= -3 ? 0 : Number(Number(10 ** text).toPrecision(3));
    else if (text === "") continue;
    else if (option.kind === "int") out[option.name] = parseInt(text, 10);
    else if (option.kind === "float") out[option.name] = Number(text);
    else if (option.kind === "list" && /^\s*[a-z]+\s*$/i.test(text)) out[option.name] = text.trim();  // auto, none
    else if (option.kind === "list") out[option.name] = text.split(",").filter((v) => v.trim()).map(Number);
    else out[option.name] = text;
  }
  return out;
}

function request() {
  const body = { content: state.content, styles: state.styles, preset: $("preset").value, options: options() };
  if ($("grid-on").checked) {
    body.grid = { [$("grid-name").value]: $("grid-values").value.split(",").filter((v) => v.trim()).map(Number) };
    body.options.size = parseInt($("grid-size").value, 10);
    delete body.options[$("grid-name").value];
  }
  return body;
}

let pending = null;
function formChanged() {  // say whether pressing Start now compiles (after a short pause in the typing)
  clearTimeout(pending);
  pending = setTimeout(async () => {
    try {
      const { compiles } = await api("/api/compiles", { method: "POST", body: JSON.stringify(request()) });
      $("compile-note").textContent = compiles
        ? "Start compiles new programs (a new size, loss, step count or pictures); changing only the weights later does not."
        : "Start compiles nothing: only traced weights changed since a run of the same shape.";
      $("compile-note").className = compiles ? "note compiles" : "note";
    } catch (e) { $("compile-note").textContent = ""; }
  }, 250);
}

// ---- jobs --------------------------------------------------------------------------------------------

async function submit(body) {
  $("job-message").textContent = "";
  try {
    const job = await api("/api/jobs", { method: "POST", body: JSON.stringify(body) });
    location.hash = `job=${job.id}`;
    follow(job.id);
  } catch (e) {
    $("job-message").textContent = e.message;
  }
}

function follow(id) {
  if (state.events) state.events.close();
  state.job = null; state.shown = -1;
  $("preview").hidden = true; $("sheet").hidden = true; $("download").hidden = true;
  api(`/api/jobs/${id}/command`).then(({ command }) => { $("command").textContent = command; }).catch(() => {});
  const events = new EventSource(`/api/jobs/${id}/events`);
  events.onmessage = (m) => draw(JSON.parse(m.data));
  events.onerror = () => {  // finished (the stream ends) or the server went away: read the state once more
    events.close();
    api(`/api/jobs/${id}`).then(draw).catch((e) => { $("status").textContent = e.message; location.hash = ""; });
  };
  state.events = events;
}

const finished = (job) => ["done", "stopped", "failed"].includes(job.state);

function draw(job) {
  if (finished(job) && !(state.job && state.job.id === job.id && finished(state.job))) formChanged();
  state.job = job;
  const last = job.losses.length ? job.losses[job.losses.length - 1] : null;
  const parts = [`${job.state}`, `step ${job.step} / ${job.steps}`, `${job.size} px`];
  if (last) parts.push(`L_total ${Number(last.total[0]).toExponential(3)}`);
  if (job.seconds !== null) parts.push(`${job.seconds.toFixed(1)} s`);
  if (job.first_preview_s !== null) parts.push(`first picture after ${job.first_preview_s.toFixed(1)} s`);
  parts.push(`programs made: ${job.compiled === null ? "…" : job.compiled}`);
  $("status").textContent = parts.join(" · ");
  $("status").dataset.compiled = job.compiled === null ? "" : String(job.compiled);
  $("status").dataset.state = job.state;
  $("job-message").textContent = job.state === "failed" ? job.message : "";
  if (job.has_picture && job.version !== state.shown) showPictures(job);
  state.shown = job.version;
  drawCurves(job.losses);
  $("stop").disabled = finished(job);
  $("continue").disabled = !(finished(job) && job.has_picture) || job.grid !== null;
  $("download").hidden = !(finished(job) && job.has_picture);
  $("download").href = `/api/jobs/${job.id}/download`;
}

function showPictures(job) {
  const stamp = `v=${job.version}`;
  if (!job.grid) {
    $("preview").src = `/api/jobs/${job.id}/picture?cell=0&${stamp}`;
    $("preview").hidden = false;
    return;
  }
  const sheet = $("sheet"), columns = Object.values(job.grid)[0].length;
  sheet.style.gridTemplateColumns = `repeat(${columns}, 1fr)`;
  sheet.replaceChildren(...job.cells.map((values, k) => {
    const figure = document.createElement("figure"), img = document.createElement("img");
    img.src = `/api/jobs/${job.id}/picture?cell=${k}&${stamp}`;
    figure.title = "continue this cell at full size";
    figure.onclick = () => continueFrom(k, values);
    const caption = document.createElement("figcaption");
    caption.textContent = Object.entries(values).map(([n, v]) => `${n}=${Number(v).toPrecision(2)}`).join(" ");
    figure.append(img, caption);
    return figure;
  }));
  sheet.hidden = false;
}

function continueFrom(cell, values) {
  const body = { ...request(), continue: { job: state.job.id, cell } };
  delete body.grid;
  body.options = { ...options(), ...values };
  submit(body);
}

function drawCurves(losses) {
  const svg = $("curves"), legend = $("legend"), W = 600, H = 220;
  if (!losses.length) { svg.replaceChildren(); legend.replaceChildren(); return; }
  const keys = Object.keys(losses[0]).filter((k) => k === "total" || (k !== "step" && state.job.weights[k] > 0
                                                                      && losses.some((l) => l[k][0] > 0)));
  const xs = losses.map((l) => l.step), x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const lines = [], names = [];
  for (const k of keys) {
    const ys = losses.map((l) => Math.log10(Math.max(l[k][0], 1e-30)));
    const y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
    const points = losses.map((l, i) => `${((l.step - x0) / (x1 - x0)) * (W - 10) + 5},${H - 8 - ((ys[i] - y0) / (y1 - y0)) * (H - 16)}`);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.join(" "));
    Object.assign(line.style, { fill: "none", stroke: COLORS[k] || "#888", strokeWidth: "2" });
    lines.push(line);
    const name = document.createElement("span");
    name.style.color = COLORS[k] || "#888";
    name.textContent = `${k} ${Number(losses[losses.length - 1][k][0]).toExponential(2)}`;
    names.push(name);
  }
  svg.replaceChildren(...lines);
  legend.replaceChildren(...names, Object.assign(document.createElement("span"), { textContent: "(each on its own log scale)" }));
}

// ---- start -------------------------------------------------------------------------------------------

async function main() {
  state.config = await api("/api/config");
  for (const p of state.config.presets) $("preset").add(new Option(p, p));
  $("fields").replaceChildren(...state.config.options.map(field));
  for (const t of state.config.traced) $("grid-name").add(new Option(t.replace(/_/g, " "), t));
  $("grid-name").value = "style_weight";
  drawPictures();
  $("setup").addEventListener("input", formChanged);
  $("setup").addEventListener("change", formChanged);
  $("grid-on").onchange = () => { $("grid-box").hidden = !$("grid-on").checked; };
  $("file").onchange = (e) => upload(e.target.files);
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); upload(e.dataTransfer.files); };
  $("start").onclick = () => submit(request());
  $("stop").onclick = () => state.job && api(`/api/jobs/${state.job.id}/stop`, { method: "POST" }).catch(() => {});
  $("continue").onclick = () => state.job && submit({ ...request(), continue: { job: state.job.id, cell: 0 } });
  const id = new URLSearchParams(location.hash.slice(1)).get("job");
  if (id) follow(id);  // a reload reattaches to its job
  formChanged();
}

main().catch((e) => { $("status").textContent = `the studio could not start: ${e.message}`; });
