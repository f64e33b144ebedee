"""Pretraining corpora: documents, paragraphs, JSONL, hold-outs, the weighted mix, and the CLI around them."""

import itertools
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.data.corpora import (
    CorpusSpec,
    document_blocks,
    iter_documents,
    mix_blocks,
    read_corpora_file,
    specs_from_options,
    split_documents,
)
from nlp_apps.errors import DataError
from tests.conftest import make_corpus


def test_paragraph_mode_joins_the_lines_of_each_blank_line_separated_paragraph(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text("  It was a dark\nand stormy night.\n\n\nThe end\n  came soon.  \n", encoding="utf-8")
    assert list(iter_documents(book, paragraphs=True)) == ["It was a dark and stormy night.", "The end came soon."]
    assert list(iter_documents(book)) == ["  It was a dark", "and stormy night.", "", "", "The end", "  came soon.  "]


def test_jsonl_documents_are_one_line_each_and_a_missing_field_names_the_fields_found(tmp_path):
    data = tmp_path / "reviews.jsonl"
    data.write_text(json.dumps({"text": "Good film.\n\nGreat cast.", "label": 1}) + "\n\n" + json.dumps({"body": "x"}) + "\n")
    documents = iter_documents(data)
    assert next(documents) == "Good film. Great cast."
    with pytest.raises(DataError, match=r"reviews.jsonl:3: no field 'text' \(found: body\)"):
        next(documents)


def test_a_holdout_takes_the_last_documents_of_the_training_files(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("one\ntwo\n")
    second.write_text("three\nfour\nfive\n")
    spec = CorpusSpec(name="x", train=[first, second], holdout=2)
    train, valid = split_documents(spec, [2, 3])
    assert list(train) == ["one", "two", "three"] and list(valid) == ["four", "five"]
    with pytest.raises(DataError, match="leaves no training documents"):
        split_documents(CorpusSpec(name="x", train=[first], holdout=2), [2])


def test_blocks_end_after_a_document_and_cover_the_stream():
    eos = 3
    tokens = np.array([5, 6, eos, 7, eos, 8, 9, 10, eos, 11, eos])
    blocks = document_blocks(tokens, eos, block_tokens=4)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(tokens)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(blocks))
    assert all(tokens[stop - 1] == eos for _, stop in blocks)
    assert blocks.tolist() == [[0, 5], [5, 9], [9, 11]]


def test_weights_repeat_or_subsample_a_corpus_and_the_order_is_seeded():
    order = mix_blocks([10, 4], [0.5, 2.0], seed=1)
    first = [b for c, b in order if c == 0]
    second = [b for c, b in order if c == 1]
    assert len(first) == 5 and len(set(first)) == 5  # a random half, without repeats
    assert sorted(second) == [0, 0, 1, 1, 2, 2, 3, 3]  # twice each
    assert order == mix_blocks([10, 4], [0.5, 2.0], seed=1) != mix_blocks([10, 4], [0.5, 2.0], seed=2)


@pytest.mark.parametrize("train, valid, weights, problem", [
    (["a.txt", "b.txt"], ["a-valid.txt"], [], "need as many --valid files"),
    (["a.txt", "b.txt"], ["av.txt", "bv.txt"], [1.0], "1 --weight value"),
    (["a.txt"], ["av.txt"], [0.0], "weight must be a positive number"),
])
def test_corpus_options_that_do_not_match_are_refused(train, valid, weights, problem):
    with pytest.raises(ValueError, match=problem):
        specs_from_options(train, valid, weights, paragraphs=False)


def test_a_corpora_file_expands_environment_variables_and_names_an_unset_one(tmp_path, monkeypatch):
    listing = tmp_path / "mix.json"
    listing.write_text(json.dumps({"corpora": [{"name": "books", "train": ["${DATA_HOME}/books/train.txt"], "valid": "$DATA_HOME/books/valid.txt"}]}))
    monkeypatch.setenv("DATA_HOME", str(tmp_path / "elsewhere"))
    (spec,) = read_corpora_file(listing)
    assert spec.train == [str(tmp_path / "elsewhere" / "books" / "train.txt")]
    assert spec.valid == str(tmp_path / "elsewhere" / "books" / "valid.txt")
    monkeypatch.delenv("DATA_HOME")
    with pytest.raises(DataError, match=r"mix.json: corpora\[0\]: .*environment variable DATA_HOME, which is not set"):
        read_corpora_file(listing)


def test_a_corpora_file_resolves_paths_next_to_it_and_refuses_a_corpus_without_validation(tmp_path):
    listing = tmp_path / "mix.json"
    listing.write_text(json.dumps({"corpora": [{"name": "books", "train": "books/train.txt", "valid": "books/valid.txt"}]}))
    (spec,) = read_corpora_file(listing)
    assert spec.train == [str(tmp_path / "books" / "train.txt")] and spec.valid == str(tmp_path / "books" / "valid.txt")
    listing.write_text(json.dumps({"corpora": [{"name": "books", "train": "t.txt"}]}))
    with pytest.raises(DataError, match=r"mix.json: corpora\[0\]: corpus 'books' has no validation file"):
        read_corpora_file(listing)
    listing.write_text(json.dumps([{"name": "a", "train": "t.txt", "holdout": 3}, {"name": "a", "train": "u.txt", "holdout": 3}]))
    with pytest.raises(DataError, match="used twice: a"):
        read_corpora_file(listing)


def write_corpora(tmp_path):
    paths = {}
    for name, seed in (("books", 1), ("news", 3)):
        (tmp_path / name).mkdir()
        paths[name] = (tmp_path / name / "train.txt", tmp_path / name / "valid.txt")
        paths[name][0].write_text(make_corpus(300, seed), encoding="utf-8")
        paths[name][1].write_text(make_corpus(30, seed + 1), encoding="utf-8")
    return paths


def test_pretrain_on_two_corpora_reports_perplexity_per_corpus_and_resumes_without_them(tmp_path):
    paths = write_corpora(tmp_path)
    out = tmp_path / "run"
    args = ["pretrain", "--train", paths["books"][0], "--valid", paths["books"][1], "--train", paths["news"][0],
            "--valid", paths["news"][1], "--weight", "1", "--weight", "0.5", "--out", out, "--vocab-size", "300",
            "--hidden-size", "16", "--emb-size", "8", "--batch-size", "4", "--bptt", "10", "--max-steps", "6", "--no-progress"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["best"]
    assert {"books_ppl", "news_ppl", "books_word_ppl", "news_word_ppl", "ppl", "loss"} <= set(metrics)
    mix = {c["name"]: c for c in json.loads((out / "data" / "corpora.json").read_text())["corpora"]}
    assert mix["news"]["mix_tokens"] < mix["news"]["train_tokens"] and mix["books"]["mix_tokens"] == mix["books"]["train_tokens"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["data_files"]) == 4 and [c["name"] for c in manifest["corpora"]] == ["books", "news"]
    for path in (*paths["books"], *paths["news"]):
        path.unlink()  # resuming never reads the raw corpora again
    resumed = CliRunner().invoke(cli, ["pretrain", "--resume", str(out), "--max-steps", "8", "--no-progress"])
    assert resumed.exit_code == 0, resumed.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["data_files"]) == 4 and len(manifest["earlier_sessions"]) == 1


def test_pretrain_refuses_mismatched_corpus_options_before_writing(tmp_path):
    paths = write_corpora(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["pretrain", "--train", str(paths["books"][0]), "--train", str(paths["news"][0]),
                                      "--valid", str(paths["books"][1]), "--out", str(out)])
    assert result.exit_code == 2 and "need as many --valid files" in result.output
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    result = CliRunner().invoke(cli, ["pretrain", "--train", str(paths["books"][0]), "--valid", str(paths["books"][1]),
                                      "--train", str(empty), "--valid", str(paths["news"][1]), "--out", str(out)])
    assert result.exit_code == 1 and "empty.txt: corpus is empty" in result.output
    assert not out.exists()


def test_a_small_corpus_gets_the_largest_vocabulary_it_supports_unless_one_was_asked_for(tmp_path):
    paths = write_corpora(tmp_path)
    common = ["pretrain", "--train", str(paths["books"][0]), "--valid", str(paths["books"][1]), "--hidden-size", "8",
              "--emb-size", "8", "--batch-size", "4", "--max-steps", "1", "--no-progress"]
    result = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "auto")])
    assert result.exit_code == 0, result.output
    assert "the corpus supports at most" in result.output
    size = json.loads((tmp_path / "auto" / "config.json").read_text())["parts"]["backbone"]["tokenizer"]["vocab_size"]
    assert 100 < size < 8000
    refused = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "asked"), "--vocab-size", "8000"])
    assert refused.exit_code == 1 and f"largest size this corpus supports is {size}" in refused.output
    assert "books/train.txt" in refused.output and "tokenizer-sample" not in refused.output
    assert not (tmp_path / "asked").exists()


def test_pretraining_can_start_from_an_existing_language_model(tmp_path, tiny_language_model):
    from safetensors.torch import load_file

    paths = write_corpora(tmp_path)
    out = tmp_path / "continued"
    common = ["pretrain", "--train", str(paths["books"][0]), "--valid", str(paths["books"][1]), "--batch-size", "4",
              "--no-progress", "--init-from", str(tiny_language_model)]
    refused = CliRunner().invoke(cli, [*common, "--out", str(out), "--hidden-size", "8"])
    assert refused.exit_code == 2 and "--hidden-size cannot be set with --init-from" in refused.output
    result = CliRunner().invoke(cli, [*common, "--out", str(out), "--max-steps", "1", "--lr", "1e-12", "--optimizer", "sgd"])
    assert result.exit_code == 0, result.output
    assert (out / "tokenizer.model").read_bytes() == (tiny_language_model / "tokenizer.model").read_bytes()
    start, after = load_file(tiny_language_model / "model.safetensors"), load_file(out / "last" / "model.safetensors")
    assert set(start) == set(after)
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-6) for k in start)  # one step at lr 1e-12
