"""What a newcomer meets on a first short run: time-budget checks, the log and curves of short runs,
interrupted runs, and progress output that is written to a file rather than a terminal."""

import csv
import io
import json
import sys

import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

import nlp_apps
from nlp_apps.cli import cli
from nlp_apps.commands.options import report_run
from nlp_apps.commands.task_train import report_training
from nlp_apps.errors import CheckpointError
from nlp_apps.training.records import plot_curves
from nlp_apps.training.trainer import Trainer, TrainerConfig
from tasks.sentiment.cli import TRAINING
from tests.test_trainer import ConstantLossTask, InterruptAt


def log_rows(out_dir):
    with open(out_dir / "log.csv", newline="") as file:
        return list(csv.DictReader(file))


# ---- 1. the time budget must be positive ----------------------------------------------------


@pytest.mark.parametrize("budget", ["-1", "0", "0s"])
def test_a_time_budget_that_is_not_positive_is_a_usage_error(tmp_path, tiny_corpus, budget):
    train, valid = tiny_corpus
    result = CliRunner().invoke(cli, ["pretrain", "--train", str(train), "--valid", str(valid), "--out", str(tmp_path / "run"),
                                      "--time-budget", budget, "--no-progress"])
    assert result.exit_code == 2
    assert "--time-budget" in result.output and "not a positive duration" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("budget", [-1, 0, 0.0])
def test_trainer_config_refuses_a_time_budget_that_is_not_positive(budget):
    with pytest.raises(ValueError, match="time_budget must be positive"):
        TrainerConfig(time_budget=budget)


# ---- 2. short runs: a training loss at each evaluation, markers, the units column -----------


def test_each_evaluation_row_has_the_training_loss_since_the_previous_row(tmp_path):
    Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=2, patience=None, progress=False), tmp_path).fit()  # log_every 100 > 8 steps
    rows = log_rows(tmp_path)
    assert [(row["step"], row["train_loss"], row["valid_loss"]) for row in rows] == [("4", "1.0", "1.0"), ("8", "1.0", "1.0")]


def test_an_evaluation_right_after_a_training_row_adds_no_training_loss(tmp_path):
    Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=1, log_every=4, patience=None, progress=False), tmp_path).fit()
    train_row, eval_row = log_rows(tmp_path)
    assert (train_row["train_loss"], train_row["valid_loss"]) == ("1.0", "")
    assert (eval_row["train_loss"], eval_row["valid_loss"]) == ("", "1.0")


@pytest.mark.parametrize("unit, column", [("ex", "examples"), ("tok", "tokens")])
def test_the_log_counts_the_tasks_own_unit(tmp_path, unit, column):
    task = ConstantLossTask(1.0)
    task.unit = unit
    Trainer(task, TrainerConfig(epochs=1, log_every=2, patience=None, progress=False), tmp_path).fit()
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    other = "tokens" if column == "examples" else "examples"
    assert column in header and f"{column}_per_s" in header and other not in header and f"{other}_per_s" not in header
    assert [row[column] for row in log_rows(tmp_path)] == ["6", "12", "12"]  # 3 units a step: steps 2, 4, then the evaluation


def test_curves_mark_each_point_so_a_single_one_shows(tmp_path, monkeypatch):
    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *args, **kwargs: (figures.append(fig), save(fig, *args, **kwargs)))
    rows = [{"step": 5, "train_loss": 2.0, "valid_loss": 1.5, "valid_accuracy": 0.6}]
    plot_curves(tmp_path / "curves.png", rows, "valid_accuracy")
    loss_panel = figures[0].axes[0]
    assert [line.get_label() for line in loss_panel.lines] == ["train loss", "valid loss"]
    assert all(line.get_marker() not in (None, "", "None") for line in loss_panel.lines)


# ---- 3. a run interrupted before its first evaluation ----------------------------------------


@pytest.fixture
def interrupted_run(tmp_path):
    out = tmp_path / "run"
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=2, progress=False), out, callbacks=[InterruptAt(2)]).fit()
    assert (result.status, result.steps, result.best_metric) == ("interrupted", 2, None)
    return out, result


def test_an_interrupted_run_without_evaluation_says_where_its_state_is(interrupted_run, capsys):
    out, result = interrupted_run
    with pytest.raises(SystemExit) as exit_:
        report_training("sentiment", TRAINING, result, out)  # sentiment's report: it words a "best accuracy nan" that must not show
    assert exit_.value.code == 130
    printed = capsys.readouterr()
    assert printed.out.strip() == (f"interrupted after 2 steps; no evaluation yet; resumable state in {out / 'last'}; "
                                   f"resume with: nlp-apps sentiment train --resume {out}")
    assert "nan" not in printed.out + printed.err


def test_an_interrupted_run_with_an_evaluation_still_reports_its_best_model(tmp_path, capsys):
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=2, progress=False), tmp_path, callbacks=[InterruptAt(6)]).fit()
    with pytest.raises(SystemExit):
        report_run(result, tmp_path, "pretrain", "best: loss=1")
    printed = capsys.readouterr()
    assert printed.out.strip() == f"interrupted after 6 steps; best: loss=1; model in {tmp_path}"
    assert f"resume with: nlp-apps pretrain --resume {tmp_path}" in printed.err


def test_an_interrupted_run_in_json_says_how_to_resume_and_names_no_model(interrupted_run, capsys):
    out, result = interrupted_run
    with pytest.raises(SystemExit) as exit_:
        report_training("sentiment", TRAINING, result, out, as_json=True)
    assert exit_.value.code == 130
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"command": "sentiment train", "status": "interrupted", "steps": 2, "best_metric": None, "metrics": {},
                       "model_dir": None, "resume_command": f"nlp-apps sentiment train --resume {out}"}


def test_loading_an_unfinished_run_points_to_resume_and_last(interrupted_run):
    out, _ = interrupted_run
    with pytest.raises(CheckpointError) as error:
        nlp_apps.load(out)
    message = str(error.value)
    assert message == (f"{out}: holds an unfinished run with no evaluated model yet; resume it with --resume {out}, "
                       f"or use {out / 'last'}")
    assert "\n" not in message


def test_a_resumed_run_says_where_it_resumes(interrupted_run, capsys):
    out, _ = interrupted_run
    capsys.readouterr()
    result = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=2, progress=False), out).fit(resume=True)
    assert result.status == "finished"
    assert "resuming at step 2" in capsys.readouterr().err.splitlines()


# ---- 4. progress output that goes to a file --------------------------------------------------


def test_without_a_terminal_the_default_is_plain_progress_lines(tmp_path, capsys):
    assert not sys.stderr.isatty()  # pytest captures it
    Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=1, log_every=2, patience=None), tmp_path).fit()
    err = capsys.readouterr().err
    assert "\r" not in err and "steps [" not in err  # no tqdm frame
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("step ")] == ["step 2 epoch 1", "step 4 epoch 1"]


@pytest.mark.parametrize("progress, terminal, bar", [(True, False, True), (None, True, True), (None, False, False), (False, True, False)])
def test_an_explicit_progress_flag_wins_over_the_terminal_check(tmp_path, monkeypatch, progress, terminal, bar):
    class Stderr(io.StringIO):
        def isatty(self):
            return terminal

    monkeypatch.setattr(sys, "stderr", Stderr())
    trainer = Trainer(ConstantLossTask(1.0), TrainerConfig(epochs=1, progress=progress), tmp_path)
    shown = trainer._progress_bar()
    if shown is not None:
        shown.close()
    assert (shown is not None) == bar


# ---- --drop-last: a finished run without its resumable state ------------------------------------


@pytest.mark.parametrize(("keep_last", "interrupt", "kept"), [(True, False, True), (False, False, False), (False, True, True)])
def test_drop_last_removes_the_resumable_state_only_from_a_run_that_ended(tmp_path, keep_last, interrupt, kept):
    callbacks = [InterruptAt(2)] if interrupt else []
    config = TrainerConfig(epochs=1, max_steps=4, patience=None, progress=False, keep_last=keep_last)
    result = Trainer(ConstantLossTask(1.0), config, tmp_path / "run", callbacks=callbacks).fit()
    assert result.status == ("interrupted" if interrupt else "max_steps")
    assert (tmp_path / "run" / "last").is_dir() == kept
