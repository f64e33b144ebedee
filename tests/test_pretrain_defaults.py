"""`nlp-apps pretrain` without a model size: the size (and batch, BPTT, peak lr) follows the corpus and the budget."""

import itertools
import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.commands.pretrain import auto_size_settings
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import RNNLanguageModel
from nlp_apps.training.model_size import AUTO_SETTINGS, BUDGET_EPOCHS, TIERS, choose_tier, describe_pick
from nlp_apps.training.pretraining import PretrainConfig, init_unigram_bias
from nlp_apps.training.trainer_config import TrainerConfig
from tests.conftest import write_tiny_corpus

FAST = ["--vocab-size", "300", "--no-progress", "--seed", "1"]
PICKED = "(auto, small tier:"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


# ---- the rule, as a pure function --------------------------------------------------------------


@pytest.mark.parametrize("tokens, budget, tier", [
    (190_000, 40, "small"),  # 5,000 lines of PTB in 40 seconds
    (190_000, 599, "small"),  # under ten minutes: small, whatever the corpus
    (190_000, 600, "compact"),
    (930_000, 45 * 60, "compact"),  # PTB in 45 minutes (benchmarks.ptb's defaults row)
    (190_000, None, "compact"),  # a small corpus stays compact without a budget
    (190_000, 12 * 3600, "compact"),
    (999_999, None, "compact"),
    (1_000_000, None, "medium"),
    (5_000_000, 599, "small"),  # a short budget keeps any corpus small
    (5_000_000, 3599, "compact"),
    (5_000_000, 3600, "medium"),
    (5_000_000, None, "medium"),
    (19_999_999, 24 * 3600, "medium"),
    (20_000_000, None, "default"),
    (20_000_000, 6 * 3600 - 1, "medium"),
    (20_000_000, 6 * 3600, "default"),
    (2_000_000_000, 12 * 3600, "default"),
    (2_000_000_000, 40, "small"),
])
def test_the_tier_is_the_smaller_of_the_corpus_and_the_budget_tier(tokens, budget, tier):
    assert choose_tier(tokens, budget).name == tier


def test_tiers_grow_and_the_largest_is_the_dataclass_default():
    assert [t.name for t in TIERS] == ["small", "compact", "medium", "default"]
    for smaller, larger in itertools.pairwise(TIERS):
        assert smaller.below_tokens < larger.below_tokens and smaller.below_budget < larger.below_budget
        assert smaller.num_layers * smaller.hidden_size <= larger.num_layers * larger.hidden_size
    top, backbone, run = TIERS[-1], BackboneConfig(), PretrainConfig(train="t.txt", valid="v.txt")
    assert (top.num_layers, top.emb_size, top.hidden_size) == (backbone.num_layers, backbone.emb_size, backbone.hidden_size)
    assert (top.batch_size, top.bptt, top.lr, top.optimizer) == (run.batch_size, run.bptt, TrainerConfig().lr, TrainerConfig().optimizer)
    assert top.dropout == backbone.input_dropout == backbone.hidden_dropout == backbone.output_dropout


def test_the_one_line_says_what_was_picked_and_why():
    line = describe_pick(TIERS[0], AUTO_SETTINGS, 187_711, 40.0)
    assert line == ("model: LSTM 1x192, emb 192; batch 16x35, AdamW lr 0.01, dropout 0.1, epochs until the budget (auto, small tier: "
                    "0.19M training tokens, 40s budget); set --layers/--emb-size/--hidden-size to choose")
    line = describe_pick(TIERS[0], AUTO_SETTINGS[:-1], 187_711, 40.0)
    assert line == ("model: LSTM 1x192, emb 192; batch 16x35, AdamW lr 0.01, dropout 0.1 (auto, small tier: 0.19M training tokens, "
                    "40s budget); set --layers/--emb-size/--hidden-size to choose")
    line = describe_pick(TIERS[1], AUTO_SETTINGS, 930_000, 2700.0)
    assert line.startswith("model: LSTM 2x200, emb 200; batch 20x35, SGD lr 20, dropout 0.2, epochs until the budget (auto, compact tier: 0.93M")
    line = describe_pick(TIERS[3], ["model", "lr"], 50_000_000, None, cell="gru")
    assert line.startswith("model: GRU 2x768, emb 256; lr 0.003 (auto, default tier: 50M training tokens, no time budget)")
    assert "\n" not in line


def test_any_size_option_or_init_from_turns_the_rule_off():
    assert auto_size_settings({}) == ["model", "batch_size", "bptt", "optimizer", "lr", "dropout"]
    assert auto_size_settings({"time_budget": 2700.0}) == ["model", "batch_size", "bptt", "optimizer", "lr", "dropout", "epochs"]
    assert auto_size_settings({"time_budget": 2700.0, "epochs": 3}) == ["model", "batch_size", "bptt", "optimizer", "lr", "dropout"]
    assert auto_size_settings({"lr": 0.005, "bptt": 20}) == ["model", "batch_size", "dropout"]  # given settings win; a rate keeps AdamW
    assert auto_size_settings({"optimizer": "adamw", "hidden_dropout": 0.3}) == ["model", "batch_size", "bptt", "lr"]
    assert auto_size_settings({"weight_decay": 0.01}) == ["model", "batch_size", "bptt", "lr", "dropout"]  # AdamW's decay: no SGD
    for given in ({"layers": 2}, {"emb_size": 64}, {"hidden_size": 512}, {"init_from": "default"}):
        assert auto_size_settings(given) == []
    with pytest.raises(ValueError, match="unknown setting"):
        PretrainConfig(train="t.txt", valid="v.txt", auto_size=["weight_decay"])


def test_the_decoder_bias_starts_at_the_unigram_log_frequencies():
    model = RNNLanguageModel(BackboneConfig(vocab_size=6, num_layers=1, emb_size=4, hidden_size=4))
    init_unigram_bias(model, np.array([3, 3, 3, 4, 5, 3], dtype=np.uint16))
    expected = np.log(np.array([1, 1, 1, 5, 2, 2]) / 12)  # add-one: counts + 1 over 6 + 6
    assert torch.allclose(model.decoder_bias, torch.tensor(expected, dtype=torch.float32))


# ---- through the command -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def auto_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auto")
    train, valid = write_tiny_corpus(folder)
    out = folder / "run"
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", out, "--max-steps", 2, "--time-budget", "40s", *FAST)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_a_run_without_sizes_prints_and_records_its_pick(auto_run):
    out, output = auto_run
    lines = [line for line in output.splitlines() if PICKED in line]
    assert len(lines) == 1 and lines[0].startswith(
        "model: LSTM 1x192, emb 192; batch 16x35, AdamW lr 0.01, dropout 0.1, epochs until the budget (auto, small tier: ")
    assert "40s budget); set --layers/--emb-size/--hidden-size to choose" in lines[0]
    run = read_json(out / "run_config.json")
    assert (run["backbone"]["num_layers"], run["backbone"]["emb_size"], run["backbone"]["hidden_size"]) == (1, 192, 192)
    assert (run["batch_size"], run["bptt"], run["trainer"]["lr"], run["trainer"]["optimizer"]) == (16, 35, 0.01, "adamw")
    assert run["backbone"]["input_dropout"] == run["backbone"]["hidden_dropout"] == run["backbone"]["output_dropout"] == 0.1
    assert run["auto_size"] == ["model", "batch_size", "bptt", "optimizer", "lr", "dropout", "epochs"] and run["size_note"] == lines[0]
    assert run["trainer"]["epochs"] == BUDGET_EPOCHS  # the 40-second budget, not an epoch count, ends the run
    assert read_json(out / "manifest.json")["model_size"] == lines[0]
    model = read_json(out / "config.json")["parts"]["backbone"]["backbone"]
    assert (model["num_layers"], model["emb_size"]) == (1, 192)


def test_resume_rebuilds_the_picked_model_without_picking_again(auto_run, tmp_path):
    out = shutil.copytree(auto_run[0], tmp_path / "run")
    before = read_json(out / "run_config.json")
    result = invoke("pretrain", "--resume", out, "--max-steps", 4)
    assert result.exit_code == 0, result.output
    assert PICKED not in result.output and "max_steps after 4 steps" in result.output
    after = read_json(out / "run_config.json")
    assert after["backbone"] == before["backbone"] and after["size_note"] == before["size_note"]
    assert (after["batch_size"], after["bptt"], after["trainer"]["lr"]) == (16, 35, 0.01)


@pytest.mark.parametrize("given, optimizer, lr, note", [
    ([], "sgd", 20.0, "batch 20x35, SGD lr 20, dropout 0.2, epochs until the budget (auto, compact tier:"),
    (["--optimizer", "sgd"], "sgd", 20.0, "batch 20x35, lr 20, dropout 0.2, epochs until the budget (auto, compact tier:"),
    (["--optimizer", "adamw"], "adamw", TrainerConfig().lr, "batch 20x35, dropout 0.2, epochs until the budget (auto, compact tier:"),
    (["--weight-decay", "0.01"], "adamw", TrainerConfig().lr, "batch 20x35, dropout 0.2, epochs until the budget (auto, compact tier:"),
    (["--epochs", "4"], "sgd", 20.0, "batch 20x35, SGD lr 20, dropout 0.2 (auto, compact tier:"),  # epochs given: not picked
])
def test_the_compact_tier_picks_sgd_only_where_the_user_left_the_optimizer(tiny_corpus, tmp_path, given, optimizer, lr, note):
    train, valid = tiny_corpus
    out = tmp_path / "o"
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", out, "--max-steps", 2, "--time-budget", "15m", *given, *FAST)
    assert result.exit_code == 0, result.output
    assert "model: LSTM 2x200, emb 200; " + note in result.output
    run = read_json(out / "run_config.json")
    assert (run["trainer"]["optimizer"], run["trainer"]["lr"]) == (optimizer, lr)
    assert run["trainer"]["epochs"] == (4 if given == ["--epochs", "4"] else BUDGET_EPOCHS)
    assert run["backbone"]["input_dropout"] == run["backbone"]["hidden_dropout"] == run["backbone"]["output_dropout"] == 0.2
    if not given:  # a resumed run rebuilds SGD and the dropouts from run_config.json, without picking again
        resumed = invoke("pretrain", "--resume", out, "--max-steps", 3)
        assert resumed.exit_code == 0 and PICKED not in resumed.output and "(auto" not in resumed.output
        again = read_json(out / "run_config.json")
        assert {**again["trainer"], "max_steps": 2} == run["trainer"] and again["backbone"] == run["backbone"]


def test_given_settings_win_over_the_pick(tiny_corpus, tmp_path):
    train, valid = tiny_corpus
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "o", "--max-steps", 1,
                    "--lr", 0.004, "--bptt", 12, *FAST)
    assert result.exit_code == 0, result.output
    assert "model: LSTM 2x200, emb 200; batch size 20, dropout 0.2 (auto, compact tier:" in result.output  # no budget: by the corpus
    # a rate given is the documented default optimizer's (AdamW): the compact tier's SGD is not picked
    run = read_json(tmp_path / "o" / "run_config.json")
    assert (run["batch_size"], run["bptt"], run["trainer"]["lr"], run["trainer"]["optimizer"]) == (20, 12, 0.004, "adamw")


def test_a_size_option_keeps_the_dataclass_defaults(tiny_corpus, tmp_path):
    train, valid = tiny_corpus
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "o", "--max-steps", 1,
                    "--emb-size", 12, "--batch-size", 4, "--bptt", 10, *FAST)
    assert result.exit_code == 0, result.output
    assert "(auto" not in result.output
    run = read_json(tmp_path / "o" / "run_config.json")
    defaults = BackboneConfig()
    assert (run["backbone"]["num_layers"], run["backbone"]["emb_size"], run["backbone"]["hidden_size"]) == (
        defaults.num_layers, 12, defaults.hidden_size)
    assert run["trainer"]["lr"] == TrainerConfig().lr and run["auto_size"] == [] and run["size_note"] is None


def test_init_from_keeps_the_starting_models_architecture(auto_run, tiny_corpus, tmp_path):
    train, valid = tiny_corpus
    result = invoke("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "o", "--max-steps", 1,
                    "--init-from", auto_run[0], "--no-progress")
    assert result.exit_code == 0, result.output
    assert "(auto" not in result.output
    run = read_json(tmp_path / "o" / "run_config.json")
    start = read_json(auto_run[0] / "run_config.json")
    assert run["backbone"] == start["backbone"] and run["auto_size"] == []
    assert (run["batch_size"], run["trainer"]["lr"]) == (PretrainConfig(train="t", valid="v").batch_size, TrainerConfig().lr)
