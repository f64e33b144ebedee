"""Trainer options shared by every training command (pretrain and the task plug-ins' train)."""

from __future__ import annotations

import functools

import click

TRAINER_FIELDS = {
    "epochs": "epochs",
    "max_steps": "max_steps",
    "time_budget": "time_budget",
    "lr": "lr",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "warmup": "warmup",
    "clip": "clip",
    "patience": "patience",
    "eval_every": "eval_every",
    "checkpoint_every": "checkpoint_every",
    "precision": "precision",
    "seed": "seed",
    "progress": "progress",
}


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        from nlp_apps.train import parse_duration

        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


duration = Duration()


def trainer_options(command):
    """Add the Trainer's options to a click command; unset ones keep TrainerConfig's defaults."""
    options = [
        click.option("--epochs", type=int, help="Passes over the training data [10]."),
        click.option("--max-steps", type=int, help="Stop after this many optimizer steps."),
        click.option("--time-budget", type=duration, help="Stop after this much training time, e.g. 30m or 1.5h."),
        click.option("--lr", type=float, help="Peak learning rate [3e-3]."),
        click.option("--optimizer", type=click.Choice(["adamw", "sgd"]), help="Optimizer [adamw]."),
        click.option("--weight-decay", type=float, help="Weight decay [0]."),
        click.option("--schedule", type=click.Choice(["constant", "linear", "cosine", "slanted_triangular"]), help="LR schedule [cosine]."),
        click.option("--warmup", type=float, help="Fraction of training spent warming up [0]."),
        click.option("--clip", type=float, help="Max gradient norm, 0 = off [0.25]."),
        click.option("--patience", type=int, help="Evaluations without improvement before early stopping [3]."),
        click.option("--eval-every", type=int, help="Validate every N steps [each epoch]."),
        click.option("--checkpoint-every", type=duration, help="Time between resumable checkpoints [10m]."),
        click.option("--precision", type=click.Choice(["fp32", "bf16"]), help="Training precision [fp32]."),
        click.option("--seed", type=int, help="Random seed [0]."),
        click.option("--progress/--no-progress", default=None, help="Show a progress bar [on]."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def trainer_values(options: dict) -> dict:
    """The TrainerConfig fields that were given on the command line."""
    return {field: options[opt] for opt, field in TRAINER_FIELDS.items() if options.get(opt) is not None}
