"""The `predict` command of every task that gives a `TaskPrediction` (TaskSpec.prediction), built by the core.

A task says how one result reads (a line of text, a JSON object) and, where its inputs are not lines of text or its
model takes options, how they are read and passed; the core does the rest once for all: --model, the texts as
arguments, in --file or on standard input, --json, loading the model (TaskSpec.load, on --device where the task has
that option), one call of the model for all inputs inside `ThreadSharing`, and one output line per input line (a
blank line is answered with an empty result).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from nlp_apps.commands.options import json_lines_option, model_option, option_group, predict_lines, read_inputs


@dataclasses.dataclass(frozen=True)
class TaskPrediction:
    """How a task answers inputs; the core turns it into the task's `predict` command (TaskSpec.prediction).

    Every function gets `values`, the task's options' values by parameter name. A row is one input: a line of text
    (the default reader), or what the task's `read` returns; a blank line is None there.

    show          show(row, result, values) -> the line printed for a result (not called for a blank line)
    record        record(row, result, values) -> the JSON object printed with --json (result None for a blank line)
    nothing       the usage error when there is no text at all (the default reader)
    file_help     the help of --file (the default reader)
    data_options  click options for the inputs, read by `read`; None: texts as arguments and --file
    read          read(values) -> rows, None for a blank line; default: the arguments, --file or standard input
    check         check(values): raise ValueError for options that do not go together (a usage error), before any
                  input is read
    options       the task's other options (decoding, --batch-size, --device), after --json
    predict       predict(pipeline, inputs, values) -> one result per input (the non-blank rows, in one call)
    help          the command's help text
    """

    show: Callable[[Any, Any, dict], str] = lambda row, result, values: str(result)
    record: Callable[[Any, Any, dict], dict] = lambda row, result, values: {"text": row, "prediction": result}
    nothing: str = "no text to predict from"
    file_help: str = "Read texts from a file, one per line ('-' = stdin)."
    data_options: Sequence[Callable] | None = None
    read: Callable[[dict], list] | None = None
    check: Callable[[dict], None] | None = None
    options: Sequence[Callable] = ()
    predict: Callable[[Any, list, dict], list] | None = None
    help: str = ("Predict for texts given as arguments, in a file or on stdin ('-' or no argument), one per line.\n\n"
                 "Each input line gets one output line; a blank line gets an empty one.")


def predict_command(spec) -> click.Command:
    """`nlp-apps TASK predict` for the TaskSpec `spec` (which has a prediction)."""
    from nlp_apps.commands.task_evaluate import load_pipeline

    prediction = spec.prediction
    data_options = prediction.data_options
    if data_options is None:
        data_options = [click.argument("texts", nargs=-1), click.option("--file", "input_file", type=click.Path(), help=prediction.file_help)]
    run = prediction.predict or (lambda pipeline, inputs, values: pipeline.predict(inputs))

    def read(values: dict) -> list:
        if prediction.read:
            return prediction.read(values)
        texts = read_inputs(values["texts"], values["input_file"])
        if not texts:
            raise click.UsageError(prediction.nothing)
        return texts

    def predict(model_dir, as_json, **values) -> None:
        from nlp_apps.threads import ThreadSharing

        try:
            if prediction.check:
                prediction.check(values)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        rows = read(values)
        pipeline = load_pipeline(spec, model_dir, values)
        with ThreadSharing():
            results = predict_lines(rows, lambda inputs: run(pipeline, inputs, values))
        for row, result in zip(rows, results):
            if row is None:  # a blank line of the task's own reader
                click.echo("")
            elif as_json:
                click.echo(json.dumps(prediction.record(row, result, values), ensure_ascii=False))
            else:
                click.echo("" if result is None else prediction.show(row, result, values))

    predict.__doc__ = prediction.help
    command = click.command("predict")(option_group(model_option(spec.name), *data_options, json_lines_option, *prediction.options)(predict))
    command.generated = True  # the registry tells it from a task's own predict command
    return command
