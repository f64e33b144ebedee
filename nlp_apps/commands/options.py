"""Options shared by the commands: the trainer's (pretrain and the task plug-ins' train), and what the tasks'
evaluate and predict commands have in common (--model, --json lines, reading and answering input lines)."""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from click.core import ParameterSource

from nlp_apps.training.trainer_config import TrainerConfig, parse_duration

TRAINER_FIELDS = {
    "epochs": "epochs",
    "max_steps": "max_steps",
    "time_budget": "time_budget",
    "lr": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "warmup": "warmup",
    "warmup_steps": "warmup_steps",
    "clip": "clip",
    "average_decay": "average_decay",
    "patience": "patience",
    "eval_every": "eval_every",
    "checkpoint_every": "checkpoint_every",
    "precision": "precision",
    "seed": "seed",
    "keep_last": "keep_last",
    "progress": "progress",
}


RESUMABLE_OPTIONS = ("time_budget", "epochs", "max_steps", "patience", "keep_last", "progress")  # what a resumed run may change


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            try:
                seconds = parse_duration(value)
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        if not seconds > 0:
            self.fail(f"{value!r} is not a positive duration; use e.g. 90s, 30m or 1.5h", param, ctx)
        return seconds


duration = Duration()


def trainer_options(command=None, *, defaults: dict | None = None):
    """Add the Trainer's options to a click command; unset ones keep the command's defaults.

    `defaults` are the command's own TrainerConfig defaults (a task's recipe), shown in --help (the lr may be
    given as words, for a command whose default depends on the run).
    """
    if command is None:
        return functools.partial(trainer_options, defaults=defaults)
    shown = {f.name: f.default for f in dataclasses.fields(TrainerConfig)} | (defaults or {})
    options = [
        click.option("--epochs", type=int, help=f"Passes over the training data [{shown['epochs']}]."),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps."),
        click.option("--time-budget", type=duration, help="Stop after this much training time, e.g. 30m or 1.5h."),
        click.option("--lr", type=float, help=f"Peak learning rate [{_shown_number(shown['lr'])}]."),
        click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), help=f"Optimizer [{shown['optimizer']}]."),
        click.option("--weight-decay", type=float, help=f"Weight decay [{shown['weight_decay']:g}]."),
        click.option("--schedule", type=click.Choice(["constant", "linear", "cosine", "slanted_triangular"]),
                     help=f"LR schedule [{shown['schedule']}]."),
        click.option("--warmup", type=float, help=f"Fraction of training spent warming up [{shown['warmup']:g}; slanted_triangular: 0.1]."),
        click.option("--warmup-steps", type=click.IntRange(min=0),
                     help=f"At most this many warm-up steps, whatever the fraction [{'no cap' if shown['warmup_steps'] is None else shown['warmup_steps']}]."),
        click.option("--clip", type=float, help=f"Max gradient norm, 0 = off [{shown['clip']:g}]."),
        click.option("--average-decay", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="Validate and save an exponential moving average of the weights with this decay, e.g. 0.999 "
                          f"(training steps the raw weights) [{'off' if shown['average_decay'] is None else shown['average_decay']}]."),
        click.option("--patience", type=int, help=f"Evaluations without improvement before early stopping [{shown['patience']}]."),
        click.option("--eval-every", type=int, help="Validate every N steps [each epoch]."),
        click.option("--checkpoint-every", type=duration, help="Time between resumable checkpoints [10m]."),
        click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]),
                     help=f"bf16 autocast or fp32; auto: bf16 where a probe shows the hardware pays for it [{shown['precision']}]."),
        click.option("--seed", type=int, help=f"Random seed [{shown['seed']}]."),
        click.option("--keep-last/--drop-last", default=None,
                     help="Keep OUT/last, the resumable state (model, optimizer, data position), when the run ends [keep]; "
                          "--drop-last deletes it then (the model stays; the run can no longer be resumed)."),
        click.option("--progress/--no-progress", default=None,
                     help="Show a progress bar [when stderr is a terminal]; without it, a plain progress line every 100 steps (for log files)."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def _shown_number(value) -> str:
    """A default for --help: a number, or a command's own wording (a str) where the default depends on the run."""
    return value if isinstance(value, str) else f"{value:g}"


def resume_overrides(options: dict) -> dict:
    """The trainer fields a resumed run may change (its limits); any other option given is refused.

    Call inside a command run with --resume: the run's configuration is stored in its directory, so an
    option that would silently be ignored there is an error instead.
    """
    context = click.get_current_context()
    refused = sorted(
        param.opts[0]
        for param in context.command.params
        if param.name not in (*RESUMABLE_OPTIONS, "resume_dir", "as_json")  # --json shapes the output, not the run
        and context.get_parameter_source(param.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    )
    if refused:
        allowed = ", ".join(["--" + name.replace("_", "-") for name in RESUMABLE_OPTIONS] + ["--json"])
        raise click.UsageError(f"{', '.join(refused)} cannot change when resuming; only {allowed} can")
    return {field: value for field, value in trainer_values(options).items() if field in RESUMABLE_OPTIONS}


def trainer_values(options: dict) -> dict:
    """The TrainerConfig fields that were given on the command line."""
    return {field: options[opt] for opt, field in TRAINER_FIELDS.items() if options.get(opt) is not None}


def model_option(task: str):
    """`--model DIR`, required: the model directory a task's evaluate or predict command uses."""
    return click.option("--model", "model_dir", required=True, type=click.Path(), help=f"A model directory from `{task} train`.")


json_lines_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def read_inputs(texts: tuple[str, ...], input_file: str | None) -> list[str]:
    """The texts a predict command works on: its arguments; a lone '-' argument, --file -, or no
    input at all read standard input; --file FILE reads a UTF-8 file. One text per line, blank lines
    kept (a command answers them with an empty result, so output lines match input lines)."""
    from nlp_apps.data.fileio import read_lines, stdin_lines

    if texts and input_file:
        raise click.UsageError("give texts as arguments or --file, not both")
    if input_file == "-" or texts == ("-",) or (not texts and not input_file):
        stdin = sys.stdin
        if stdin.isatty():
            raise click.UsageError("no input: give texts as arguments, --file FILE, or pipe lines into standard input")
        return list(stdin_lines())
    if input_file:
        return list(read_lines(input_file))
    return list(texts)


def read_json_inputs(input_file: str | None, fields: Sequence[str], no_input: str) -> list[dict | None]:
    """The inputs of a predict command whose input is more than a text: one JSON object a line with the string
    `fields` (and an optional "id"), from --file FILE or standard input ('-' or no --file; `no_input` is the usage
    error at a terminal). -> {field: ..., "line": its number[, "id": ...]} a line, None for a blank line."""
    from nlp_apps.data.fileio import parse_json, stdin_lines
    from nlp_apps.data.readers import numbered_lines
    from nlp_apps.errors import DataError

    if input_file and input_file != "-":
        lines, name = numbered_lines(input_file), input_file
    else:
        if sys.stdin.isatty():
            raise click.UsageError(no_input)
        lines, name = enumerate(stdin_lines(), start=1), "<stdin>"
    rows = []
    for number, line in lines:
        if not line.strip():
            rows.append(None)
            continue
        try:
            record = parse_json(line)
        except json.JSONDecodeError as exc:
            raise DataError(name, f"malformed JSON ({exc.msg})", line=number) from None
        if not isinstance(record, dict) or not all(isinstance(record.get(field), str) for field in fields):
            raise DataError(name, "expected {" + ", ".join(f'"{field}": "..."' for field in fields) + "}", line=number)
        rows.append({**{field: record[field] for field in fields}, "line": number, **({"id": record["id"]} if record.get("id") is not None else {})})
    return rows


def read_text_file(path: str) -> str:
    """The whole text of a UTF-8 file given as an input (a passage); a missing or unreadable one is a one-line error naming it."""
    from nlp_apps.data.fileio import check_readable_file, read_text

    check_readable_file(path)
    return read_text(path)


def predict_lines(rows: Sequence, predict) -> list:
    """predict(the rows that are not blank), called once, spread back over `rows`: None stands for each blank line
    (a text of white space, or None from a reader of other inputs), which a predict command answers with an empty
    line, so output lines match input lines."""
    present = [row for row in rows if not _blank(row)]
    results = iter(predict(present) if present else [])
    return [None if _blank(row) else next(results) for row in rows]


def _blank(row) -> bool:
    return row is None or (isinstance(row, str) and not row.strip())


def option_group(*options):
    """One decorator that adds click `options` (and arguments) to a command, in --help order."""
    return lambda command: functools.reduce(lambda decorated, option: option(decorated), reversed(options), command)


def report_run(result, out_dir, command: str, best: str | None, as_json: bool = False) -> None:
    """The last line of every training command: status, steps, the best scores (`best`, already worded)
    and where the model is; an interrupted run also says how to resume and exits with 130.
    `as_json`: that line as one JSON object instead (status, steps, best_metric, metrics, model_dir,
    resume_command), for scripts."""
    if as_json:
        interrupted = result.status == "interrupted"
        click.echo(json.dumps({"command": command, "status": result.status, "steps": result.steps,
                               "best_metric": result.best_metric, "metrics": result.metrics or {},
                               "model_dir": str(out_dir) if result.best_metric is not None else None,
                               "resume_command": f"nlp-apps {command} --resume {out_dir}" if interrupted else None}, default=float))
        if interrupted:
            raise SystemExit(130)
        return
    if result.status == "interrupted" and result.best_metric is None:  # no model yet: `best` would read nan
        click.echo(f"interrupted after {result.steps} steps; no evaluation yet; resumable state in "
                   f"{resumable_state(out_dir)}; resume with: nlp-apps {command} --resume {out_dir}")
        raise SystemExit(130)
    middle = f"; {best}" if best else ""
    click.echo(f"{result.status} after {result.steps} steps{middle}; model in {out_dir}")
    if result.status == "interrupted":
        click.echo(f"resume with: nlp-apps {command} --resume {out_dir}", err=True)
        raise SystemExit(130)


def resumable_state(out_dir) -> Path:
    """Where the run's resumable state is (runs.latest_state), OUT/last where it has none yet."""
    from nlp_apps.training.runs import latest_state

    return latest_state(out_dir) or Path(out_dir) / "last"


# The shared fine-tuning recipe's options (nlp_apps.training.recipe_config.RecipeConfig): flag, type, help.
RECIPE_OPTIONS = {
    "lm_finetune": ("--lm-finetune/--no-lm-finetune", None, "Fine-tune the backbone LM on the task's texts first (for text far from what it read)."),
    "lm_epochs": ("--lm-epochs", click.IntRange(min=1), "Passes of LM fine-tuning over the task's texts."),
    "lm_budget_share": ("--lm-budget-share", click.FloatRange(0, 1, min_open=True, max_open=True), "Share of --time-budget for LM fine-tuning."),
    "discriminative_lr": ("--discriminative-lr/--no-discriminative-lr", None, "Each layer down learns --lr-decay times slower."),
    "lr_decay": ("--lr-decay", click.FloatRange(min=1), "Discriminative rates: lr divided by this per layer down (ULMFiT: 2.6; 1: one rate)."),
    "gradual_unfreezing": ("--gradual-unfreezing/--no-gradual-unfreezing", None, "Train the head first; the layers below join one by one."),
    "unfreeze_span": ("--unfreeze-span", click.FloatRange(0, 1, min_open=True), "Fraction of training after which every layer trains."),
    "unfreeze_steps": ("--unfreeze-steps", click.IntRange(min=1), "Every layer trains after this many steps at most (sooner than --unfreeze-span says)."),
    "pretrained": ("--pretrained/--random-init", None, "Start from the backbone's weights or from random ones."),
    "batch_size": ("--batch-size", click.IntRange(min=1), "Examples per batch."),
    "backbone_dropout": ("--dropout", click.FloatRange(0, 1, max_open=True), "Dropout in the head and inside the backbone."),
}


def recipe_options(fields: Sequence[str], defaults: dict | None = None, helps: dict | None = None) -> list:
    """click options for the recipe `fields` a task exposes, with its defaults (`RecipeConfig`'s otherwise) and
    its own wording where it needs one (`helps`); `recipe_config` turns their values back into a RecipeConfig."""
    from nlp_apps.training.recipe_config import RecipeConfig

    shown = {f.name: f.default for f in dataclasses.fields(RecipeConfig)} | (defaults or {})
    options = []
    for name in fields:
        flag, kind, text = RECIPE_OPTIONS[name]
        text = (helps or {}).get(name, text)
        if isinstance(shown[name], float):  # 1/6 shows as 0.167, not 0.16666666666666666
            text, show = f"{text}  [default: {shown[name]:.3g}]", False
        else:
            show = True
        options.append(click.option(flag, name, type=kind, default=shown[name], show_default=show, help=text))
    return options


def recipe_config(values: dict, defaults: dict | None = None, **fixed):
    """The RecipeConfig of a run: the task's defaults, then its recipe options' values (found in `values`),
    then what the task fixes (`fixed`, e.g. discriminative_lr=False for a task without the option)."""
    from nlp_apps.training.recipe_config import RecipeConfig

    given = {name: values[name] for name in RECIPE_OPTIONS if name in values}
    return RecipeConfig(**{**(defaults or {}), **given, **fixed})
