"""Each task's endpoints: the request body, how a request becomes batch items plus options (requests
with equal options may share a batch), how a batch runs on the pipeline, and the response body.
`generate` keeps each request's options with its prompt instead, so any generate requests may share a batch.

sentiment: predict; translation and summarization: predict (beam search options); qa: predict;
a language model: perplexity and generate; any other installed task: predict on raw `inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from nlp_apps.serve import schemas
from nlp_apps.serve.models import LANGUAGE_MODEL


@dataclass(frozen=True)
class Endpoint:
    action: str  # the last part of its path: /v1/models/{name}/{action}
    request: type[BaseModel]
    response: type[BaseModel]
    split: Callable[[Any], tuple[dict, list]]  # request -> (options, items)
    run: Callable[[Any, dict, list], list]  # (pipeline, options, items) -> one result per item, on the model's thread
    respond: Callable[[list], BaseModel]  # all the request's results -> its response
    summary: str


def endpoints_for(task: str, requests: SimpleNamespace) -> dict[str, Endpoint]:
    if task == LANGUAGE_MODEL:
        found = [perplexity(requests), generate(requests)]
    elif task == "sentiment":
        found = [classify(requests)]
    elif task in ("translation", "summarization"):
        found = [text_to_text(requests, task)]
    elif task == "qa":
        found = [answer(requests)]
    else:
        found = [generic(requests, task)]
    return {endpoint.action: endpoint for endpoint in found}


def classify(requests) -> Endpoint:
    return Endpoint("predict", requests.texts, schemas.ClassifyResponse,
                    split=lambda body: ({}, body.texts),
                    run=lambda pipeline, options, texts: pipeline.predict(texts),
                    respond=lambda results: schemas.ClassifyResponse(predictions=results),
                    summary="The label of each text, with every label's probability.")


def text_to_text(requests, task: str) -> Endpoint:
    def split(body):
        options = {k: getattr(body, k) for k in ("beam_size", "n_best", "max_length") if getattr(body, k) is not None}
        return options, body.texts

    def respond(results: list) -> schemas.TextResponse:
        if results and not isinstance(results[0], str):  # n-best lists of (text, score)
            n_best = [[schemas.Hypothesis(text=text, score=score) for text, score in hyps] for hyps in results]
            return schemas.TextResponse(outputs=[hyps[0].text for hyps in n_best], n_best=n_best)
        return schemas.TextResponse(outputs=results)

    what = "translation" if task == "translation" else "summary"
    return Endpoint("predict", requests.seq2seq, schemas.TextResponse, split=split,
                    run=lambda pipeline, options, texts: pipeline.predict(texts, **options), respond=respond,
                    summary=f"The {what} of each text by beam search; with n_best > 1, the best hypotheses with their scores.")


def answer(requests) -> Endpoint:
    return Endpoint("predict", requests.qa, schemas.AnswerResponse,
                    split=lambda body: ({}, [row.model_dump() for row in body.inputs]),
                    run=lambda pipeline, options, rows: pipeline.predict(inputs=rows),
                    respond=lambda results: schemas.AnswerResponse(answers=results),
                    summary="The answer to each question as a span of its context: context[start:end] == answer.")


def perplexity(requests) -> Endpoint:
    def run(pipeline, options, texts):
        results = pipeline.perplexity_batch(texts)
        return [dict(token_perplexity=r.token_perplexity, word_perplexity=r.word_perplexity, tokens=r.tokens, words=r.words)
                for r in results]

    return Endpoint("perplexity", requests.perplexity, schemas.PerplexityResponse,
                    split=lambda body: ({}, body.texts), run=run,
                    respond=lambda results: schemas.PerplexityResponse(scores=results),
                    summary="Token-level and word-level perplexity of each text.")


def generate(requests) -> Endpoint:
    """Every generate request may share a batch: its options (seed included) travel with its prompt, and the
    batch samples each prompt with its own (`generate_batch`), so a seeded request gives the same text in any batch."""

    def split(body):
        return {}, [body.model_dump()]

    def run(pipeline, options, items):
        names = [name for name in items[0] if name != "prompt"]  # every item has the request body's fields
        if not hasattr(pipeline, "generate_batch"):  # a pipeline of another make: one prompt at a time
            return [pipeline.generate(item["prompt"], **{name: item[name] for name in names}) for item in items]
        return pipeline.generate_batch([item["prompt"] for item in items], **{name: [item[name] for item in items] for name in names})

    return Endpoint("generate", requests.generate, schemas.GenerateResponse, split=split, run=run,
                    respond=lambda results: schemas.GenerateResponse(text=results[0]),
                    summary="A sampled continuation of the prompt (give a seed to repeat it).")


def generic(requests, task: str) -> Endpoint:
    from fastapi.encoders import jsonable_encoder

    return Endpoint("predict", requests.inputs, schemas.InputsResponse,
                    split=lambda body: ({}, body.inputs),
                    run=lambda pipeline, options, inputs: jsonable_encoder(pipeline.predict(inputs)),
                    respond=lambda results: schemas.InputsResponse(predictions=results),
                    summary=f"The {task} task's predict() on each input.")
