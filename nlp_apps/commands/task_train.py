"""The `train` command of every task, built by the core from the task's `TaskTraining`.

A task says what it trains (its options, how they become a run configuration, how a run is fitted and
how its best scores read); the core does the rest once for all: --out/--resume/--overwrite/--device and
the trainer options, torchrun (one process per device, process 0 writes), the resume branch (the stored
run configuration, with only the run's limits changeable), refusing an earlier run before any data is
read, usage errors for bad combinations, the per-process batch check, run_config.json, and the last line.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import click

from nlp_apps.commands.options import TRAINER_FIELDS, report_run, resume_overrides, trainer_options, trainer_values


class Prepared(NamedTuple):
    """What `TaskTraining.configure` returns: the run's configuration (JSON-able; stored as run_config.json
    and all a resumed run has) and the data it read while checking it (None: `fit` reads it from `run`)."""

    run: dict
    data: Any = None


@dataclasses.dataclass(frozen=True)
class TaskTraining:
    """How a task trains; the core turns it into the task's `train` command (TaskSpec.training).

    options           click.option decorators for the task's own settings (data, head, recipe), in --help order;
                      `recipe_options` gives the shared fine-tuning recipe's
    configure         configure(values, log) -> Prepared: the options' values (a dict by parameter name) checked and
                      turned into the run configuration's task sections; raise ValueError for a bad combination (shown
                      as a usage error) and the project's DataError for bad data. Runs before an earlier run in --out
                      is replaced, so everything checkable is checked here.
    fit               fit(run, out_dir, *, data, resume, log) -> TrainResult: train the run (run["trainer"] and
                      run["device"] are set by the core); `data` is configure's, or None on --resume
    summary           summary(best_metrics) -> the best scores in words for the last line (metrics may be empty)
    trainer_defaults  the task's TrainerConfig defaults (its recipe's epochs, lr, schedule, ...)
    required          the options a new run cannot do without, e.g. ("--train", "--valid"); --out always is
    examples          usage lines shown under the command's --help
    help              the command's first line
    demo              a nlp_apps.commands.task_demo.TaskDemo: the core then builds the task's `demo` command too
                      (with TaskSpec.demo_data); None: no demo, or the task's cli brings its own
    """

    options: Sequence[Callable]
    configure: Callable[..., Prepared]
    fit: Callable[..., Any]
    summary: Callable[[dict], str | None]
    trainer_defaults: dict
    required: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    help: str = "Fine-tune the task's model from the pretrained backbone."
    demo: Any = None


def train_command(task: str, training: TaskTraining) -> click.Command:
    """The `nlp-apps TASK train` command for `training`."""
    usage = "\n".join(["", "\b", *training.examples, f"nlp-apps {task} train --resume DIR     # after Ctrl-C / SIGTERM"])

    def train(out_dir, resume_dir, overwrite, device, as_json, **values) -> None:
        from nlp_apps.training import distributed
        from nlp_apps.training.runs import check_batch_shares, new_run, read_run_config, refuse_earlier_run, write_run_config
        from nlp_apps.training.trainer import TrainerConfig

        options = {name: values.pop(name) for name in TRAINER_FIELDS}
        distributed.init_from_env()  # under torchrun: one process per device, process 0 writes the files
        log = (lambda message: click.echo(message, err=True)) if distributed.is_main() else (lambda message: None)
        if resume_dir:
            run = read_run_config(resume_dir)
            run["trainer"].update(resume_overrides(options))
            write_run_config(resume_dir, run)
            return report_training(task, training, training.fit(run, Path(resume_dir), data=None, resume=True, log=log), resume_dir, as_json)
        context = click.get_current_context()
        for flag in ("--out", *training.required):
            param = next(p for p in context.command.params if flag in p.opts)
            if context.params.get(param.name) in (None, (), ""):
                raise click.UsageError(f"{flag} is required (or use --resume DIR)")
        refuse_earlier_run(out_dir, overwrite)  # before any data is read and summarised
        try:
            prepared = training.configure(values, log)
            trainer = TrainerConfig(**{**training.trainer_defaults, **trainer_values(options)})
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        if values.get("batch_size") is not None:
            check_batch_shares(values["batch_size"])
        run = {**prepared.run, "device": device, "trainer": trainer.to_dict()}
        with new_run(out_dir, overwrite=overwrite, run_config=run):
            result = training.fit(run, Path(out_dir), data=prepared.data, resume=False, log=log)
        report_training(task, training, result, out_dir, as_json)

    train.__doc__ = training.help + "\n" + usage
    core_options = [
        click.option("--out", "out_dir", type=click.Path(), help="Model directory to write."),
        click.option("--resume", "resume_dir", type=click.Path(), help="Continue the interrupted run in this directory."),
        click.option("--overwrite", is_flag=True, help="Replace an earlier run in --out."),
        click.option("--json", "as_json", is_flag=True, help="End with one JSON object (status, steps, scores, model directory) instead of the last line."),
    ]
    last_options = [click.option("--device", default="auto", show_default=True, help="auto: CUDA when present, else CPU."),
                    trainer_options(defaults=training.trainer_defaults)]
    decorated = functools.reduce(lambda command, option: option(command), reversed([*core_options, *training.options, *last_options]), train)
    command = click.command("train")(decorated)
    command.generated = True  # the registry tells it from a task's own train command
    return command


def report_training(task: str, training: TaskTraining, result, out_dir, as_json: bool = False) -> None:
    """The last line of a task's training (process 0 only)."""
    from nlp_apps.training import distributed

    if distributed.is_main():
        report_run(result, out_dir, f"{task} train", training.summary(result.metrics or {}) if result.metrics else None, as_json)
