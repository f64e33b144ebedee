"""Shared fixtures: tiny, mutually distinct sizes so that a swapped axis fails loudly.

Tests that read the real data sets in ../shared/data are marked `@pytest.mark.slow` and run only
with NLP_APPS_SLOW=1; `shared_data()` skips them cleanly where the data is absent.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Hermetic: no installed third-party task plug-ins unless a test installs one itself.
os.environ.setdefault("NLP_APPS_DISABLE_PLUGIN_AUTOLOAD", "1")

# Tiny models run fastest on one thread, and CI machines are shared. NLP_APPS_THREADS makes the
# Trainer (and CLI subprocesses) keep one thread and stay off the job board of real training runs.
torch.set_num_threads(1)
os.environ.setdefault("NLP_APPS_THREADS", "1")
# Tests compare numbers: fp32 everywhere unless a test asks for bf16 (tests/test_precision.py probes).
os.environ.setdefault("NLP_APPS_PRECISION", "fp32")

SHARED_DATA = Path(os.environ.get("NLP_APPS_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

VOCAB, EMB, HIDDEN, BATCH, STEPS = 37, 10, 24, 5, 7


def make_corpus(lines: int, seed: int) -> str:
    """A small text with real structure (so a model can learn it) and some odd whitespace."""
    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "my old friend", "the river", "Anna", "the lamp"]
    verbs = ["sees", "follows", "remembers", "crosses", "lights", "finds"]
    objects = ["the moon.", "a small boat.", "the bridge.", "her brother!", "the garden?", "two birds."]
    out = []
    for _ in range(lines):
        out.append(f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)}")
    return "\n".join(out) + "\n"


def write_tiny_corpus(folder: Path) -> tuple[Path, Path]:
    train, valid = folder / "train.txt", folder / "valid.txt"
    train.write_text(make_corpus(400, seed=1), encoding="utf-8")
    valid.write_text(make_corpus(40, seed=2), encoding="utf-8")
    return train, valid


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> tuple[Path, Path]:
    return write_tiny_corpus(tmp_path)


def make_tiny_config():
    from nlp_apps.models.backbone import BackboneConfig

    return BackboneConfig(
        vocab_size=VOCAB, emb_size=EMB, hidden_size=HIDDEN, num_layers=2,
        input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0,
    )


@pytest.fixture
def tiny_config():
    return make_tiny_config()


def pytest_collection_modifyitems(config, items) -> None:
    """`slow` tests (real data, minutes) run only with NLP_APPS_SLOW=1."""
    if os.environ.get("NLP_APPS_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow real-data test: set NLP_APPS_SLOW=1 to run it")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; the calling test (or module) is skipped where it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}", allow_module_level=True)
    return path


def torchrun(*args, processes: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    """`nlp-apps ARGS` in `processes` data-parallel processes (torchrun, gloo on CPU); with `check`, must succeed."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               "-m", "nlp_apps.cli", *[str(a) for a in args]]
    outputs = [Path(args[i + 1]) for i, arg in enumerate(args[:-1]) if arg == "--out"]
    proc = launch(command, env=env, cwd=root, timeout=300, outputs=outputs)
    assert proc.returncode == 0 or not check, launch_failure(proc)
    return proc


# What gloo says when a peer's socket goes away during rendezvous or the first collective: on a loaded machine a
# process can be slow to connect and the other times out. Only these are retried; every other failure is the test's.
GLOO_CONNECTION_ERRORS = ("Connection closed by peer", "Connection reset by peer", "Connection refused", "Broken pipe")


def launch(command: list[str], *, env: dict, cwd: Path, timeout: int, outputs=()) -> subprocess.CompletedProcess:
    """Run a torchrun command; launch it once more, on fresh `outputs` (folders its runs write), if it failed with a
    gloo connection error."""
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if proc.returncode != 0 and any(error in proc.stderr for error in GLOO_CONNECTION_ERRORS):
        print(f"torchrun: a gloo connection error, launching once more; the first launch's stderr ended:\n{proc.stderr[-2000:]}")
        for folder in outputs:
            shutil.rmtree(folder, ignore_errors=True)
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return proc


def launch_failure(proc: subprocess.CompletedProcess) -> str:
    """The end of a failed launch's stderr, every rank's lines included (a crashed rank's traceback names no rank)."""
    return f"torchrun exited with {proc.returncode}; its stderr ended:\n{proc.stderr[-6000:]}"


EXAMPLE_TASK = Path(__file__).resolve().parents[1] / "examples" / "truecase"


def example_entry_point():
    """The one line of the example's pyproject.toml that makes it a task."""
    import tomllib
    from importlib import metadata

    from nlp_apps.registry import ENTRY_POINT_GROUP

    project = tomllib.loads((EXAMPLE_TASK / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    ((name, value),) = project["entry-points"][ENTRY_POINT_GROUP].items()
    return metadata.EntryPoint(name, value, ENTRY_POINT_GROUP)


@pytest.fixture(scope="session")
def data_parallel_runs(tiny_language_model, tmp_path_factory) -> dict:
    """Every task's `train` (the installed ones and the example) in 2 processes, all in one torchrun launch
    (tests/data_parallel_jobs.py), for the contract's 2-processes-against-1 checks: per task, a short run
    (tests.test_contract.data_parallel_args) and the same with a batch too small to share out.
    Returns {task: {"args", "out", "code", "output", "output_rank1", "refused", "refused_out"}}.

    Under pytest-xdist the first worker to ask launches it and the others read its results (test_contract.py and
    test_example_task.py both use it): two launches at once would put 4 processes on a 2-core machine."""
    import json

    from filelock import FileLock

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return launch_data_parallel_runs(tiny_language_model, tmp_path_factory.mktemp("data_parallel"))
    folder = tmp_path_factory.getbasetemp().parent / "data_parallel"  # the session's, shared by its workers
    summary = folder / "runs.json"
    with FileLock(f"{folder}.lock"):
        if not summary.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # a launch that failed in another worker
            folder.mkdir()
            runs = launch_data_parallel_runs(tiny_language_model, folder)
            summary.write_text(json.dumps(runs, default=str), encoding="utf-8")
    runs = json.loads(summary.read_text(encoding="utf-8"))
    for run in runs.values():
        run.update(out=Path(run["out"]), refused_out=Path(run["refused_out"]))
    return runs


def launch_data_parallel_runs(tiny_language_model: Path, folder: Path) -> dict:
    import json
    from importlib import metadata

    from nlp_apps.registry import ENTRY_POINT_GROUP, Registry, validate_spec
    from tests.test_contract import data_parallel_args

    example = example_entry_point()
    sys.path.insert(0, str(EXAMPLE_TASK))
    try:
        specs = [validate_spec(ep.load(), ep.name) for ep in (*metadata.entry_points(group=ENTRY_POINT_GROUP), example)]
    finally:
        sys.path.remove(str(EXAMPLE_TASK))
    runs, jobs = {}, []
    for spec in specs:
        if spec.training is None or spec.demo_data is None:
            continue
        Registry().register(spec, entry_name=spec.name)  # as the CLI does: this adds the core-built train command
        args = data_parallel_args(spec, tiny_language_model, folder / spec.name)
        runs[spec.name] = {"args": args, "out": folder / spec.name / "two", "refused_out": folder / spec.name / "refused", "job": len(jobs)}
        jobs.append([spec.name, "train", *args, "--out", runs[spec.name]["out"]])
        jobs.append([spec.name, "train", *args, "--batch-size", 1, "--out", runs[spec.name]["refused_out"]])
    job_file = folder / "jobs.json"
    job_file.write_text(json.dumps({"plugins": [f"{example.name}={example.value}"], "jobs": [[str(a) for a in job] for job in jobs]}), encoding="utf-8")
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                                                             "NLP_APPS_DISABLE_PLUGIN_AUTOLOAD")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(root), str(EXAMPLE_TASK)]))
    proc = launch([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "tests.data_parallel_jobs",
                   str(job_file)], env=env, cwd=root, timeout=600,
                  outputs=[run[key] for run in runs.values() for key in ("out", "refused_out")])
    assert proc.returncode == 0, launch_failure(proc)
    for run in runs.values():
        first = json.loads(Path(f"{job_file}.{run['job']}.rank0.json").read_text(encoding="utf-8"))
        refused = json.loads(Path(f"{job_file}.{run['job'] + 1}.rank0.json").read_text(encoding="utf-8"))
        other = json.loads(Path(f"{job_file}.{run['job']}.rank1.json").read_text(encoding="utf-8"))
        run.update(code=first["code"], output=first["output"], output_rank1=other["output"], refused=refused)
    return runs


@pytest.fixture(scope="session")
def tiny_language_model(tmp_path_factory) -> Path:
    """A tiny bidirectional LM directory with its own sentencepiece tokenizer (trained once per session)."""
    from nlp_apps.data.tokenizer import SentencePieceTokenizer
    from nlp_apps.models.backbone import BackboneConfig
    from nlp_apps.models.lm import RNNLanguageModel

    folder = tmp_path_factory.mktemp("tiny_lm")
    corpus = folder / "corpus.txt"
    corpus.write_text(make_corpus(400, seed=11), encoding="utf-8")
    tokenizer = SentencePieceTokenizer.train(corpus, vocab_size=300)
    config = BackboneConfig(vocab_size=tokenizer.vocab_size, emb_size=12, hidden_size=20, bidirectional=True,
                            input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)
    torch.manual_seed(0)
    RNNLanguageModel(config).save_pretrained(folder / "lm", tokenizer=tokenizer)
    return folder / "lm"


@pytest.fixture
def plugins_on(monkeypatch):
    """The installed entry points, as a user has them (the suite turns autoload off by default)."""
    from nlp_apps.registry import reset_registry

    monkeypatch.delenv("NLP_APPS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    reset_registry()
    yield
    reset_registry()
