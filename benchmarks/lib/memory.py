"""Peak resident memory of a process: the VmHWM line of /proc/PID/status (Linux).

Not ru_maxrss: Linux carries the forking parent's high-water mark across exec into the child's
ru_maxrss (and so into RUSAGE_CHILDREN), so a child started from a large benchmark process reports
the benchmark's memory. VmHWM belongs to the address space exec gave the child, so it is the child's
own. It is gone once the process has exited, so it is read while the process runs: by the process
itself (`vmhwm_mb()`, as benchmarks/imdb.py's child does) or by its parent polling it (`run_peak_rss_mb`).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence


def vmhwm_mb(pid: int | str = "self") -> float | None:
    """VmHWM of a running process (this one by default), in MB; None where /proc has none (not Linux, or exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None  # a zombie's status has no Vm* lines


def run_peak_rss_mb(command: Sequence[str], poll_s: float = 0.05, **popen) -> float | None:
    """Run `command` to its end (CalledProcessError if it fails) and return its peak RSS in MB, or None without /proc.

    The child's VmHWM is read every `poll_s` seconds while it runs; it only grows, so the last reading is the peak
    up to at most `poll_s` before the child exited. Only the child itself is counted, not processes it starts."""
    peak = None
    with subprocess.Popen(command, **popen) as child:  # returns once the child has exec'd: its VmHWM is its own
        while child.poll() is None:
            reading = vmhwm_mb(child.pid)
            if reading is not None:
                peak = max(peak or 0.0, reading)
            time.sleep(poll_s)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    return peak
