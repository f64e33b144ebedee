"""How many CPU threads a process uses, and how training jobs on one machine share the cores.

The default is the cores this process may run on (`os.sched_getaffinity`), divided among the local
processes under torchrun. An explicit choice wins, in this order: `nlp-apps --threads N`, then
NLP_APPS_THREADS, then OMP_NUM_THREADS (outside torchrun, which sets it to 1 on its own).

Why jobs share: torch's OpenMP threads spin while they wait for each other. Two jobs with two
threads each on two cores spin against each other, and each got 0.20x of its speed alone (measured,
docs/benchmarks.md). A passive wait policy fixes that but costs 16-28% alone. So each training job
with automatic threads registers in a job board (one file per process in a per-user temporary
folder) and, every few seconds, takes its share of the cores it competes for: two jobs on two
cores run one thread each (0.6x of alone each), and a job that finds itself alone again takes
them all back.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ENV_THREADS = "NLP_APPS_THREADS"
REBALANCE_EVERY_S = 3.0


def available_cores() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def local_processes(env=os.environ) -> int:
    """Processes on this machine under torchrun (LOCAL_WORLD_SIZE), 1 without it."""
    value = env.get("LOCAL_WORLD_SIZE", "").strip() or "1"
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"LOCAL_WORLD_SIZE must be a whole number, got {value!r}") from None


def choose_threads(env=os.environ, cores: int | None = None) -> tuple[int, str, bool]:
    """-> (threads, why, automatic). `automatic` runs may rebalance against other jobs."""
    cores = cores if cores is not None else len(available_cores())
    local = local_processes(env)
    for name in (ENV_THREADS,) + (("OMP_NUM_THREADS",) if local == 1 else ()):
        value = env.get(name, "").strip()
        if value:
            try:
                threads = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {value!r}") from None
            if threads < 1:
                raise ValueError(f"{name} must be at least 1, got {threads}")
            return threads, name, False
    if local > 1:
        return max(1, cores // local), f"{cores} cores shared by {local} local processes", False
    return cores, f"{cores} cores this process may run on", True


def configure_threads(requested: int) -> None:
    """`nlp-apps --threads N`: every later choice in this process (and its children) takes N."""
    if requested < 1:
        raise ValueError(f"--threads must be at least 1, got {requested}")
    for name in (ENV_THREADS, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(requested)
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(requested)


def apply_threads() -> tuple[int, str, bool]:
    """Give torch the threads `choose_threads` picks -> (threads, why, automatic)."""
    import torch

    threads, why, automatic = choose_threads()
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads, why, automatic and local_processes() == 1


class JobBoard:
    """Training jobs of this user on this machine, one JSON file per process: its pid and the cores it may use."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder or Path(tempfile.gettempdir()) / f"nlp-apps-jobs-{os.getuid() if hasattr(os, 'getuid') else 0}")
        self.entry = self.folder / f"{os.getpid()}.json"
        self.cores = available_cores()

    def register(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.entry.write_text(json.dumps({"pid": os.getpid(), "cores": sorted(self.cores)}))
        except OSError:  # no board: this job just keeps its threads
            pass

    def unregister(self) -> None:
        try:
            self.entry.unlink()
        except OSError:
            pass

    def machine_load(self) -> float:
        """The 1-minute load average: about one per busy thread on the machine, this job's included."""
        try:
            return os.getloadavg()[0]
        except (AttributeError, OSError):
            return 0.0

    def competing_jobs(self) -> int:
        """Live registered jobs (this one included) whose cores overlap this job's; stale entries are removed."""
        count = 1
        try:
            entries = list(self.folder.glob("*.json"))
        except OSError:
            return 1
        for path in entries:
            if path == self.entry:
                continue
            try:
                job = json.loads(path.read_text())
                pid = int(job["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not _alive(pid):
                path.unlink(missing_ok=True)
                continue
            if self.cores & set(job.get("cores", [])):
                count += 1
        return count


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


_registrations: dict[Path, int] = {}  # board entry -> ThreadSharing blocks open on it in this process


class ThreadSharing:
    """Used by the Trainer, and around evaluation and prediction: registers the job and, every
    REBALANCE_EVERY_S seconds (at each `check`), sets torch's threads to this job's share of its cores.
    Does nothing where threads were chosen explicitly. Blocks nest (a demo's training inside its
    sharing): the job leaves the board when the outermost ends, and each an inner one gives back the enclosing one's threads."""

    def __init__(self, log=None, board: JobBoard | None = None, clock=time.monotonic):
        import torch

        self.found = torch.get_num_threads()
        self.full, _, self.enabled = apply_threads()
        self.board = board or JobBoard()
        self.current = self.full
        self.log, self.clock = log, clock
        self.next_check = 0.0

    def start(self) -> None:
        if self.enabled:
            open_blocks = _registrations.get(self.board.entry, 0)
            if not open_blocks:
                self.board.register()
            _registrations[self.board.entry] = open_blocks + 1
            self.check()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.enabled:
            open_blocks = _registrations.pop(self.board.entry, 1) - 1
            if open_blocks:
                _registrations[self.board.entry] = open_blocks
                self._set(self.found, None)  # the enclosing block's share
            else:
                self.board.unregister()
                self._set(self.full, None)

    def check(self) -> None:
        if not self.enabled or self.clock() < self.next_check:
            return
        self.next_check = self.clock() + REBALANCE_EVERY_S
        jobs = self.board.competing_jobs()
        share = max(1, self.full // jobs)
        # Work that is not on the board (another program, a test run) shows in the load average: what
        # is left of it once this job's own busy threads are taken out is what the others keep busy.
        others = max(0.0, self.board.machine_load() - self.current)
        free = min(share, max(1, round(self.full - others)))
        if free < share:
            if free != self.current:
                self._set(free, f"threads: {free} (other work keeps about {others:.1f} of {self.full} cores busy)")
        elif share != self.current:
            self._set(share, f"threads: {share} ({jobs} nlp-apps jobs share {len(self.board.cores)} cores)" if jobs > 1
                      else f"threads: {share} (alone again)")

    def _set(self, threads: int, message: str | None) -> None:
        import torch

        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self.current = threads
        if message and self.log:
            self.log(message)
