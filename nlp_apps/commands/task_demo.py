"""The `demo` command of every task that gives a `TaskDemo`, built by the core: fine-tune on the task's shipped
demo data with the generated `train` command, score the model with `nlp_apps.evaluate`, and predict a few
examples. `nlp-apps demo` runs it for every installed task."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from nlp_apps.commands.options import duration


@dataclasses.dataclass(frozen=True)
class TaskDemo:
    """A task's quickstart (TaskTraining.demo).

    train_options   values for the task's train command besides --train/--valid/--out/--seed (already converted:
                    a time budget in seconds), e.g. {"epochs": 16}
    examples        inputs for `predict` after training, of the kind `predict` takes
    show            show(example, prediction) -> the line printed for one of them
    backbone        the train option that `--backbone` feeds ("backbone"; translation's is "tgt_backbone")
    """

    train_options: dict
    examples: tuple
    show: Callable[[Any, Any], str]
    backbone: str = "backbone"


def demo_command(task: str, spec) -> click.Command:
    """`nlp-apps TASK demo` for the TaskSpec `spec` (which has demo_data and training.demo)."""
    demo = spec.training.demo

    @click.command("demo")
    @click.option("--out", "out_dir", default=f"runs/{task}-demo", show_default=True, type=click.Path(), help="Where to write the model.")
    @click.option("--backbone", default="default", show_default=True, help="The backbone to fine-tune: 'default' or a model directory.")
    @click.option("--time-budget", type=duration, help="Training time [the demo's own: "
                  + (f"{demo.train_options['time_budget']:g}s" if "time_budget" in demo.train_options else "until early stopping") + "].")
    @click.option("--seed", type=int, default=0, show_default=True)
    def command(out_dir, backbone, time_budget, seed) -> None:
        from nlp_apps.threads import ThreadSharing

        # The whole demo is one job on the board: its evaluation and predictions, not only its training,
        # take their share of the cores beside other jobs (two jobs' full thread counts spin against each other).
        with ThreadSharing() as sharing:
            run_demo(out_dir, backbone, time_budget, seed, sharing)

    def run_demo(out_dir, backbone, time_budget, seed, sharing) -> None:
        from nlp_apps.io.evaluation import evaluate
        from nlp_apps.io.loading import load

        files = spec.demo_data()
        click.echo(f"== fine-tuning on {files['train']} (validation: {files['valid']})")
        click.get_current_context().invoke(spec.cli.commands["train"], train_file=files["train"], valid_file=files["valid"], out_dir=out_dir,
                                           overwrite=True, seed=seed, **{demo.backbone: backbone, "keep_last": False, **demo.train_options,
                                                                             **({"time_budget": time_budget} if time_budget else {})})
        sharing.check()
        click.echo(f"== evaluating on {files['valid']}")
        scores = evaluate(out_dir, files["valid"])
        headline = {spec.metric_name: scores.pop(spec.metric_name)}  # first, then the task's other scores
        click.echo(", ".join(f"{name} {value:.4g}" for name, value in {**headline, **scores}.items() if isinstance(value, float)))
        click.echo("== predicting")
        for example, prediction in zip(demo.examples, load(out_dir).predict(list(demo.examples))):
            click.echo(demo.show(example, prediction))

    command.help = f"The quickstart: fine-tune on the demo data {task} ships, evaluate, and predict {len(demo.examples)} new examples."
    command.generated = True
    return command
