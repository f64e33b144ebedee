"""A trained question-answering model on disk, ready for raw text:

    qa = nlp_apps.load("runs/qa")
    qa.predict(context="The Eiffel Tower was finished in 1889.", question="When was the tower finished?")
    # {"answer": "1889", "start": 33, "end": 37, "score": 0.91}   (context[start:end] == answer)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import torch

from nlp_apps.data.inputs import check_text, text_list
from nlp_apps.io.checkpoint import load_model_tokenizer, load_task_model, save_model
from nlp_apps.precision import inference
from tasks.qa.features import Featurizer, reading_batches
from tasks.qa.head import SpanExtractor
from tasks.qa.head_config import HeadConfig
from tasks.qa.spans import Reading, best_in_windows, combine, window_candidates

TASK_NAME = "qa"


@torch.no_grad()
def read_questions(model: SpanExtractor, tokenizer, pairs: Sequence[tuple[str, str]], batch_size: int = 32,
                   windows: str | None = None) -> list[Reading]:
    """The best span (and null score) of each (context, question) pair, over all windows of its context.

    `windows` overrides how the model reads long passages ("first": truncation), to measure what the
    sliding windows are worth to the same model."""
    model.eval()
    device = next(model.parameters()).device
    config = model.config if windows is None else replace(model.config, windows=windows)
    features = Featurizer(tokenizer, config).build(pairs)
    bests = {}
    for indices in reading_batches(features, batch_size):
        batch = features.batch(indices)
        start_logits, end_logits = model(**batch.inputs(device))
        candidates = window_candidates(features, indices, batch.passages.size(1)).to(device)
        bests.update(zip(indices, best_in_windows(start_logits, end_logits, candidates, model.config.max_answer_len)))
    return combine(features, bests)


class QAPipeline:
    def __init__(self, model: SpanExtractor, tokenizer, path: Path | None = None):
        self.model, self.tokenizer, self.path = model.eval(), tokenizer, path

    @inference
    def predict(self, inputs=None, *, context=None, question=None, batch_size: int = 32):
        """Answers with their character span in the context and a score (the span's probability in its window).

        Give `inputs` ({"context", "question"} or a list of them), or `context` and `question`: strings
        (one answer), or lists (one answer per question; a single context is shared by all questions).
        A list in gives a list out. No answer (SQuAD v2 models) is {"answer": "", "start": None, "end": None}.
        """
        pairs, single = _pairs(inputs, context, question)
        readings = read_questions(self.model, self.tokenizer, pairs, batch_size)
        answers = [r.answer(self.model.config.no_answer, self.model.config.null_threshold) for r in readings]
        return answers[0] if single else answers


def _pairs(inputs, context, question) -> tuple[list[tuple[str, str]], bool]:
    if inputs is not None:
        if context is not None or question is not None:
            raise ValueError("give inputs or context= and question=, not both")
        single = isinstance(inputs, dict)
        if not single and (isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable)):
            raise TypeError(f'inputs must be {{"context": str, "question": str}} or a list of them, got {type(inputs).__name__}')
        rows = [inputs] if single else list(inputs)
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("context"), str) or not isinstance(row.get("question"), str):
                raise TypeError('each input must be {"context": str, "question": str}')
        pairs = [(row["context"], row["question"]) for row in rows]
    else:
        if context is None or question is None:
            raise ValueError("give a context and a question")
        questions, one_question = text_list(question, "question")
        contexts = [context] * len(questions) if isinstance(context, str) else text_list(context, "context")[0]
        single = one_question and isinstance(context, str)
        if len(contexts) != len(questions):
            raise ValueError(f"{len(contexts)} contexts for {len(questions)} questions")
        pairs = list(zip(contexts, questions))
    for context_text, question_text in pairs:
        if not check_text(context_text, "context").strip() or not check_text(question_text, "question").strip():
            raise ValueError("a context and its question must not be empty")
    return pairs, single


def save_qa(model: SpanExtractor, tokenizer, directory: str | os.PathLike) -> None:
    """A model directory `load` reads: the backbone's config and tokenizer, the head's config (with its
    reading limits and no-answer threshold), the weights."""
    save_model(directory, model_type="span_extractor", backbone_config=model.backbone.config, model=model, tokenizer=tokenizer,
               task=TASK_NAME, head=model.config.to_dict())


def load(path: str | os.PathLike, device: str = "cpu") -> QAPipeline:
    model = load_task_model(path, TASK_NAME, "a question-answering model", HeadConfig, SpanExtractor, device)
    return QAPipeline(model, load_model_tokenizer(path), Path(path))
