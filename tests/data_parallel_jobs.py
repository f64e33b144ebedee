"""Several `nlp-apps` command lines in one torchrun launch, one after another in the same processes:
starting two interpreters and importing torch is most of what a short data-parallel test costs.

    python -m torch.distributed.run --standalone --nproc-per-node 2 -m tests.data_parallel_jobs JOBS.json

JOBS.json: {"plugins": ["name=module:attr", ...] (tasks to register as if installed), "jobs": [[arg, ...], ...]}.
Each process writes, per job, its exit code and its output (stdout and stderr together) to
JOBS.json.<job>.rank<R>.json. A job that fails with a user error continues to the next one; any other
exception ends the launch, as it would end `nlp-apps`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from importlib import metadata
from pathlib import Path

import click


def register(plugins: list[str]) -> None:
    from nlp_apps.registry import ENTRY_POINT_GROUP, get_registry, validate_spec

    registry = get_registry()
    for line in plugins:
        name, value = line.split("=", 1)
        registry.register(validate_spec(metadata.EntryPoint(name, value, ENTRY_POINT_GROUP).load(), name), entry_name=name)


def run(args: list[str]) -> tuple[int, str]:
    from nlp_apps.cli import cli

    output = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            cli.main(args=args, prog_name="nlp-apps", standalone_mode=False)
        except click.ClickException as error:
            code = error.exit_code
            print(f"Error: {error.format_message()}", file=sys.stderr)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, output.getvalue()


def main() -> None:
    path = Path(sys.argv[1])
    spec = json.loads(path.read_text(encoding="utf-8"))
    register(spec.get("plugins", []))
    rank = os.environ.get("RANK", "0")
    for index, args in enumerate(spec["jobs"]):
        code, output = run([str(a) for a in args])
        Path(f"{path}.{index}.rank{rank}.json").write_text(json.dumps({"code": code, "output": output}), encoding="utf-8")


if __name__ == "__main__":
    main()
