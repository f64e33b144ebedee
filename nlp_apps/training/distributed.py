"""Data-parallel training over several processes with torch.distributed, launched by torchrun.

    torchrun --standalone --nproc-per-node 4 -m nlp_apps.cli pretrain ...      (one machine)
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id ID \
        -m nlp_apps.cli pretrain ...       (the same on each of two machines; HOST is one of them; a shared filesystem)

Every process holds the whole model and a contiguous share of each global batch. The Trainer runs
each step through PyTorch's DistributedDataParallel (`DataParallelStep`), which averages the
gradients across processes in buckets while the backward pass is still running; each process's loss
is weighed by its share of the batch's units (tokens or examples), so the average is the gradient of
the global batch's mean loss and the update equals the one a single process makes on the whole
batch: the same command line with the same global batch gives the same result, up to floating-point
summation order and the dropout masks, which each process draws for its own rows. Process 0 writes
every file; the others wait for it where they read what it wrote.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op for one process.
"""

from __future__ import annotations

import datetime
import gc
import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

# Process 0 evaluates and writes checkpoints while the others wait; give it time.
TIMEOUT = datetime.timedelta(hours=2)


def init_from_env() -> None:
    """Join the process group torchrun describes in the environment (once; later calls are no-ops)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank())
        # CUDA tensors go through NCCL, CPU tensors (and `--device cpu` runs) through gloo.
        dist.init_process_group("cpu:gloo,cuda:nccl", timeout=TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=TIMEOUT)


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if active():
        dist.barrier()


def shard(count: int) -> slice:
    """This process's contiguous share of `count` items (rows of a batch), as even as possible."""
    size, index = world_size(), rank()
    base, extra = divmod(count, size)
    start = index * base + min(index, extra)
    return slice(start, start + base + (1 if index < extra else 0))


def sum_tensor(values: torch.Tensor) -> torch.Tensor:
    if active():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def max_tensor(values: torch.Tensor) -> torch.Tensor:
    if active():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return values


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Make every process start from process 0's weights."""
    if active():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


def broadcast_object(value: Any) -> Any:
    """Process 0's `value`, on every process."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any) -> list[Any]:
    """Every process's `value`, in rank order, on every process."""
    if not active():
        return [value]
    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


class _Step(nn.Module):
    """A task's training step as a module: DistributedDataParallel sees a forward pass through the task's
    model even though tasks compute their loss with methods of their own (model.loss, a head, ...)."""

    def __init__(self, model: nn.Module, training_step: Callable[[Any], Any], extra: Iterable[nn.Parameter]):
        super().__init__()
        self.model = model
        self.extra = nn.ParameterList(extra)  # trained parameters the model does not hold (rare)
        # A parameter no step reaches: DDP's search for unused parameters always finds one, instead of
        # warning in every process that it found none (from C++, past Python's warning filters).
        self.spare = nn.Parameter(torch.zeros(1, device=next(model.parameters()).device))
        self.training_step = training_step
        self.units = 0
        self.used: list[nn.Parameter] = []  # the parameters the last step trained (after DDP: in any process)

    def forward(self, batch: Any) -> torch.Tensor:
        out = self.training_step(batch)
        self.units = out.units
        if out.units:
            return out.loss
        # This process's share of a short last batch is empty; it still takes part in the gradient
        # reduction, with a zero loss over the parameters the other processes train (those of the last
        # step), so that a parameter nobody trains keeps no gradient, as in one process.
        trained = [p for p in self.used if p.requires_grad] or [p for p in self.parameters() if p.requires_grad and p is not self.spare]
        return torch.stack([p.sum().float() for p in trained]).sum() * 0.0


class DataParallelStep:
    """A task's training step under DistributedDataParallel (gloo on CPU, NCCL on CUDA).

    `forward` runs the step (inside the caller's autocast) and `backward` back-propagates it, so that
    every process ends up with the gradient of the global batch's mean loss per unit. DDP is built
    over the parameters that train now and rebuilt when that set changes (gradual unfreezing), since
    it reduces only the parameters that required a gradient when it was built. It looks for unused
    parameters on every step, so a parameter that a step does not reach (a head not used, a process
    with an empty share) gets the gradient of the processes that reached it, and one that none
    reached keeps none, as in one process; with an LSTM's short autograd graph the search is cheap.
    """

    def __init__(self, model: nn.Module, training_step: Callable[[Any], Any], extra: Iterable[nn.Parameter] = ()):
        held = {id(p) for p in model.parameters()}
        self.module = _Step(model, training_step, [p for p in dict.fromkeys(extra) if id(p) not in held])
        self.ddp: nn.Module | None = None
        self.trainable: tuple[bool, ...] = ()

    def forward(self, batch: Any) -> tuple[torch.Tensor, int]:
        """This process's loss (mean over its units) and its units."""
        trainable = tuple(p.requires_grad for p in self.module.parameters())
        if self.ddp is None or trainable != self.trainable:
            self.close()
            self.ddp = _build_ddp(self.module)
            self.trainable = trainable
        return self.ddp(batch), self.module.units

    def backward(self, loss: torch.Tensor, units: int) -> tuple[float, int]:
        """Back-propagate `loss` weighed so that DDP's average over processes is the gradient of the global
        batch's mean loss; -> (that mean loss, the global batch's units)."""
        local = torch.stack([torch.tensor(float(units), dtype=torch.float64, device=loss.device), loss.detach().double() * units])
        total = sum_tensor(local)
        (loss.float() * (world_size() * units / total[0]).float()).backward()  # (the weight in float32 even for a bf16 loss)
        self.module.used = [p for p in self.module.parameters() if p.grad is not None]
        total_units, weighted = total.tolist()
        return weighted / max(total_units, 1.0), int(total_units)

    def close(self) -> None:
        """Drop the DDP wrapper; its reducer's hooks leave the parameters with it."""
        if self.ddp is not None:
            self.ddp = None
            gc.collect()


def _build_ddp(module: nn.Module) -> nn.Module:
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    # Buffers are not trained: no broadcast before every forward (torch 2.13 renamed the flag). The
    # parameters are equal in every process already (broadcast_parameters, then the same updates);
    # DDP checks their shapes and broadcasts them once more when it is built, which is cheap.
    flag = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters else "broadcast_buffers"
    return DistributedDataParallel(module, find_unused_parameters=True, **{flag: False})
