"""Data-parallel training over several processes with torch.distributed, launched by torchrun.

    torchrun --nproc-per-node 4 --no-python nlp-apps pretrain ...      (one machine)
    torchrun --nnodes 2 --node-rank R --master-addr HOST ... nlp-apps ...   (several; a shared filesystem)

Every process holds the whole model and a contiguous share of each global batch. The Trainer
weighs each process's gradient by its share of the batch's units (tokens or examples) and sums
them, so the update equals the one a single process makes on the whole batch: the same command
line with the same global batch gives the same result, up to floating-point summation order and
the dropout masks, which each process draws for its own rows. Process 0 writes every file;
the others wait for it where they read what it wrote.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op for one process.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
import torch.distributed as dist

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


def sum_gradients(parameters: list[torch.nn.Parameter], extra: torch.Tensor) -> torch.Tensor:
    """Sum every parameter's .grad across processes in one flat message, with `extra` riding along.

    A parameter that has a gradient in some process but not in this one (a share of the batch that
    never reached it) gets zeros here; one that has none anywhere keeps None, as in one process.
    """
    if not active():
        return extra
    has_grad = torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32, device=extra.device)
    dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
    for p, anywhere in zip(parameters, has_grad.tolist()):
        if anywhere and p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in parameters if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads] + [extra.reshape(-1).to(grads[0].dtype if grads else extra.dtype)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return flat[offset:].view_as(extra).to(extra.dtype)


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
