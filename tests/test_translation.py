"""The translation plug-in: adapters and bad input, the BLEU wiring, and the CLI end to end on tiny data."""

import json

import pytest
import sacrebleu
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.errors import DataError
from tasks.translation import TASK
from tasks.translation.adapter import read_pairs

PAIRS = [("Ein Hund läuft.", "A dog runs."), ("Eine Katze schläft.", "A cat sleeps."), ("Der Mann lacht.", "The man laughs."),
         ("Die Frau singt.", "The woman sings."), ("Ein Kind spielt.", "A child plays."), ("Der Hund schläft.", "The dog sleeps.")]


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def parallel(tmp_path, pairs, name="train"):
    src = write(tmp_path / f"{name}.de", "\n".join(s for s, _ in pairs) + "\n")
    tgt = write(tmp_path / f"{name}.en", "\n".join(t for _, t in pairs) + "\n")
    return src, tgt


def test_parallel_files_tsv_and_jsonl_read_the_same_pairs(tmp_path):
    src, tgt = parallel(tmp_path, PAIRS)
    plain = write(tmp_path / "plain.tsv", "".join(f"{s}\t{t}\n" for s, t in PAIRS))
    headed = write(tmp_path / "headed.tsv", "target\tsource\n" + "".join(f"{t}\t{s}\n" for s, t in PAIRS))
    jsonl = write(tmp_path / "pairs.jsonl", "".join(json.dumps({"de": s, "en": t}, ensure_ascii=False) + "\n" for s, t in PAIRS))
    expected = [(s, t) for s, t in PAIRS]
    for result in (read_pairs(src=src, tgt=tgt), read_pairs(plain), read_pairs(headed), read_pairs(jsonl, src_field="de", tgt_field="en")):
        assert [(p.source, p.target) for p in result.pairs] == expected
    assert read_pairs(plain).pairs[2].origin.endswith("plain.tsv:3")


def test_bad_input_is_one_line_naming_file_and_line(tmp_path):
    src, _ = parallel(tmp_path, PAIRS)
    short = write(tmp_path / "short.en", "A dog runs.\n")
    with pytest.raises(DataError, match=r"train.de: has 6 lines but .*short.en has 1"):
        read_pairs(src=src, tgt=short)
    broken = tmp_path / "broken.de"
    broken.write_bytes(b"Ein Hund.\n\xff\xfe kaputt\n")
    with pytest.raises(DataError, match=r"broken.de:2: not valid UTF-8"):
        read_pairs(src=broken, tgt=write(tmp_path / "two.en", "A dog.\nBroken.\n"))
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_pairs(write(tmp_path / "bad.jsonl", '{"source": "a", "target": "b"}\n{"source": "a"\n'))
    gaps = read_pairs(src=write(tmp_path / "g.de", "Ein Hund.\n\nEine Katze.\n"), tgt=write(tmp_path / "g.en", "A dog.\nA horse.\n\n"))
    assert [p.source for p in gaps.pairs] == ["Ein Hund."] and gaps.skipped_empty == 2


def test_the_reported_bleu_is_sacrebleus_on_the_detokenised_strings():
    hypotheses = ["A dog runs .", "the cat is sleeping.", "A man laughs."]
    refs = [["The dog runs.", "A cat sleeps.", "The man laughs."], ["A dog runs.", "The cat sleeps.", "A man laughs."]]
    scores = TASK.metric(hypotheses, refs[0])
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [refs[0]]).score)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [refs[0]]).score)
    from tasks.translation.metric import translation_metrics

    both = translation_metrics(hypotheses, refs)
    assert both["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, refs).score)
    assert both["bleu"] != pytest.approx(scores["bleu"])  # the second reference counts
    assert "tok:13a" in both["bleu_signature"] and "nrefs:2" in both["bleu_signature"]


def invoke(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def test_cli_train_evaluate_predict_resume(tmp_path, tiny_language_model, plugins_on):
    src, tgt = parallel(tmp_path, PAIRS * 4)
    vsrc, vtgt = parallel(tmp_path, PAIRS[:3], "valid")
    out = tmp_path / "mt"
    common = ["--src", src, "--tgt", tgt, "--valid-src", vsrc, "--valid-tgt", vtgt, "--tgt-backbone", tiny_language_model,
              "--batch-size", 8, "--no-progress", "--eval-every", 3, "--max-decode-len", 12]
    result = invoke("translation", "train", *common, "--out", out, "--max-steps", 6)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert set(config["parts"]) == {"encoder", "decoder"} and config["task"] == "translation"
    assert (out / "tokenizers" / "encoder").is_dir()
    # run_config.json keeps the layout earlier runs were written with, so they still resume.
    run = json.loads((out / "run_config.json").read_text())
    assert set(run) == {"data", "src_backbone", "tgt_backbone", "head", "recipe", "limits", "device", "trainer"}
    assert run["data"] == {"train": [None, str(src), str(tgt), None, None], "valid": [None, str(vsrc), str(vtgt), None, None]}
    assert run["recipe"]["batch_size"] == 8 and run["limits"]["max_decode_len"] == 12 and run["trainer"]["max_steps"] == 6
    # The recorded best validation scores are the saved model's: its greedy translations of the valid set score the same.
    best = json.loads((out / "metrics.json").read_text())["best"]
    greedy = TASK.load(out).predict([s for s, _ in PAIRS[:3]], beam_size=1, max_length=12)
    again = TASK.metric(greedy, [t for _, t in PAIRS[:3]])
    assert (best["bleu"], best["chrf"]) == (pytest.approx(again["bleu"]), pytest.approx(again["chrf"])), (best, greedy)
    resumed = invoke("translation", "train", "--resume", out, "--max-steps", 9)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "metrics.json").read_text())["steps"] == 9
    evaluated = invoke("translation", "evaluate", "--model", out, "--src", vsrc, "--ref", vtgt, "--ref", vtgt, "--beam", 2, "--json")
    scores = json.loads(evaluated.output)
    hypotheses = (out / "hypotheses.txt").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == 3
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [[t for _, t in PAIRS[:3]]] * 2).score)
    predicted = invoke("translation", "predict", "--model", out, "--beam", 3, "--n-best", 2, "--json", "-",
                       input="Ein Hund läuft.\n\nDie Frau singt.\n")
    rows = [json.loads(line) for line in predicted.output.splitlines()]
    assert len(rows) == 3 and rows[1]["n_best"] is None and len(rows[0]["n_best"]) == 2
    plot = tmp_path / "attention.png"
    plotted = invoke("translation", "predict", "--model", out, "--plot-attention", plot, "Ein Hund läuft.")
    assert plotted.exit_code == 0 and plot.stat().st_size > 0
    import nlp_apps
    from tasks.translation.pipeline import TranslationPipeline

    loaded = nlp_apps.load(out)
    assert type(loaded) is TranslationPipeline and loaded.predict(["Ein Hund läuft."], beam_size=2) == hypotheses[:1]


def test_cli_refuses_bad_runs_before_writing(tmp_path, tiny_language_model, plugins_on):
    src, tgt = parallel(tmp_path, PAIRS)
    short = write(tmp_path / "short.en", "A dog runs.\n")
    out = tmp_path / "mt"
    result = invoke("translation", "train", "--src", src, "--tgt", short, "--valid-src", src, "--valid-tgt", tgt, "--out", out,
                    "--tgt-backbone", tiny_language_model)
    assert result.exit_code == 1 and "has 6 lines but" in result.output and not out.exists()
    missing = invoke("translation", "train", "--src", src, "--tgt", tgt, "--out", out)
    assert missing.exit_code == 2 and "give the valid pairs: --valid FILE" in missing.output and not out.exists()
    nowhere = invoke("translation", "train", "--src", src, "--tgt", tgt, "--valid-src", src, "--valid-tgt", tgt, "--out", out,
                     "--tgt-backbone", tmp_path / "no-such-lm")
    assert nowhere.exit_code == 1 and "no-such-lm" in nowhere.output and not out.exists()  # a missing backbone is found before --out
    before = sorted(p.relative_to(tiny_language_model) for p in tiny_language_model.rglob("*"))
    wrong = invoke("translation", "predict", "--model", tiny_language_model, "Ein Hund.")
    assert wrong.exit_code == 1 and "not a translator" in wrong.output
    assert sorted(p.relative_to(tiny_language_model) for p in tiny_language_model.rglob("*")) == before  # nothing written beside it
