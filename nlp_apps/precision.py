"""Which floating-point precision a model runs in: fp32, or bf16 autocast where the hardware pays for it.

`--precision auto` (the default everywhere) asks `resolve_precision`, which decides per model and
per device:

- CUDA: bf16 where the GPU supports it, fp32 otherwise.
- CPU without bf16 instructions (neither AMX nor AVX512-BF16): fp32, without a probe.
- CPU with them: a short probe times the model's own recurrent layers (and its output matmul) in
  fp32 and under bf16 autocast, on this process's threads; bf16 is chosen when it is at least
  `MIN_SPEEDUP` times faster. AMX processors pass (about 4x on an LSTM); an AVX512-BF16 processor
  without AMX runs bf16 slower than fp32 and stays in fp32.

A probe takes well under a second and is cached twice: per process, and per machine in
`$XDG_CACHE_HOME/nlp-apps/precision.json` (default ~/.cache), keyed by CPU model, torch version,
threads and the layer shapes. Master weights and optimizer state always stay fp32: bf16 is only
autocast, and saved models are unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.3  # bf16 must beat fp32 by this factor on the probe to be chosen
PROBE_BATCH, PROBE_STEPS, PROBE_REPEATS = 16, 32, 3
ENV_DEFAULT = "NLP_APPS_PRECISION"  # the process-wide default for "auto" (the root --precision option sets it)

_process_cache: dict[str, Choice] = {}


@dataclass(frozen=True)
class Choice:
    precision: str  # fp32 | bf16
    reason: str  # one line: why

    def describe(self) -> str:
        return f"precision: {self.precision} ({self.reason})"


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    return name


def resolve_precision(requested: str, model, device, mode: str = "train") -> Choice:
    """The precision to run `model` in on `device`. `mode` is "train" (forward + backward) or "infer"."""
    import torch

    requested = check_precision(requested)
    if requested == "auto":
        requested = check_precision(os.environ.get(ENV_DEFAULT, "auto") or "auto")
    if requested != "auto":
        return Choice(requested, "asked for")
    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Choice("bf16", f"{torch.cuda.get_device_name(device)} supports bf16")
        return Choice("fp32", f"{torch.cuda.get_device_name(device)} has no bf16")
    if device.type != "cpu":
        return Choice("fp32", f"no probe for device {device.type}")
    flags = cpu_bf16_flags()
    if not flags:
        return Choice("fp32", "this CPU has no bf16 instructions (no AMX, no AVX512-BF16)")
    shapes = probe_shapes(model)
    if not shapes["recurrent"]:
        return Choice("fp32", "the model has no nn.LSTM, nn.GRU or nn.RNN layer to probe")
    key = cache_key(shapes, mode, torch.get_num_threads())
    if key in _process_cache:
        return _process_cache[key]
    choice = _read_machine_cache(key)
    if choice is None:
        quiet = machine_is_quiet()  # judged before the probe adds its own load
        speedup = measure_speedup(model, mode)
        choice = Choice("bf16" if speedup >= MIN_SPEEDUP else "fp32",
                        f"bf16 ran at {speedup:.2f}x fp32's speed on this model's layers; {'+'.join(flags)}")
        if quiet:  # a probe taken beside other work can be far off: keep it for this process only
            _write_machine_cache(key, choice)
    _process_cache[key] = choice
    return choice


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """bf16 autocast for "bf16", nothing for "fp32"."""
    import torch

    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")


def inference(method: Callable) -> Callable:
    """Run a pipeline method under the pipeline's precision (its `precision` attribute, "auto" if unset;
    resolved once per pipeline from its `model`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        choice = getattr(self, "_precision_choice", None)
        if choice is None:
            device = next(self.model.parameters()).device
            choice = resolve_precision(getattr(self, "precision", "auto"), self.model, device, mode="infer")
            self._precision_choice = choice
        with autocast(choice.precision, next(self.model.parameters()).device):
            return method(self, *args, **kwargs)

    return wrapper


# ---- the probe ------------------------------------------------------------------------------------


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 instruction sets that torch can use: "amx_bf16", "avx512_bf16" (possibly both)."""
    import torch

    flags = []
    with contextlib.suppress(AttributeError, RuntimeError):
        if torch.cpu._is_amx_tile_supported():
            flags.append("amx_bf16")
    with contextlib.suppress(AttributeError, RuntimeError):
        if torch.cpu._is_avx512_bf16_supported():
            flags.append("avx512_bf16")
    return flags


def machine_is_quiet() -> bool:
    """Whether at most about one core's worth of other work is running (1-minute load average), so a
    probe's timing can be kept for later processes."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return True
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return load <= max(1.0, cores - 0.5)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe_shapes(model) -> dict:
    """The model's distinct recurrent layers (cell, input, hidden) and its largest output matmul."""
    from torch import nn

    recurrent, outputs = set(), [(0, 0)]
    for module in model.modules():
        if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
            recurrent.add((type(module).__name__, module.input_size, module.hidden_size))
        elif isinstance(module, nn.Embedding):
            outputs.append((module.embedding_dim, module.num_embeddings))
    return {"recurrent": sorted(recurrent), "output": max(outputs, key=lambda s: s[0] * s[1])}


def cache_key(shapes: dict, mode: str, threads: int) -> str:
    import torch

    layers = ",".join(f"{cell}{n_in}x{n_out}" for cell, n_in, n_out in shapes["recurrent"])
    out = "x".join(map(str, shapes["output"]))
    return f"{cpu_model()}|torch {torch.__version__}|{threads} threads|{mode}|{layers}|out {out}"


def measure_speedup(model, mode: str, clock: Callable[[], float] = time.perf_counter) -> float:
    """fp32 time / bf16-autocast time of one step of a stand-in for the model: copies of its distinct
    recurrent layers and its output matmul with a softmax loss; for "train" also the backward pass and
    an AdamW update (fp32 in both, as in real training), so the ratio is that of a whole step."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    probes, seen = [], set()
    for module in model.modules():
        key = (type(module).__name__, getattr(module, "input_size", 0), getattr(module, "hidden_size", 0))
        if isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)) and key not in seen:  # one probe per distinct shape
            seen.add(key)
            probes.append(copy.deepcopy(module).float().train(mode == "train"))
    emb, vocab = probe_shapes(model)["output"]
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(PROBE_BATCH, PROBE_STEPS, layer.input_size, generator=generator) for layer in probes]
    inputs = [x if layer.batch_first else x.transpose(0, 1) for layer, x in zip(probes, inputs)]
    params = [p for layer in probes for p in layer.parameters()]
    if emb:
        projection = nn.Parameter(torch.randn(vocab, emb, generator=generator) * 0.01)
        top = torch.randn(PROBE_BATCH * PROBE_STEPS, emb, generator=generator)
        targets = torch.randint(vocab, (PROBE_BATCH * PROBE_STEPS,), generator=generator)
        params.append(projection)
    optimizer = torch.optim.AdamW(params, lr=1e-9) if mode == "train" else None

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), torch.set_grad_enabled(mode == "train"):
            loss = sum(layer(x)[0].float().square().mean() for layer, x in zip(probes, inputs))
            if emb:
                loss = loss + F.cross_entropy((top @ projection.t()).float(), targets)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    return time_ratio(lambda: step(False), lambda: step(True), clock)


def time_ratio(slow: Callable[[], None], fast: Callable[[], None], clock: Callable[[], float], repeats: int = PROBE_REPEATS) -> float:
    """Best time of `slow` / best time of `fast`, after one warm-up call each, calls interleaved."""
    slow(), fast()
    best_slow = best_fast = float("inf")
    for _ in range(repeats):
        start = clock()
        slow()
        middle = clock()
        fast()
        end = clock()
        best_slow, best_fast = min(best_slow, middle - start), min(best_fast, end - middle)
    return best_slow / max(best_fast, 1e-12)


# ---- the per-machine cache ------------------------------------------------------------------------


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nlp-apps" / "precision.json"


def _read_machine_cache(key: str) -> Choice | None:
    try:
        entry = json.loads(cache_file().read_text(encoding="utf-8"))[key]
        return Choice(check_precision(entry["precision"]), entry["reason"] + " (cached)")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_machine_cache(key: str, choice: Choice) -> None:
    """Best effort: a read-only home or a race with another process costs only a later probe."""
    from nlp_apps.data.fileio import atomic_write_json

    path = cache_file()
    try:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing or damaged: start afresh
            entries = {}
        if not isinstance(entries, dict):
            entries = {}
        entries[key] = {"precision": choice.precision, "reason": choice.reason}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, entries)
    except (OSError, ValueError):
        pass


@contextlib.contextmanager
def default_precision(name: str) -> Iterator[None]:
    """Within the block, "auto" means `name` (the root --precision option; tests)."""
    previous = os.environ.get(ENV_DEFAULT)
    os.environ[ENV_DEFAULT] = check_precision(name)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ENV_DEFAULT, None)
        else:
            os.environ[ENV_DEFAULT] = previous
