"""The `evaluate` command of every task that gives a `TaskEvaluation` (TaskSpec.evaluation), built by the core.

A task says what it reads, how its model is run on that and how the results score and read; the core does the
rest once for all: --model, the output option (checked before any data is read: an existing file or a non-empty
folder other than the model's own is replaced only with --overwrite), loading the model (TaskSpec.load, on
--device where the task has that option), running it inside `ThreadSharing` (beside a training job it takes its
share of the cores) and timing it, writing the output atomically, and --json or the task's report.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import click

from nlp_apps.commands.options import model_option, option_group


class Scored(NamedTuple):
    """What `TaskEvaluation.score` returns."""

    scores: dict  # printed by --json, passed to the report
    written: Any = None  # the output's content: lines of text, or a JSON value where Output.name ends in .json
    beside: dict | None = None  # {file name: write(path)}: more files written next to the output (a plot)


@dataclasses.dataclass(frozen=True)
class Output:
    """The file an evaluate command writes: MODEL/`name`, or where its option says.

    flag       the option, e.g. "--hyps"
    name       the file's name in the model directory (.json: written as JSON, else as lines of text)
    help       the option's help
    folder     the option names a folder (default: the model directory) that `name` is written into
    overwrite  the help of --overwrite, which the command then has: an existing file (a non-empty folder) other than
               the model directory's own is refused without it. None: no --overwrite; the file is replaced.
    """

    flag: str
    name: str
    help: str
    folder: bool = False
    overwrite: str | None = None

    def path(self, model_dir, given, overwrite: bool) -> Path:
        """Where to write; refuses (DataError) what the user did not ask to replace."""
        from nlp_apps.data.fileio import check_new_file, check_output_dir

        own = Path(model_dir) / self.name
        if self.folder:
            folder = Path(given or model_dir)
            if self.overwrite is not None and folder.resolve() != Path(model_dir).resolve():
                check_output_dir(folder, self.flag, overwrite)
            return folder / self.name
        path = Path(given) if given else own
        if self.overwrite is not None and path.resolve() != own.resolve():
            check_new_file(path, self.flag, overwrite)
        return path

    def write(self, path: Path, scored: Scored) -> None:
        from nlp_apps.data.fileio import atomic_write_json, atomic_write_text

        path.parent.mkdir(parents=True, exist_ok=True)
        if self.name.endswith(".json"):
            atomic_write_json(path, scored.written)
        else:
            atomic_write_text(path, "\n".join(scored.written) + "\n")
        for name, write in (scored.beside or {}).items():
            write(path.parent / name)


DATA_OPTION = click.option("--data", "data_file", required=True, type=click.Path(), help="Labelled data to score (read by the task's dataset adapter).")


@dataclasses.dataclass(frozen=True)
class TaskEvaluation:
    """How a task scores a model; the core turns it into the task's `evaluate` command (TaskSpec.evaluation).

    Every function gets `values`, the task's options' values by parameter name. Left out, a function is the spec's:
    TaskEvaluation() reads --data with read_dataset and split_examples, predicts, scores with the metric and prints
    the scores as one JSON line.

    data_options  click options for what to score (before the output option and --json in --help); --data by default
    options       the task's other options (decoding, --batch-size, --device), after --json
    read          read(values, log) -> data: the examples (bad data raises DataError); `log` writes to stderr
    predict       predict(pipeline, data, values) -> predictions: the model's run, timed, inside ThreadSharing
    score         score(data, predictions, values, seconds) -> Scored: the scores, and what the output holds
    report        report(scores, values, path) -> the lines printed without --json (path: where the output went)
    output        an Output, or None: the command writes nothing
    indent        the indent of --json (None: one line)
    help          the command's help text
    """

    data_options: Sequence[Callable] = (DATA_OPTION,)
    options: Sequence[Callable] = ()
    read: Callable[[dict, Callable], Any] | None = None
    predict: Callable[[Any, Any, dict], Any] | None = None
    score: Callable[[Any, Any, dict, float], Scored] | None = None
    report: Callable[[dict, dict, Path | None], Iterable[str]] | None = None
    output: Output | None = None
    indent: int | None = None
    help: str = "Score the model on labelled data with the task's metric, printed as JSON."


def load_pipeline(spec, model_dir, values: dict):
    """The task's model (TaskSpec.load), on values["device"] where the command has a --device option."""
    return spec.load(model_dir, **({"device": values["device"]} if "device" in values else {}))


def evaluate_command(spec) -> click.Command:
    """`nlp-apps TASK evaluate` for the TaskSpec `spec` (which has an evaluation)."""
    evaluation, output = spec.evaluation, spec.evaluation.output
    read = evaluation.read or (lambda values, log: spec.split_examples(list(spec.read_dataset(values["data_file"]))))
    predict = evaluation.predict or (lambda pipeline, data, values: pipeline.predict(data[0]))
    score = evaluation.score or (lambda data, predictions, values, seconds: Scored(spec.metric(predictions, data[1])))
    report = evaluation.report or (lambda scores, values, path: [json.dumps(scores)])

    def evaluate(model_dir, as_json, output_path=None, overwrite=False, **values) -> None:
        from nlp_apps.threads import ThreadSharing

        path = output.path(model_dir, output_path, overwrite) if output else None  # before any data is read
        data = read(values, lambda message: click.echo(message, err=True))
        pipeline = load_pipeline(spec, model_dir, values)
        with ThreadSharing():
            started = time.perf_counter()
            predictions = predict(pipeline, data, values)
            seconds = max(time.perf_counter() - started, 1e-9)
        scored = score(data, predictions, values, seconds)
        if path is not None:
            output.write(path, scored)
        for line in [json.dumps(scored.scores, indent=evaluation.indent)] if as_json else report(scored.scores, values, path):
            click.echo(line)

    evaluate.__doc__ = evaluation.help
    written = [click.option(output.flag, "output_path", type=click.Path(), help=output.help)] if output else []
    if output and output.overwrite is not None:
        written.append(click.option("--overwrite", is_flag=True, help=output.overwrite))
    command = click.command("evaluate")(option_group(model_option(spec.name), *evaluation.data_options, *written,
                                                     click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON."),
                                                     *evaluation.options)(evaluate))
    command.generated = True  # the registry tells it from a task's own evaluate command
    return command
