"""The demo sets the project's tasks ship (tasks/*/demo/): no validation example occurs in training, the
held-out material of benchmarks/make_demo_data.py stays out of training, and the shipped files are what
the generator writes."""

from __future__ import annotations

import importlib
import json
import re
from types import SimpleNamespace

import pytest

from benchmarks import make_demo_data as gen

PROJECT_TASKS = ("qa", "sentiment", "summarization", "translation")


DEMO = gen.ROOT / "tasks"
FILES = {"translation": ("train.tsv", "valid.tsv"), "summarization": ("train.jsonl", "valid.jsonl"),
         "qa": ("train.json", "valid.json"), "sentiment": ("train.tsv", "valid.tsv")}


def read(name: str, path) -> list:
    """A demo file's examples, as namespaces with the fields of the task's own adapter (read here without the
    task package, so that these checks do not depend on its CLI)."""
    text = path.read_text(encoding="utf-8")
    if name == "translation":
        return [SimpleNamespace(source=s, target=t) for s, t in (line.split("\t") for line in text.splitlines()[1:])]
    if name == "sentiment":
        return [SimpleNamespace(text=line.rsplit("\t", 1)[0]) for line in text.splitlines()[1:]]
    if name == "summarization":
        return [SimpleNamespace(**json.loads(line)) for line in text.splitlines()]
    return [SimpleNamespace(context=p["context"], question=q["question"],
                            answers=[SimpleNamespace(text=a["text"], start=a["answer_start"]) for a in q["answers"]])
            for article in json.loads(text)["data"] for p in article["paragraphs"] for q in p["qas"]]


def demo_sets(name: str) -> tuple[list, list]:
    train, valid = FILES[name]
    return read(name, DEMO / name / "demo" / train), read(name, DEMO / name / "demo" / valid)


def test_the_adapters_read_what_these_checks_read():
    for name in FILES:
        try:
            spec = importlib.import_module(f"tasks.{name}").TASK
        except Exception as exc:
            pytest.skip(f"tasks.{name} does not import: {exc}")
        files = spec.demo_data()
        for split, ours in zip(("train", "valid"), demo_sets(name)):
            assert len(list(spec.read_dataset(files[split]))) == len(ours), (name, split)


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


# What makes two examples the same example, per task.
KEYS = {
    "translation": lambda pair: normalised(pair.source),
    "summarization": lambda document: normalised(document.text),
    "sentiment": lambda example: normalised(example.text),
    "qa": lambda example: (normalised(example.question), normalised(example.context)),
}


@pytest.mark.parametrize("name", PROJECT_TASKS)
def test_no_validation_example_occurs_in_training(name):
    train, valid = demo_sets(name)
    key = KEYS[name]
    shared = {key(e) for e in valid} & {key(e) for e in train}
    assert not shared, f"{name}: {len(shared)} validation example(s) also in training, e.g. {min(shared)!r}"
    if name == "translation":  # nor a reference translation
        assert not {normalised(p.target) for p in valid} & {normalised(p.target) for p in train}
    if name == "qa":  # nor a passage
        assert not {normalised(e.context) for e in valid} & {normalised(e.context) for e in train}


def test_validation_is_written_from_held_out_material():
    train, valid = demo_sets("translation")
    train_text = " ".join(p.source for p in train)
    _, held_compounds = gen.compounds()
    for compound, _, _ in held_compounds:
        assert compound not in train_text
    assert sum(any(c in p.source for c, _, _ in held_compounds) for p in valid) >= len(valid) // 3

    train, valid = demo_sets("summarization")
    train_text = " ".join(d.text for d in train)
    for word in gen.VALID_TOPICS + gen.VALID_ITEMS + gen.VALID_NAMES + gen.VALID_ROOMS + gen.VALID_TEAMS:
        assert not re.search(rf"\b{re.escape(word)}\b", train_text), word
    assert all(any(topic in d.text for topic in gen.VALID_TOPICS + gen.VALID_TEAMS) for d in valid)

    train, valid = demo_sets("qa")
    train_text = " ".join({e.context for e in train})
    for word in gen.VALID_FIRST + gen.VALID_LAST + gen.VALID_TOWNS + list(gen.VALID_KINDS):
        assert not re.search(rf"\b{re.escape(word)}\b", train_text), word


def test_qa_answers_are_unique_in_their_passage_and_spread_over_it():
    train, valid = demo_sets("qa")
    for example in train + valid:
        (answer,) = example.answers
        assert example.context[answer.start:answer.start + len(answer.text)] == answer.text
        assert example.context.count(answer.text) == 1, (example.question, answer.text)
    # not answerable by position: answers start in every tenth of the passages
    deciles = {int(10 * e.answers[0].start / len(e.context)) for e in train}
    assert deciles >= set(range(1, 10))
    kinds = {e.question.split()[0] for e in valid}
    assert {"Who", "When", "Where", "What"} <= kinds


def test_the_qa_demo_passage_is_in_neither_set():
    from tasks.qa.cli import DEMO, PASSAGE

    for examples in demo_sets("qa"):
        contexts = {e.context for e in examples}
        assert PASSAGE not in contexts
        assert not any(name in context for context in contexts for name in ("Port Elwin", "Marta Hollis"))
        pairs = {(e.question, e.context) for e in examples}
        assert not {(example["question"], example["context"]) for example in DEMO.examples} & pairs


def test_the_shipped_files_are_what_the_generator_writes(tmp_path):
    for task, maker in gen.MAKERS.items():
        for relative, text in maker(0).items():
            shipped = (gen.ROOT / "tasks" / relative).read_text(encoding="utf-8")
            assert shipped == text, f"tasks/{relative} differs from `python -m benchmarks.make_demo_data --task {task}`"
    assert json.loads(gen.make_qa(0)["qa/demo/valid.json"])["version"] == "1.1"
