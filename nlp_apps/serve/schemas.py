"""Request and response bodies of the HTTP API, one set per task, mirroring the Python `predict` APIs.

Request bounds are Field constraints built from a `Limits` object, so a request over a limit is a 422
naming the field before any model work. (No `from __future__ import annotations` here: the request
classes are built inside a function and pydantic must see their annotations as objects.)
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (each bound is a 422 when passed) and the body size (413)."""

    max_texts: int = 64  # texts (or questions) per request
    max_chars: int = 5_000  # characters per text, question or prompt
    max_context_chars: int = 20_000  # characters per QA passage
    max_new_tokens: int = 512  # tokens one `generate` request may ask for
    max_beam_size: int = 10
    max_output_length: int = 256  # tokens per translation or summary
    max_body_bytes: int = 1_048_576

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored


def request_models(limits: Limits) -> SimpleNamespace:
    """The request classes under these limits: texts, seq2seq, qa, perplexity, generate, generic."""
    Text = Annotated[str, Field(min_length=1, max_length=limits.max_chars)]
    Texts = Annotated[list[Text], Field(min_length=1, max_length=limits.max_texts, description="the texts, one prediction each")]

    class TextsRequest(Strict):
        texts: Texts

    class Seq2SeqRequest(Strict):
        texts: Texts
        beam_size: Annotated[int, Field(ge=1, le=limits.max_beam_size)] | None = Field(None, description="the model's default when absent")
        n_best: Annotated[int, Field(ge=1, le=limits.max_beam_size)] | None = Field(None, description="hypotheses per text (at most beam_size)")
        max_length: Annotated[int, Field(ge=1, le=limits.max_output_length)] | None = Field(None, description="output tokens at most")

        @model_validator(mode="after")
        def n_best_within_beam(self):
            if self.n_best is not None and self.beam_size is not None and self.n_best > self.beam_size:
                raise ValueError(f"n_best ({self.n_best}) must not exceed beam_size ({self.beam_size})")
            return self

    class Question(Strict):
        context: Annotated[str, Field(min_length=1, max_length=limits.max_context_chars)]
        question: Text

    class QARequest(Strict):
        inputs: Annotated[list[Question], Field(min_length=1, max_length=limits.max_texts)]

    class GenerateRequest(Strict):
        prompt: Text
        max_tokens: Annotated[int, Field(ge=1, le=limits.max_new_tokens)] = 50
        temperature: Annotated[float, Field(gt=0, le=10)] = 1.0
        top_k: Annotated[int, Field(ge=1)] | None = None
        top_p: Annotated[float, Field(gt=0, le=1)] | None = None
        seed: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None

    class InputsRequest(Strict):
        inputs: Annotated[list[Any], Field(min_length=1, max_length=limits.max_texts, description="what the task's predict takes")]

    return SimpleNamespace(texts=TextsRequest, seq2seq=Seq2SeqRequest, qa=QARequest, perplexity=TextsRequest,
                           generate=GenerateRequest, inputs=InputsRequest)


# ---- responses ---------------------------------------------------------------------------------


class Prediction(BaseModel):
    label: str
    probabilities: dict[str, float]


class ClassifyResponse(BaseModel):
    predictions: list[Prediction]


class Hypothesis(BaseModel):
    text: str
    score: float


class TextResponse(BaseModel):
    outputs: list[str] = Field(description="the best output of each text")
    n_best: list[list[Hypothesis]] | None = Field(None, description="with n_best > 1: each text's hypotheses, best first")


class Answer(BaseModel):
    answer: str
    start: int | None = Field(description="character offsets in the context: context[start:end] == answer; null: no answer")
    end: int | None
    score: float


class AnswerResponse(BaseModel):
    answers: list[Answer]


class Perplexity(BaseModel):
    token_perplexity: float
    word_perplexity: float
    tokens: int
    words: int


class PerplexityResponse(BaseModel):
    scores: list[Perplexity]


class GenerateResponse(BaseModel):
    text: str = Field(description="the continuation, without the prompt")


class InputsResponse(BaseModel):
    predictions: list[Any]


class Metric(BaseModel):
    name: str
    value: float


class ModelInfo(BaseModel):
    name: str
    task: str
    endpoints: list[str]
    trained_on: list[str]
    metric: Metric | None = Field(description="the saved model's validation score, from its metrics.json")


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorBody(BaseModel):
    detail: str = Field(description="one line: what went wrong")
