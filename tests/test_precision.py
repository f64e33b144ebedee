"""`nlp_apps.precision`: how "auto" picks fp32 or bf16, its two caches, the timing probe, and a resumed run
keeping its precision."""

import json
import os
import time

import numpy as np
import pytest
import torch

from nlp_apps import precision
from nlp_apps.models.backbone import RNNBackbone
from nlp_apps.models.lm import RNNLanguageModel
from nlp_apps.training.pretraining import LanguageModelingTask
from nlp_apps.training.trainer import Trainer, TrainerConfig, seed_everything
from tests.conftest import VOCAB, make_tiny_config


@pytest.fixture(autouse=True)
def fresh_precision_state(monkeypatch, tmp_path):
    """Each test: an empty process cache, a per-test machine cache, "auto" really probing, and a CPU that has bf16."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(precision.ENV_DEFAULT, raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_flags", lambda: ["amx_bf16"])
    monkeypatch.setattr(precision, "machine_is_quiet", lambda: True)  # CI machines are busy; tests decide
    precision._process_cache.clear()
    yield
    precision._process_cache.clear()


class FakeProbe:
    """Stands in for `measure_speedup`: returns `speedup` and counts its calls."""

    def __init__(self, speedup):
        self.speedup, self.calls = speedup, 0

    def __call__(self, model, mode, clock=None):
        self.calls += 1
        return self.speedup


def install_probe(monkeypatch, speedup) -> FakeProbe:
    probe = FakeProbe(speedup)
    monkeypatch.setattr(precision, "measure_speedup", probe)
    return probe


def forbid_probe(monkeypatch) -> None:
    def probe(*args, **kwargs):
        raise AssertionError("the probe must not run here")

    monkeypatch.setattr(precision, "measure_speedup", probe)


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return RNNLanguageModel(make_tiny_config())


# ---- the choice -----------------------------------------------------------------------------------


def test_a_clear_speedup_chooses_bf16(monkeypatch, tiny_model):
    probe = install_probe(monkeypatch, 4.0)
    choice = precision.resolve_precision("auto", tiny_model, "cpu")
    assert choice.precision == "bf16" and probe.calls == 1
    assert "4.00x" in choice.reason and "amx_bf16" in choice.reason
    assert choice.describe().startswith("precision: bf16 (")


def test_a_small_speedup_stays_in_fp32(monkeypatch, tiny_model):
    probe = install_probe(monkeypatch, 1.1)
    choice = precision.resolve_precision("auto", tiny_model, "cpu")
    assert choice.precision == "fp32" and probe.calls == 1
    assert "1.10x" in choice.reason


def test_a_cpu_without_bf16_instructions_stays_in_fp32_without_a_probe(monkeypatch, tiny_model):
    monkeypatch.setattr(precision, "cpu_bf16_flags", list)
    forbid_probe(monkeypatch)
    choice = precision.resolve_precision("auto", tiny_model, "cpu")
    assert choice.precision == "fp32"
    assert "no bf16 instructions" in choice.reason
    assert not precision.cache_file().exists()


def test_a_model_without_recurrent_layers_stays_in_fp32_without_a_probe(monkeypatch):
    forbid_probe(monkeypatch)
    choice = precision.resolve_precision("auto", torch.nn.Linear(3, 2), "cpu")
    assert choice.precision == "fp32" and "layer to probe" in choice.reason


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_an_explicit_precision_is_returned_as_asked(monkeypatch, tiny_model, name):
    forbid_probe(monkeypatch)
    monkeypatch.setenv(precision.ENV_DEFAULT, "bf16" if name == "fp32" else "fp32")  # the default is only for "auto"
    assert precision.resolve_precision(name, tiny_model, "cpu") == precision.Choice(name, "asked for")


def test_the_environment_default_decides_what_auto_means(monkeypatch, tiny_model):
    forbid_probe(monkeypatch)
    monkeypatch.setenv(precision.ENV_DEFAULT, "bf16")
    assert precision.resolve_precision("auto", tiny_model, "cpu").precision == "bf16"
    monkeypatch.setenv(precision.ENV_DEFAULT, "fp32")
    assert precision.resolve_precision("auto", tiny_model, "cpu").precision == "fp32"


def test_default_precision_sets_and_restores_the_environment_default(monkeypatch, tiny_model):
    forbid_probe(monkeypatch)
    with precision.default_precision("bf16"):
        assert precision.resolve_precision("auto", tiny_model, "cpu").precision == "bf16"
    assert precision.ENV_DEFAULT not in os.environ


def test_unknown_precisions_are_refused(monkeypatch, tiny_model):
    forbid_probe(monkeypatch)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        precision.resolve_precision("fp16", tiny_model, "cpu")
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        precision.check_precision("half")
    monkeypatch.setenv(precision.ENV_DEFAULT, "fp8")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        precision.resolve_precision("auto", tiny_model, "cpu")


# ---- the caches -----------------------------------------------------------------------------------


def test_a_second_resolve_in_the_process_does_not_probe_again(monkeypatch, tiny_model):
    probe = install_probe(monkeypatch, 4.0)
    first = precision.resolve_precision("auto", tiny_model, "cpu")
    second = precision.resolve_precision("auto", tiny_model, "cpu")
    assert first == second and probe.calls == 1
    precision.resolve_precision("auto", tiny_model, "cpu", mode="infer")  # another mode is another key
    assert probe.calls == 2


def test_the_machine_cache_is_written_and_read_back_by_a_fresh_process(monkeypatch, tiny_model):
    install_probe(monkeypatch, 4.0)
    first = precision.resolve_precision("auto", tiny_model, "cpu")
    path = precision.cache_file()
    assert path.is_file() and str(path).startswith(os.environ["XDG_CACHE_HOME"])
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert list(entries.values()) == [{"precision": "bf16", "reason": first.reason}]
    (key,) = entries
    assert "train" in key and "LSTM" in key and torch.__version__ in key

    precision._process_cache.clear()  # as a new process sees it
    forbid_probe(monkeypatch)
    cached = precision.resolve_precision("auto", tiny_model, "cpu")
    assert cached.precision == "bf16"
    assert cached.reason == first.reason + " (cached)" and cached.reason.endswith("(cached)")


CORRUPT_CACHES = {
    "not json": lambda key: "{not json",
    "not a dict": lambda key: "[1, 2]",
    "unknown precision": lambda key: json.dumps({key: {"precision": "fp16", "reason": "x"}}),
    "entry not a dict": lambda key: json.dumps({key: 3}),
    "no reason": lambda key: json.dumps({key: {"precision": "bf16"}}),
}


@pytest.mark.parametrize("corruption", list(CORRUPT_CACHES))
def test_a_corrupt_machine_cache_is_ignored(monkeypatch, tiny_model, corruption):
    key = precision.cache_key(precision.probe_shapes(tiny_model), "train", torch.get_num_threads())
    path = precision.cache_file()
    path.parent.mkdir(parents=True)
    path.write_text(CORRUPT_CACHES[corruption](key), encoding="utf-8")
    probe = install_probe(monkeypatch, 4.0)
    choice = precision.resolve_precision("auto", tiny_model, "cpu")
    assert probe.calls == 1 and choice.precision == "bf16" and not choice.reason.endswith("(cached)")
    if corruption != "not json":  # a file that is not JSON at all is left as it is (best effort)
        assert json.loads(path.read_text(encoding="utf-8"))[key]["precision"] == "bf16"  # rewritten with a good entry


# ---- the probe ------------------------------------------------------------------------------------


def test_time_ratio_divides_the_best_slow_time_by_the_best_fast_time():
    calls = []
    # per repeat: start, middle (after slow), end (after fast). Slow takes 4 units at best, fast 1.
    ticks = iter([0, 5, 7, 10, 14, 15, 20, 26, 28])  # slow 5, 4, 6; fast 2, 1, 2
    ratio = precision.time_ratio(lambda: calls.append("slow"), lambda: calls.append("fast"), lambda: next(ticks), repeats=3)
    assert ratio == pytest.approx(4.0)
    assert calls == ["slow", "fast"] * 4  # one warm-up each, then interleaved
    assert next(ticks, None) is None  # three clock reads per repeat


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_the_real_probe_runs_on_a_tiny_model(tiny_model, mode):
    started = time.perf_counter()
    speedup = precision.measure_speedup(tiny_model, mode)
    assert isinstance(speedup, float) and speedup > 0 and np.isfinite(speedup)
    assert time.perf_counter() - started < 5
    assert all(p.dtype == torch.float32 for p in tiny_model.parameters())  # the probe works on copies


def test_bf16_autocast_runs_the_lstm_recurrence_in_bf16(tiny_config):
    assert tiny_config.cell == "lstm"
    torch.manual_seed(0)
    backbone = RNNBackbone(tiny_config)
    tokens = torch.randint(1, VOCAB, (3, 5))
    with precision.autocast("bf16", "cpu"):
        out = backbone(tokens)
    assert out.last_hidden_state.dtype == torch.bfloat16
    assert all(o.dtype == torch.bfloat16 for o in out.layer_outputs)
    with precision.autocast("fp32", "cpu"):
        assert backbone(tokens).last_hidden_state.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in backbone.parameters())  # autocast only: weights stay fp32


# ---- a resumed run keeps its precision ------------------------------------------------------------


def make_lm_task(seed=0):
    seed_everything(seed)
    rng = np.random.default_rng(0)
    task = LanguageModelingTask(RNNLanguageModel(make_tiny_config()), None, rng.integers(4, VOCAB, size=1500),
                                [("valid", rng.integers(4, VOCAB, size=100), 80)], batch_size=5, bptt=9, seed=seed)
    task.save = lambda directory, exact=False: directory.mkdir(parents=True, exist_ok=True)  # no tokenizer to save
    return task


def test_a_resumed_run_keeps_the_precision_it_started_with(monkeypatch, tmp_path):
    monkeypatch.setenv("NLP_APPS_THREADS", "1")  # keep the suite's one thread; no job board
    out = tmp_path / "run"
    install_probe(monkeypatch, 4.0)
    first = Trainer(make_lm_task(), TrainerConfig(epochs=5, max_steps=3, precision="auto", progress=False), out)
    assert first.fit().status == "max_steps"
    assert first.precision.precision == "bf16"
    state = torch.load(out / "last" / "trainer_state.pt", weights_only=True)
    assert state["precision"][0] == "bf16"
    assert json.loads((out / "metrics.json").read_text())["precision"] == "bf16"

    # The machine now says fp32 (no cache either): a resumed run must still use what it started with.
    precision._process_cache.clear()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    probe = install_probe(monkeypatch, 1.0)
    assert precision.resolve_precision("auto", make_lm_task().model, "cpu").precision == "fp32"
    precision._process_cache.clear()
    probe.calls = 0

    second = Trainer(make_lm_task(seed=5), TrainerConfig(epochs=5, max_steps=6, precision="auto", progress=False), out)
    assert second.fit(resume=True).steps == 6
    assert second.precision.precision == "bf16" and "kept from the run's start" in second.precision.reason
    assert probe.calls == 0
    assert json.loads((out / "metrics.json").read_text())["precision"] == "bf16"
    third = Trainer(make_lm_task(seed=5), TrainerConfig(epochs=5, max_steps=8, precision="auto", progress=False), out)
    assert third.fit(resume=True).steps == 8
    assert third.precision.reason.count("kept from the run's start") == 1  # said once, however many resumes
    assert torch.load(out / "last" / "trainer_state.pt", weights_only=True)["precision"][0] == "bf16"


def test_a_probe_taken_on_a_busy_machine_is_kept_for_this_process_only(monkeypatch):
    monkeypatch.setattr(precision, "machine_is_quiet", lambda: False)
    probe = FakeProbe(4.0)
    monkeypatch.setattr(precision, "measure_speedup", probe)
    model = RNNLanguageModel(make_tiny_config())
    assert precision.resolve_precision("auto", model, "cpu").precision == "bf16"
    assert not precision.cache_file().exists()
    assert precision.resolve_precision("auto", model, "cpu").precision == "bf16" and probe.calls == 1
