// The page to try a polyfuse model: a form built from /metadata, answers from /predict.
// Vanilla JS, no network beyond this server. Every value from the server is set as text, never HTML.
"use strict";

const state = { columns: [], media: {}, key: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function headers(extra = {}) {
  const key = document.getElementById("api-key").value.trim();
  return key ? { ...extra, "X-API-Key": key } : extra;
}

async function loadMetadata() {
  const response = await fetch("metadata", { headers: headers() });
  if (response.status === 401) {
    document.getElementById("key-box").hidden = false;
    document.getElementById("subtitle").textContent = "This server needs an API key: enter it, then press Predict.";
    document.getElementById("submit").disabled = false;
    return null;
  }
  if (!response.ok) throw new Error(`metadata: HTTP ${response.status}`);
  return response.json();
}

function showMetadata(meta) {
  const labels = meta.labels ? ` (${meta.labels.join(", ")})` : "";
  const target = meta.label ? `“${meta.label}”` : "its outputs";
  document.getElementById("title").textContent = meta.label ? `${meta.task} on ${target}` : meta.task;
  document.getElementById("subtitle").textContent = `Predicts ${target}${labels} from ${meta.columns.length} columns.`;
  document.getElementById("model-card").textContent = meta.model_card || "";
  document.getElementById("version").textContent = meta.versions.polyfuse;
  state.columns = meta.columns;
  const fields = document.getElementById("fields");
  fields.replaceChildren(...meta.columns.map((column, i) => buildField(column, i)));
  document.getElementById("submit").disabled = false;
}

function buildField(column, i) {
  const id = `field-${i}`;
  const label = el("label", { for: id }, column.name, el("span", { class: "kind", text: column.kind }));
  const box = el("div", { class: "field", "data-column": column.name, "data-kind": column.kind }, label);
  if (column.kind === "text") box.append(el("textarea", { id, name: column.name }));
  else if (column.kind === "numeric") box.append(el("input", { id, type: "number", step: "any" }));
  else if (column.kind === "categorical" && column.choices.length) {
    const select = el("select", { id }, el("option", { value: "", text: "(empty)" }));
    for (const choice of column.choices) select.append(el("option", { value: choice, text: choice }));
    box.append(select);
  } else if (column.kind === "image" || column.kind === "audio") box.append(...mediaField(column, id));
  else box.append(el("input", { id, type: "text" }));
  return box;
}

function mediaField(column, id) {
  const input = el("input", { id, type: "file", accept: `${column.kind}/*` });
  const preview = column.kind === "image" ? el("img", { class: "preview", alt: "", hidden: true })
    : el("audio", { class: "preview", controls: true, hidden: true });
  input.addEventListener("change", () => {
    const file = input.files[0];
    state.media[column.name] = file || null;
    if (file) { preview.src = URL.createObjectURL(file); preview.hidden = false; } else preview.hidden = true;
  });
  const row = el("div", { class: "row" }, input);
  if (column.kind === "audio") row.append(recordButton(column, preview));
  return [row, preview];
}

function recordButton(column, preview) {
  const canRecord = window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  const button = el("button", { type: "button", class: "secondary", text: "Record" });
  if (!canRecord) {
    button.disabled = true;
    button.title = "Recording needs the microphone, which browsers allow on https or localhost only.";
    return button;
  }
  let recorder = null;
  button.addEventListener("click", async () => {
    if (recorder) {
      const blob = await recorder.stop();
      recorder = null;
      button.textContent = "Record"; button.classList.remove("recording");
      state.media[column.name] = blob;
      preview.src = URL.createObjectURL(blob); preview.hidden = false;
      return;
    }
    try { recorder = await startRecording(); } catch (error) { showError(`microphone: ${error.message}`); return; }
    button.textContent = "Stop"; button.classList.add("recording");
  });
  return button;
}

// Records raw samples with the Web Audio API and encodes a 16-bit PCM WAV (which the server reads;
// the browsers' MediaRecorder formats, WebM and MP4, it may not).
async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  node.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
  source.connect(node); node.connect(context.destination);
  return {
    async stop() {
      node.disconnect(); source.disconnect(); stream.getTracks().forEach((t) => t.stop());
      const rate = context.sampleRate; await context.close();
      return encodeWav(chunks, rate);
    },
  };
}

function encodeWav(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) for (const x of chunk) {
    view.setInt16(offset, Math.max(-1, Math.min(1, x)) * 0x7fff, true); offset += 2;
  }
  return new Blob([view], { type: "audio/wav" });
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function readRow() {
  const row = {};
  for (const [i, column] of state.columns.entries()) {
    const input = document.getElementById(`field-${i}`);
    if (column.kind === "image" || column.kind === "audio") {
      const blob = state.media[column.name];
      row[column.name] = blob ? await dataUrl(blob) : null;
    } else if (column.kind === "numeric") {
      row[column.name] = input.value === "" ? null : Number(input.value);
    } else {
      row[column.name] = input.value === "" ? null : input.value;
    }
  }
  return row;
}

function showError(message) {
  document.getElementById("result").replaceChildren(el("p", { class: "error", text: message }));
}

function renderValue(value) {
  if (value && typeof value === "object" && value.media_type && value.base64) {
    if (value.media_type.startsWith("image/")) return el("img", { src: `data:${value.media_type};base64,${value.base64}`, alt: "generated image" });
    return el("a", { href: `data:${value.media_type};base64,${value.base64}`, download: "output", text: "download" });
  }
  if (Array.isArray(value)) {
    const list = el("ol");
    for (const item of value) list.append(el("li", {}, renderValue(item)));
    return list;
  }
  if (value && typeof value === "object") return el("pre", { text: JSON.stringify(value, null, 2) });
  return document.createTextNode(typeof value === "number" ? String(Number(value.toPrecision(6))) : String(value));
}

function renderBars(probabilities) {
  const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
  const bars = el("div", { class: "bars" });
  entries.forEach(([name, p], i) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * (p || 0)).toFixed(1)}%`;
    bars.append(el("div", { class: i === 0 ? "bar top" : "bar", "data-label": name, "data-value": String(p) },
      el("span", { class: "name", text: name, title: name }), el("div", { class: "track" }, fill),
      el("span", { class: "value", text: `${(100 * (p || 0)).toFixed(1)}%` })));
  });
  return bars;
}

function showAnswer(answer, millis) {
  const result = document.getElementById("result");
  if (answer.error) { showError(answer.error); return; }
  const parts = [el("div", { id: "prediction", class: "prediction" }, renderValue(answer.prediction))];
  if (answer.probabilities) parts.push(renderBars(answer.probabilities));
  for (const [name, value] of Object.entries(answer)) {
    if (["prediction", "probabilities", "error"].includes(name)) continue;
    parts.push(el("div", { class: "output", "data-output": name }, el("h3", { text: name }), renderValue(value)));
  }
  parts.push(el("p", { class: "muted", text: `answered in ${millis.toFixed(0)} ms` }));
  result.replaceChildren(...parts);
}

async function submit(event) {
  event.preventDefault();
  const button = document.getElementById("submit");
  button.disabled = true;
  try {
    if (!state.columns.length) {
      const meta = await loadMetadata();
      if (!meta) { showError("the API key was refused"); return; }
      showMetadata(meta);
      return;
    }
    const started = performance.now();
    const response = await fetch("predict", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ rows: [await readRow()] }),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok && data.rows && data.rows[0].error) { showError(data.rows[0].error); return; }
    if (!response.ok) {
      const detail = Array.isArray(data.detail) ? data.detail.map((d) => `${d.loc.slice(-1)}: ${d.msg}`).join("; ") : data.detail;
      showError(`HTTP ${response.status}: ${detail || response.statusText}`);
      return;
    }
    showAnswer(data.rows[0], performance.now() - started);
  } catch (error) {
    showError(error.message);
  } finally {
    button.disabled = false;
  }
}

document.getElementById("form").addEventListener("submit", submit);
document.getElementById("form").addEventListener("reset", () => {
  state.media = {};
  document.querySelectorAll(".preview").forEach((p) => { p.hidden = true; p.removeAttribute("src"); });
});
loadMetadata().then((meta) => meta && showMetadata(meta)).catch((error) => showError(error.message));
