"""Data-parallel training through torchrun (gloo on CPU): the same command line with the same global
batch gives the same model as one process, and a run resumes under another process count."""

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from nlp_apps.cli import cli
from tests.conftest import torchrun, write_tiny_corpus

# Dropout off: each process draws masks for its own rows, so only dropout-free runs can match exactly.
TINY = ["--vocab-size", "300", "--layers", "2", "--emb-size", "12", "--hidden-size", "20", "--batch-size", "6",
        "--bptt", "10", "--bidirectional", "--input-dropout", "0", "--hidden-dropout", "0", "--output-dropout", "0",
        "--schedule", "constant", "--lr", "0.01", "--no-progress", "--seed", "1"]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")


def one_process(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "last" / "model.safetensors")


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        torch.testing.assert_close(value, b[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """One torchrun launch (process start-up is most of its cost) that two tests read: 6 steps in
    2 processes into `split`, which the tests only read or copy. Returns (corpus, run, torchrun result)."""
    folder = tmp_path_factory.mktemp("two_processes")
    corpus = write_tiny_corpus(folder)
    proc = torchrun("pretrain", "--train", corpus[0], "--valid", corpus[1], "--out", folder / "split", "--max-steps", 6, *TINY)
    return corpus, folder / "split", proc


def test_two_processes_train_the_same_model_as_one(tmp_path, two_process_run):
    (train, valid), two, proc = two_process_run
    one_process("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "one", "--max-steps", 6, *TINY)
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(two))
    one_metrics, two_metrics = (json.loads((run / "metrics.json").read_text()) for run in (tmp_path / "one", two))
    assert two_metrics["steps"] == one_metrics["steps"] == 6
    assert two_metrics["tok_trained"] == one_metrics["tok_trained"]  # each process trained on its share of the rows, not on all of them
    assert (two / "model.safetensors").is_file()
    assert proc.stderr.count("training a sentencepiece tokenizer") == 1  # only process 0 prepares and logs


def test_a_two_process_run_resumes_in_one_process(tmp_path, two_process_run):
    (train, valid), two, _ = two_process_run
    one_process("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "straight", "--max-steps", 14, *TINY)
    split = shutil.copytree(two, tmp_path / "split")  # resuming writes into the run: work on a copy
    # The carried recurrent state of all 6 rows was gathered from both processes into last/.
    one_process("pretrain", "--resume", split, "--max-steps", 14)
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(split))


def test_more_processes_than_batch_rows_is_refused_before_anything_is_written(tmp_path, tiny_corpus):
    train, valid = tiny_corpus
    proc = torchrun("pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "run", *TINY, "--batch-size", 1, check=False)
    assert proc.returncode != 0
    assert "Error: batch size 1 is smaller than the 2 processes; each process needs at least one row" in proc.stderr
    assert not (tmp_path / "run").exists()


def _sum_gradients_worker(rank: int, init_file: str) -> None:
    from nlp_apps.training import distributed

    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        shared, only_rank0, nowhere = (torch.nn.Parameter(torch.zeros(3)) for _ in range(3))
        shared.grad = torch.full((3,), float(rank + 1))
        if rank == 0:
            only_rank0.grad = torch.ones(3)
        total = distributed.sum_gradients([shared, only_rank0, nowhere], torch.tensor(0.5))
        assert torch.equal(shared.grad, torch.full((3,), 3.0))
        assert torch.equal(only_rank0.grad, torch.ones(3))  # zeros from process 1, not a mismatched message
        assert nowhere.grad is None  # no gradient anywhere stays None, as in one process
        assert total.item() == 1.0
    finally:
        torch.distributed.destroy_process_group()


def test_sum_gradients_fills_in_a_gradient_that_only_one_process_has(tmp_path):
    # Forked from this process, which has torch imported already: spawning 2 fresh interpreters costs seconds.
    context = torch.multiprocessing.start_processes(_sum_gradients_worker, args=(str(tmp_path / "init"),), nprocs=2,
                                                    join=False, start_method="fork")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):  # raises if a worker failed
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two workers did not finish within 120 s")
