// The srcnn page: choose an image, start a job (POST /api/jobs), poll its progress, show the result.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], file: null, inputURL: null, resultURL: null, resultSize: null };

function token() { return sessionStorage.getItem("srcnn-token") || ""; }
function authHeaders() { return token() ? { Authorization: "Bearer " + token() } : {}; }

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function errorText(response) {
  try { return (await response.json()).error || response.statusText; } catch (e) { return response.statusText; }
}

function needToken() {
  $("token-box").hidden = false;
  showError("This server needs a token: type it in the Token box.");
}

async function loadModels() {
  const response = await fetch("/api/models", { headers: authHeaders() });
  if (response.status === 401) { needToken(); return; }
  if (!response.ok) { showError(await errorText(response)); return; }
  const info = await response.json();
  state.models = info.models;
  $("scale").replaceChildren(...info.scales.map((s) => new Option("x" + s, s)));
  $("scale").value = info.scales.includes(3) ? "3" : String(info.scales[0]);
  $("method").replaceChildren(...info.methods.map((m) => new Option(m, m)));
  fillModels();
  showError("");
}

function fillModels() {
  const scale = Number($("scale").value);
  const options = state.models.filter((m) => m.scale === scale).map((m) => {
    const set5 = m.metrics && m.metrics.Set5 ? `, Set5 ${m.metrics.Set5.psnr.toFixed(2)} dB` : "";
    const option = new Option(`${m.name}${m.default ? " (default)" : ""}${set5}`, m.name);
    option.selected = m.default;
    return option;
  });
  $("model").replaceChildren(...options);
  const srcnn = $("method").value === "srcnn";
  $("model").disabled = !srcnn || options.length === 0;
  describeModel();
}

function describeModel() {
  const model = state.models.find((m) => m.name === $("model").value);
  if ($("method").value !== "srcnn") {
    $("model-card").textContent = $("method").value === "bicubic"
      ? "MATLAB-exact bicubic: the baseline SRCNN improves on." : "Sparse coding (Yang et al. 2010): slow on large images.";
    return;
  }
  if (!model) { $("model-card").textContent = "No shipped model for this scale."; return; }
  const scores = Object.entries(model.metrics || {}).map(([set, m]) => `${set} ${m.psnr.toFixed(2)} dB / ${m.ssim.toFixed(4)}`);
  $("model-card").textContent = `${model.arch} ${model.widths ? "(" + model.widths.join("/") + ")" : ""}, ` +
    `${model.params.toLocaleString()} parameters; PSNR / SSIM on Y: ${scores.join(", ")}.`;
}

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  if (state.inputURL) URL.revokeObjectURL(state.inputURL);
  state.inputURL = URL.createObjectURL(file);
  const probe = new Image();
  probe.onload = () => { $("drop-text").textContent = `${file.name}: ${probe.naturalWidth} x ${probe.naturalHeight}`; };
  probe.onerror = () => { $("drop-text").textContent = `${file.name} (the browser cannot preview it)`; };
  probe.src = state.inputURL;
  $("drop-text").textContent = file.name;
  $("go").disabled = false;
}

function setProgress(value, text) {
  $("progress-box").hidden = false;
  if (value === null) $("progress").removeAttribute("value"); else $("progress").value = value;
  $("status").textContent = text;
}

// XMLHttpRequest rather than fetch: it reports upload progress.
function upload(form) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) setProgress(e.loaded / e.total * 0.2, `uploading ${Math.round(e.loaded / e.total * 100)}%`); };
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.response || {}, retry: xhr.getResponseHeader("Retry-After") });
    xhr.onerror = () => reject(new Error("the server could not be reached"));
    xhr.send(form);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function run(event) {
  event.preventDefault();
  if (!state.file) return;
  showError("");
  $("go").disabled = true;
  $("result").hidden = true;
  const started = performance.now();
  try {
    const form = new FormData();
    form.append("file", state.file, state.file.name);
    form.append("scale", $("scale").value);
    form.append("method", $("method").value);
    if ($("method").value === "srcnn" && $("model").value) form.append("model", $("model").value);
    setProgress(0, "uploading");
    const sent = await upload(form);
    if (sent.status === 401) { needToken(); return; }
    if (sent.status !== 202) {
      const wait = sent.retry ? ` (retry in ${sent.retry} s)` : "";
      throw new Error((sent.body.error || `the server answered ${sent.status}`) + wait);
    }
    let job = sent.body;
    while (job.status === "queued" || job.status === "running") {
      const share = job.status === "queued" ? 0.2 : 0.2 + 0.8 * job.progress;
      setProgress(share, job.status === "queued" ? "waiting for a free worker" : `upscaling (about ${Math.round(job.progress * 100)}%)`);
      await sleep(250);
      const response = await fetch(job.status_url, { headers: authHeaders() });
      if (!response.ok) throw new Error(await errorText(response));
      job = await response.json();
    }
    if (job.status !== "done") throw new Error(job.error || "the job failed");
    const response = await fetch(job.result_url, { headers: authHeaders() });
    if (!response.ok) throw new Error(await errorText(response));
    const blob = await response.blob();
    await showResult(blob, job.download_name);
    setProgress(1, `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    $("progress-box").hidden = true;
    showError(err.message);
  } finally {
    $("go").disabled = !state.file;
  }
}

function loaded(img, url) {
  return new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error("the result could not be shown")); img.src = url; });
}

async function showResult(blob, name) {
  if (state.resultURL) URL.revokeObjectURL(state.resultURL);
  state.resultURL = URL.createObjectURL(blob);
  await Promise.all([loaded($("after"), state.resultURL), loaded($("side-after"), state.resultURL),
                     loaded($("before"), state.inputURL), loaded($("side-before"), state.inputURL)]);
  state.resultSize = [$("after").naturalWidth, $("after").naturalHeight];
  const link = $("download");
  link.href = state.resultURL;
  link.download = name;
  link.textContent = `Download ${name}`;
  $("result-info").textContent = `${$("before").naturalWidth} x ${$("before").naturalHeight} \u2192 ` +
    `${state.resultSize[0]} x ${state.resultSize[1]}, ${(blob.size / 1024).toFixed(0)} KiB`;
  $("result").hidden = false;
  applyZoom();
  moveSlider();
}

// "fit": the whole result inside the box; "N": N device pixels per result pixel (scroll to pan).
function applyZoom() {
  const zoom = $("zoom").value;
  const viewports = [$("compare"), ...document.querySelectorAll(".pane")];
  for (const v of viewports) v.classList.toggle("fit", zoom === "fit");
  if (!state.resultSize) return;
  const [w, h] = state.resultSize;
  const width = (share) => zoom === "fit" ? `min(100%, calc(${share}vh * ${w / h}))` : `${w * Number(zoom) / devicePixelRatio}px`;
  $("stage").style.width = width(66);
  for (const id of ["side-before", "side-after"]) $(id).style.width = width(48);
}

function moveSlider() {
  const at = Number($("slider").value);
  $("before").style.clipPath = `inset(0 ${100 - at}% 0 0)`;
  $("divider").style.left = `${at}%`;
}

// The two side-by-side panes scroll together, so zoomed views show the same spot.
function linkPanes() {
  const panes = [...document.querySelectorAll(".pane")];
  let busy = false;
  for (const pane of panes) {
    pane.addEventListener("scroll", () => {
      if (busy) return;
      busy = true;
      for (const other of panes) if (other !== pane) { other.scrollLeft = pane.scrollLeft; other.scrollTop = pane.scrollTop; }
      requestAnimationFrame(() => { busy = false; });
    });
  }
}

function init() {
  const drop = $("drop");
  $("file").addEventListener("change", () => chooseFile($("file").files[0]));
  for (const type of ["dragenter", "dragover"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); chooseFile(e.dataTransfer.files[0]); });
  $("scale").addEventListener("change", fillModels);
  $("method").addEventListener("change", fillModels);
  $("model").addEventListener("change", describeModel);
  $("zoom").addEventListener("change", applyZoom);
  $("slider").addEventListener("input", moveSlider);
  $("token").addEventListener("change", () => { sessionStorage.setItem("srcnn-token", $("token").value); loadModels(); });
  $("form").addEventListener("submit", run);
  linkPanes();
  loadModels().catch((err) => showError(err.message));
}

document.addEventListener("DOMContentLoaded", init);
