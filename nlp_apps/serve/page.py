"""GET /: a page to try each loaded model. It lists the models from /v1/models and builds one form per
model; the results are shown as a person wants them (label bars, n-best lists, the answer marked in
its passage, the continuation after its prompt). Texts reach the page only through textContent.

Stable hooks for browser tests: section#model-NAME[data-task][data-state=idle|busy|done|error],
its textarea[name=text|context|prompt], input[name=question|n_best|beam_size|max_tokens|temperature|seed],
button.submit (button.perplexity for a language model), .result and .error.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nlp-apps</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 56rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; }
  header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
  section.model { border: 1px solid #ccc; border-radius: 8px; padding: 0.8rem 1rem; margin: 1rem 0; }
  h2 { margin: 0 0 0.2rem; font-size: 1.15rem; } .task { color: #666; font-weight: normal; font-size: 0.9rem; }
  .meta { color: #666; font-size: 0.85rem; margin: 0 0 0.5rem; }
  textarea, input[type=text] { width: 100%; box-sizing: border-box; font: inherit; }
  .options { display: flex; gap: 1rem; margin: 0.4rem 0; font-size: 0.9rem; } .options input { width: 5rem; }
  .error { color: #b00020; } .prediction { margin: 0.6rem 0; padding-top: 0.4rem; border-top: 1px dashed #ddd; }
  .label { font-weight: bold; } .bar-row { display: grid; grid-template-columns: 8rem 1fr 4rem; gap: 0.5rem; align-items: center; }
  .bar { background: #eee; height: 0.8rem; border-radius: 4px; overflow: hidden; } .fill { display: block; height: 100%; background: #4a7bd0; }
  .score, .prob { color: #666; font-variant-numeric: tabular-nums; } mark { background: #ffe58a; }
</style>
</head>
<body>
<header><h1>nlp-apps</h1>
  <label>API key <input id="api-key" type="password" autocomplete="off" placeholder="if the server needs one"></label>
</header>
<p id="status">Loading the models...</p>
<div id="models"></div>
<script>
"use strict";
const keyInput = document.getElementById("api-key");
keyInput.value = sessionStorage.getItem("nlp-apps-key") || "";
keyInput.addEventListener("change", () => { sessionStorage.setItem("nlp-apps-key", keyInput.value); loadModels(); });

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) node.append(child);  // strings become text nodes: never parsed as HTML
  return node;
}
async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  const response = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}
const lines = (text) => text.split("\\n").map((line) => line.trim()).filter(Boolean);
const number = (form, name) => { const v = form.elements[name] && form.elements[name].value; return v === "" || v === undefined ? undefined : Number(v); };

const FORMS = {
  sentiment: () => [el("textarea", { name: "text", rows: 3, placeholder: "One text per line" })],
  translation: () => [el("textarea", { name: "text", rows: 3, placeholder: "One sentence per line" }), seq2seqOptions()],
  summarization: () => [el("textarea", { name: "text", rows: 6, placeholder: "One document per line" }), seq2seqOptions()],
  qa: () => [el("textarea", { name: "context", rows: 6, placeholder: "The passage" }),
             el("input", { name: "question", type: "text", placeholder: "The question" })],
  language_model: () => [el("textarea", { name: "prompt", rows: 3, placeholder: "A prompt to continue, or texts to score (one per line)" }),
                         el("div", { class: "options" }, option("max_tokens", "tokens", 40), option("temperature", "temperature", 0.8),
                            option("seed", "seed", ""))],
  other: () => [el("textarea", { name: "text", rows: 3, placeholder: "One input per line" })],
};
function option(name, label, value) { return el("label", {}, label + " ", el("input", { name, type: "number", value: String(value), step: "any" })); }
function seq2seqOptions() { return el("div", { class: "options" }, option("n_best", "n-best", 1), option("beam_size", "beam", "")); }

function request(task, form, action) {
  if (task === "qa") return { inputs: [{ context: form.elements.context.value, question: form.elements.question.value }] };
  if (action === "generate") {
    return { prompt: form.elements.prompt.value, max_tokens: number(form, "max_tokens"), temperature: number(form, "temperature"), seed: number(form, "seed") };
  }
  if (action === "perplexity") return { texts: lines(form.elements.prompt.value) };
  if (task === "translation" || task === "summarization") {
    const n = number(form, "n_best") || 1, beam = number(form, "beam_size");
    return { texts: lines(form.elements.text.value), n_best: n, beam_size: beam === undefined && n > 1 ? Math.max(n, 5) : beam };
  }
  return task in FORMS ? { texts: lines(form.elements.text.value) } : { inputs: lines(form.elements.text.value) };
}

function show(task, action, body, data) {
  if (task === "sentiment") return data.predictions.map((p) => el("div", { class: "prediction" }, el("span", { class: "label" }, p.label),
    ...Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]).map(([label, prob]) => el("div", { class: "bar-row" },
      el("span", { class: "bar-label" }, label), barOf(prob), el("span", { class: "prob" }, prob.toFixed(3))))));
  if (task === "translation" || task === "summarization") return data.outputs.map((out, i) => el("div", { class: "prediction" },
    el("p", { class: "output" }, out),
    ...(data.n_best ? [el("ol", { class: "n-best" }, ...data.n_best[i].map((h) => el("li", {}, el("span", { class: "text" }, h.text), " ",
      el("span", { class: "score" }, h.score.toFixed(3)))))] : [])));
  if (task === "qa") return data.answers.map((a) => {
    const context = body.inputs[0].context;
    if (a.start === null) return el("div", { class: "prediction" }, el("p", { class: "answer no-answer" }, "(no answer in the passage)"));
    return el("div", { class: "prediction" }, el("p", {}, el("span", { class: "answer" }, a.answer), " ", el("span", { class: "score" }, a.score.toFixed(3))),
      el("p", { class: "passage" }, context.slice(0, a.start), el("mark", {}, context.slice(a.start, a.end)), context.slice(a.end)));
  });
  if (action === "generate") {
    return [el("p", { class: "prediction output" }, el("span", { class: "prompt" }, body.prompt), el("mark", { class: "continuation" }, data.text))];
  }
  if (action === "perplexity") return data.scores.map((s, i) => el("p", { class: "prediction perplexity" }, body.texts[i] + ": ",
    el("span", { class: "token-perplexity" }, s.token_perplexity.toFixed(1)), " per token, ",
    el("span", { class: "word-perplexity" }, s.word_perplexity.toFixed(1)), " per word"));
  return [el("pre", { class: "prediction" }, JSON.stringify(data.predictions, null, 2))];
}
function barOf(prob) {
  const fill = el("span", { class: "fill" });
  fill.style.width = (100 * prob).toFixed(1) + "%";
  return el("span", { class: "bar" }, fill);
}

function card(model) {
  const task = model.task in FORMS ? model.task : "other";
  const section = el("section", { class: "model", id: "model-" + model.name, "data-task": model.task, "data-state": "idle" });
  const meta = [model.trained_on.length ? "trained on " + model.trained_on.join(", ") : "",
                model.metric ? "validation " + model.metric.name + " " + Number(model.metric.value).toPrecision(4) : ""].filter(Boolean).join(" · ");
  const buttons = task === "language_model"
    ? [el("button", { type: "submit", class: "submit", "data-action": "generate" }, "Generate"), " ",
       el("button", { type: "submit", class: "perplexity", "data-action": "perplexity" }, "Perplexity")]
    : [el("button", { type: "submit", class: "submit", "data-action": "predict" }, "Submit")];
  const form = el("form", {}, ...FORMS[task](), el("p", {}, ...buttons));
  const result = el("div", { class: "result", "aria-live": "polite" }), error = el("p", { class: "error" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = (event.submitter && event.submitter.dataset.action) || model.endpoints[0];
    const body = request(model.task, form, action);
    section.dataset.state = "busy"; error.textContent = ""; result.replaceChildren();
    try {
      result.replaceChildren(...show(model.task, action, body, await call("v1/models/" + model.name + "/" + action, body)));
      section.dataset.state = "done";
    } catch (exc) { error.textContent = exc.message; section.dataset.state = "error"; }
  });
  section.append(el("h2", {}, model.name + " ", el("span", { class: "task" }, model.task)), el("p", { class: "meta" }, meta), form, error, result);
  return section;
}

async function loadModels() {
  const status = document.getElementById("status");
  try {
    const data = await call("v1/models");
    document.getElementById("models").replaceChildren(...data.models.map(card));
    status.textContent = data.models.length + " model(s). Results come from this server; nothing is stored.";
  } catch (exc) { status.textContent = exc.message; }
}
loadModels();
</script>
</body>
</html>
"""


def install_page(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
                                           "X-Content-Type-Options": "nosniff"})
