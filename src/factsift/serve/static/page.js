// factsift page: posts the text to /v1/label and highlights each sentence by label.
// Text from the user or the server is only ever inserted as text (textContent, text nodes).
"use strict";

const $ = (id) => document.getElementById(id);
let labels = [];          // the model's labels, in order (from /v1/health)
let result = null;        // the last response, with the text it labels

function letterFor(label) {
  const used = new Set(labels.slice(0, labels.indexOf(label)).map(letterFor));
  for (let size = 1; size <= label.length; size++) {
    const letter = label.slice(0, size).toUpperCase();
    if (!used.has(letter)) return letter;
  }
  return label.toUpperCase();
}

function styleOf(label) {
  return "label-" + (labels.indexOf(label) % 6);
}

function badge(label, tag) {
  const element = document.createElement(tag);
  element.className = "badge " + styleOf(label);
  element.dataset.letter = letterFor(label);
  element.textContent = label;
  return element;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadModel() {
  try {
    const response = await fetch("v1/health");
    const health = await response.json();
    labels = health.labels;
    $("model").textContent = `model ${health.model} (${health.backend}), factsift ${health.version}`;
    $("legend").replaceChildren("Labels: ", ...labels.flatMap((label) => [badge(label, "span"), " "]));
  } catch (error) {
    showError("Cannot reach the factsift server: " + error.message);
  }
}

async function labelText() {
  const text = $("text").value;
  showError("");
  $("label").disabled = true;
  $("status").textContent = "Labelling…";
  try {
    const response = await fetch("v1/label", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({text}),
    });
    const body = await response.json().catch(() => ({detail: `HTTP ${response.status}`}));
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    result = {text, sentences: body.sentences};
    render();
    $("status").textContent = `${body.sentences.length} sentences labelled.`;
  } catch (error) {
    $("status").textContent = "";
    showError(error.message);
  } finally {
    $("label").disabled = false;
  }
}

// Offsets from the server count code points; JavaScript strings count UTF-16 units.
function utf16Offsets(text) {
  const offsets = [];
  let position = 0;
  for (const character of text) {
    offsets.push(position);
    position += character.length;
  }
  offsets.push(position);
  return offsets;
}

function scoresLine(sentence) {
  const others = Object.entries(sentence.scores).map(([label, score]) => `${label} ${score.toFixed(2)}`);
  return `${sentence.label} ${sentence.score.toFixed(2)} (${others.join(", ")})`;
}

function render() {
  const {text, sentences} = result;
  const at = utf16Offsets(text);
  const parts = [];
  let position = 0;
  sentences.forEach((sentence, index) => {
    parts.push(document.createTextNode(text.slice(at[position], at[sentence.start])));
    const mark = document.createElement("mark");
    mark.className = "sentence " + styleOf(sentence.label);
    mark.dataset.label = sentence.label;
    mark.dataset.letter = letterFor(sentence.label);
    mark.dataset.index = index;
    mark.tabIndex = 0;
    mark.title = scoresLine(sentence);
    mark.textContent = text.slice(at[sentence.start], at[sentence.end]);
    parts.push(mark);
    position = sentence.end;
  });
  parts.push(document.createTextNode(text.slice(at[position])));
  $("output").replaceChildren(...parts);
  renderShare();
  renderFilters();
  $("results").hidden = false;
}

function renderShare() {
  const counts = new Map(labels.map((label) => [label, 0]));
  result.sentences.forEach((sentence) => counts.set(sentence.label, (counts.get(sentence.label) || 0) + 1));
  const total = result.sentences.length || 1;
  const segments = [], items = [];
  counts.forEach((count, label) => {
    const share = Math.round((100 * count) / total);
    const segment = document.createElement("span");
    segment.className = styleOf(label);
    segment.style.width = `${(100 * count) / total}%`;
    segments.push(segment);
    const item = document.createElement("li");
    item.dataset.label = label;
    item.append(badge(label, "span"), ` ${count} (${share}%)`);
    items.push(item);
  });
  $("share").replaceChildren(...segments);
  $("counts").replaceChildren(...items);
}

function renderFilters() {
  const choices = [["", "all sentences"], ...labels.map((label) => [label, `only ${label}`])];
  const inputs = choices.map(([value, caption]) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "filter";
    input.value = value;
    input.checked = value === "";
    input.addEventListener("change", () => applyFilter(value));
    label.append(input, " " + caption);
    return label;
  });
  const legend = document.createElement("legend");
  legend.textContent = "Show";
  $("filters").replaceChildren(legend, ...inputs);
  applyFilter("");
}

function applyFilter(label) {
  for (const mark of $("output").querySelectorAll("mark.sentence")) {
    mark.classList.toggle("muted", label !== "" && mark.dataset.label !== label);
  }
}

function showDetails(event) {
  const mark = event.target.closest("mark.sentence");
  if (mark) $("details").textContent = `Sentence ${Number(mark.dataset.index) + 1}: ${mark.title}`;
}

function download() {
  const blob = new Blob([JSON.stringify(result, null, 2)], {type: "application/json"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "factsift-labels.json";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

async function readFile(file) {
  if (!file) return;
  if (!(file.type === "text/plain" || file.name.toLowerCase().endsWith(".txt"))) {
    showError(`${file.name} is not a .txt file`);
    return;
  }
  $("text").value = await file.text();
  showError("");
}

document.addEventListener("DOMContentLoaded", () => {
  loadModel();
  $("label").addEventListener("click", labelText);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) labelText();
  });
  $("file").addEventListener("change", (event) => readFile(event.target.files[0]));
  $("text").addEventListener("dragover", (event) => event.preventDefault());
  $("text").addEventListener("drop", (event) => {
    event.preventDefault();
    readFile(event.dataTransfer.files[0]);
  });
  $("download").addEventListener("click", download);
  $("output").addEventListener("mouseover", showDetails);
  $("output").addEventListener("focusin", showDetails);
});
