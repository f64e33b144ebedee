"""Data-parallel training through torchrun (gloo on CPU): the same command line with the same global
batch gives the same model as one process (DistributedDataParallel under the Trainer), on one machine
or on two rehearsed on one, and a run resumes under another process count."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
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


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory, two_process_run):
    """The same 6 steps in one process."""
    (train, valid), _, _ = two_process_run
    out = tmp_path_factory.mktemp("one_process") / "one"
    one_process("pretrain", "--train", train, "--valid", valid, "--out", out, "--max-steps", 6, *TINY)
    return out


def test_two_processes_train_the_same_model_as_one(one_process_run, two_process_run):
    _, two, proc = two_process_run
    one = one_process_run
    assert_same_weights(final_weights(one), final_weights(two))
    one_metrics, two_metrics = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert two_metrics["steps"] == one_metrics["steps"] == 6
    assert two_metrics["tok_trained"] == one_metrics["tok_trained"]  # each process trained on its share of the rows, not on all of them
    assert (two / "model.safetensors").is_file()
    assert proc.stderr.count("training a sentencepiece tokenizer") == 1  # only process 0 prepares and logs
    assert "find_unused_parameters" not in proc.stderr  # DDP's warning that it found none (see distributed._Step)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_machines_rehearsed_on_one_train_the_same_model_as_one_process(tmp_path, two_process_run, one_process_run):
    """README's multi-machine recipe: two torchrun agents (nodes 0 and 1) meet at a c10d rendezvous (here 127.0.0.1,
    on a free port), one process each, and write into one --out (a shared filesystem between real machines)."""
    (train, valid), _, _ = two_process_run
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    port, nodes = free_port(), []
    for node in (0, 1):
        # No --node-rank: the c10d rendezvous numbers the machines as they arrive (torchrun ignores it there).
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                   "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "rehearsal",
                   "-m", "nlp_apps.cli", "pretrain", "--train", train, "--valid", valid, "--out", tmp_path / "run", "--max-steps", 6, *TINY]
        log = open(tmp_path / f"node{node}.log", "w")  # noqa: SIM115 (closed below)
        nodes.append((subprocess.Popen([str(a) for a in command], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
                                       start_new_session=True), log))
    try:
        codes = [process.wait(timeout=300) for process, _ in nodes]
    finally:
        for process, log in nodes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the agent and its worker
            log.close()
    logs = [(tmp_path / f"node{node}.log").read_text() for node in (0, 1)]
    assert codes == [0, 0], "\n".join(f"node {node} exited with {code}; its log ended:\n{text[-3000:]}" for node, (code, text) in enumerate(zip(codes, logs)))
    assert_same_weights(final_weights(one_process_run), final_weights(tmp_path / "run"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["tok_trained"] == json.loads((one_process_run / "metrics.json").read_text())["tok_trained"]


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


class Toy(torch.nn.Module):
    """Rows 0 and 1 reach `flagged`, no row reaches `nowhere`."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
        self.flagged = torch.nn.Parameter(torch.randn(3))
        self.nowhere = torch.nn.Parameter(torch.randn(3))

    def loss(self, x: torch.Tensor, rows: list[int]) -> torch.Tensor:
        loss = self.linear(x).pow(2).sum()
        flagged = [i for i, row in enumerate(rows) if row < 2]
        if flagged:  # control flow: the parameter is reached only by the shares that hold such a row
            loss = loss + (x[flagged] * self.flagged).sum(-1).pow(2).sum()
        return loss / len(rows)  # a mean over rows, like a task's loss over its units


def _data_parallel_step_worker(rank: int, init_file: str) -> None:
    import copy
    import datetime
    import weakref

    from nlp_apps.training import distributed
    from nlp_apps.training.trainer import StepOutput

    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=30))
    try:
        torch.manual_seed(0)
        inputs, model = torch.randn(5, 3), Toy()
        single = copy.deepcopy(model)  # one process's reference: the whole global batch

        def training_step(batch: list[int]) -> StepOutput:
            rows = batch[distributed.shard(len(batch))]
            if not rows:  # what BatchedTask.empty_step gives
                return StepOutput(loss=torch.zeros(()), units=0)
            return StepOutput(loss=model.loss(inputs[rows], rows), units=len(rows))

        step = distributed.DataParallelStep(model, training_step)
        names = [name for name, _ in model.named_parameters()]
        built, build = [], distributed._build_ddp  # which steps build DDP (holding a DDP would keep its hooks alive)
        distributed._build_ddp = lambda module: built.append(index) or build(module)
        # [0, 1, 2]: only process 0's share reaches `flagged`; [0]: process 1's share is empty; [3]: empty again,
        # and no share reaches `flagged`; then the bias is frozen and let in again (DDP is rebuilt each time).
        steps = [([0, 1, 2], False), ([0], False), ([2, 3], False), ([3], False), ([2, 3, 4], True), ([0, 1, 4], False)]
        for index, (batch, frozen) in enumerate(steps):
            for m in (model, single):
                m.linear.bias.requires_grad_(not frozen)
                m.zero_grad(set_to_none=True)
            loss, units = step.forward(batch)
            mean, total = step.backward(loss, units)
            expected = single.loss(inputs[batch], batch)
            expected.backward()
            assert total == len(batch) and abs(mean - expected.item()) < 1e-5, (batch, mean, expected.item())
            for name, mine, theirs in zip(names, model.parameters(), single.parameters()):
                assert (mine.grad is None) == (theirs.grad is None), (batch, name, mine.grad, theirs.grad)
                if theirs.grad is not None:
                    torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-5, atol=1e-6, msg=f"{batch} {name}")
        assert model.nowhere.grad is None and model.flagged.grad is not None
        assert built == [0, 4, 5]
        ddp = weakref.ref(step.ddp)
        step.close()
        assert ddp() is None  # its reducer went with it: a backward on the bare model is local again
        if rank == 0:
            model.loss(inputs[:2], [0, 1]).backward()
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def test_data_parallel_step_gives_one_process_gradients(tmp_path):
    import torch._dynamo  # DDP imports it, which takes seconds: once here rather than in both workers

    # Forked from this process, which has torch imported already: spawning 2 fresh interpreters costs seconds.
    context = torch.multiprocessing.start_processes(_data_parallel_step_worker, args=(str(tmp_path / "init"),), nprocs=2,
                                                    join=False, start_method="fork")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):  # raises if a worker failed
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail("the two workers did not finish within 120 s")
