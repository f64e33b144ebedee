"""`nlp-apps qa train | evaluate | predict | demo`."""

from __future__ import annotations

import click

from nlp_apps.commands.options import read_json_inputs, recipe_options
from nlp_apps.commands.options import read_text_file as read_context  # --context (tasks.qa.cli.read_context)
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_evaluate import Output, Scored, TaskEvaluation
from nlp_apps.commands.task_predict import TaskPrediction
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.qa.defaults import RECIPE_DEFAULTS, TRAINER_DEFAULTS
from tasks.qa.head_config import ATTENTIONS, WINDOWING, HeadConfig

FORMAT_CHOICE = click.Choice(["auto", "squad", "jsonl"])


def read(path, fmt: str, log):
    from tasks.qa.adapter import read_squad

    dataset = read_squad(path, format=fmt)
    if dataset.warning():
        log(f"warning: {path}: {dataset.warning()}")
    return dataset


@click.group()
def qa() -> None:
    """Extractive question answering (SQuAD v1.1 / v2.0): the answer is a span of the context."""


TRAIN_OPTIONS = [
    click.option("--train", "train_file", type=click.Path(), help="Training questions: SQuAD JSON (v1.1 or v2.0) or JSONL."),
    click.option("--valid", "valid_file", type=click.Path(), help="Validation questions (early stopping on F1, no-answer threshold)."),
    click.option("--format", "fmt", type=FORMAT_CHOICE, default="auto", show_default=True, help="auto: .jsonl is JSONL, else SQuAD JSON."),
    click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`."),
    click.option("--attention", type=click.Choice(ATTENTIONS), default=HeadConfig.attention, show_default=True,
                 help="bidaf: attention flow (BiDAF); aligned: DrQA's aligned question embedding."),
    click.option("--hidden-size", type=click.IntRange(min=1), default=HeadConfig.hidden_size, show_default=True,
                 help="Per direction, in the head's BiLSTMs."),
    click.option("--question-match/--no-question-match", default=HeadConfig.question_match, show_default=True,
                 help="Tell the head which passage tokens occur in the question."),
    click.option("--max-passage-len", type=click.IntRange(min=1), default=HeadConfig.max_passage_len, show_default=True,
                 help="Tokens per passage window."),
    click.option("--doc-stride", type=click.IntRange(min=0), default=HeadConfig.doc_stride, show_default=True,
                 help="Tokens neighbouring windows share (their overlap)."),
    click.option("--windows", type=click.Choice(WINDOWING), default=HeadConfig.windows, show_default=True,
                 help="sliding: overlapping windows cover long passages; first: cut passages to one window."),
    click.option("--max-question-len", type=click.IntRange(min=1), default=HeadConfig.max_question_len, show_default=True),
    click.option("--max-answer-len", type=click.IntRange(min=1), default=HeadConfig.max_answer_len, show_default=True,
                 help="Longest answer, in tokens."),
    *recipe_options(["lm_finetune", "lm_epochs", "discriminative_lr", "lr_decay", "gradual_unfreezing", "unfreeze_span", "unfreeze_steps", "pretrained",
                     "batch_size", "backbone_dropout"], RECIPE_DEFAULTS,
                    helps={"lm_finetune": "Fine-tune the LM on the passages first (costs time).",
                           "gradual_unfreezing": "Train the head first; the backbone layers join one by one.",
                           "batch_size": "Question windows per batch."}),
]


def summary(best: dict) -> str:
    return f"best validation F1 {best.get('f1', float('nan')):.2f}, exact match {best.get('exact_match', float('nan')):.2f}"


PASSAGE = ("The lighthouse at Port Elwin was built in 1871 by the engineer Marta Hollis. "
           "Its lamp burned whale oil until 1904, when it was replaced by an electric light.")


def show(example: dict, result: dict) -> str:
    return (f"Q: {example['question']}\nA: {result['answer'] or '(no answer)'}   [{result['start']}, {result['end']})  "
            f"score {result['score']:.3f}")


DEMO = TaskDemo(
    train_options={"time_budget": 70.0, "lr": 5e-3, "gradual_unfreezing": False, "discriminative_lr": False,
                   "epochs": 1000, "patience": 1000, "progress": False},
    examples=tuple({"context": PASSAGE, "question": q} for q in ("Who built the lighthouse at Port Elwin?", "When was the lamp replaced?")),
    show=show,
)

TRAINING = TaskTraining(
    options=TRAIN_OPTIONS, configure=lazy("tasks.qa.training:configure"), fit=lazy("tasks.qa.training:fit"),
    summary=summary, trainer_defaults=TRAINER_DEFAULTS, required=("--train", "--valid"),
    help="Fine-tune a span extractor on SQuAD-style data; early stopping on validation F1.",
    examples=("nlp-apps qa train --train train.json --valid heldout.json --out runs/qa --time-budget 2h",
              "(heldout.json: articles kept out of train.json; keep the dev set you report out of training)"),
    demo=DEMO,
)


def score(dataset, results: list, values: dict, seconds: float) -> Scored:
    from tasks.qa.metric import squad_metrics

    answers = [r["answer"] for r in results]
    scores = squad_metrics(answers, [[a.text for a in e.answers] for e in dataset.examples], dataset.version)
    scores.update(data=str(values["data_file"]), questions_per_s=round(len(answers) / seconds, 2))
    return Scored(scores, {e.id: answer for e, answer in zip(dataset.examples, answers)})


def report(scores: dict, values: dict, path):
    yield f"questions:    {scores['total']:,} (SQuAD {scores['version']} scoring)"
    yield f"exact match:  {scores['exact_match']:.2f}"
    yield f"F1:           {scores['f1']:.2f}"
    for prefix, name in (("has_ans_", "with an answer"), ("no_ans_", "without answer")):
        if f"{prefix}total" in scores:
            yield f"  {name:<15} {scores[prefix + 'total']:>6,}  EM {scores[prefix + 'exact_match']:.2f}  F1 {scores[prefix + 'f1']:.2f}"
    yield f"{scores['questions_per_s']:.1f} questions/s; predictions in {path}"


RUN_OPTIONS = [click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
               click.option("--device", default="cpu", show_default=True)]

EVALUATION = TaskEvaluation(
    data_options=[click.option("--data", "data_file", required=True, type=click.Path(), help="Questions with gold answers: SQuAD JSON or JSONL."),
                  click.option("--format", "fmt", type=FORMAT_CHOICE, default="auto", show_default=True)],
    options=RUN_OPTIONS, read=lambda values, log: read(values["data_file"], values["fmt"], log),
    predict=lambda pipeline, dataset, values: pipeline.predict([vars(e) for e in dataset.examples], batch_size=values["batch_size"]),
    score=score, report=report,
    output=Output("--predictions", "predictions.json", "Where to write {id: answer} [MODEL/predictions.json].",
                  overwrite="Replace an existing --predictions file."),
    help="Answer every question of --data and score the answers: exact match and F1 as the official SQuAD scripts define them "
         "(v2.0 data: also for the questions with and without an answer).\n\n"
         "An existing --predictions file is replaced only with --overwrite (the model's own predictions.json always is).",
)


def check(values: dict) -> None:
    """--context FILE or --context-text TEXT with --question, or else JSONL input (--file or standard input)."""
    if values["context_file"] is not None and values["context_text"] is not None:
        raise ValueError("give --context FILE or --context-text TEXT, not both")
    if values["context_file"] is not None or values["context_text"] is not None:
        flag = "--context" if values["context_file"] is not None else "--context-text"
        if values["input_file"]:
            raise ValueError(f"give {flag} with --question, or --file, not both")
        if not values["questions"]:
            raise ValueError(f"{flag} needs at least one --question")
    elif values["questions"]:
        raise ValueError("--question needs --context FILE or --context-text TEXT")


def read_rows(values: dict) -> list[dict | None]:
    if values["context_file"] is not None or values["context_text"] is not None:
        context = read_context(values["context_file"]) if values["context_file"] is not None else values["context_text"]
        rows = [{"context": context, "question": q} for q in values["questions"]]
    else:
        rows = read_jsonl_inputs(values["input_file"])
    for row in rows:
        if row is not None and (not row["context"].strip() or not row["question"].strip()):
            raise click.UsageError(f"empty context or question{' on line ' + str(row['line']) if 'line' in row else ''}")
    return rows


def show_answer(row: dict, result: dict, values: dict) -> str:
    if result["answer"]:
        return f"{result['answer']}\t[{result['start']}, {result['end']})\t{result['score']:.4f}"
    return f"(no answer)\t-\t{result['score']:.4f}"


PREDICTION = TaskPrediction(
    data_options=[
        click.option("--context", "context_file", type=click.Path(), help="The passage: a UTF-8 text file."),
        click.option("--context-text", help="The passage itself, as text (instead of --context)."),
        click.option("--question", "questions", multiple=True, help="A question about the passage (repeatable)."),
        click.option("--file", "input_file", type=click.Path(),
                     help='JSONL lines {"context": ..., "question": ...} (\'-\' = stdin; the default without a passage).'),
    ],
    check=check, read=read_rows, options=RUN_OPTIONS, predict=lambda pipeline, rows, values: pipeline.predict(rows, batch_size=values["batch_size"]),
    show=show_answer,
    record=lambda row, result, values: {**({"id": row["id"]} if "id" in row else {}), "question": row["question"], **result},
    help="""Answer questions about a passage: answer, character span [start, end) in the context, and score.

The passage is a file (--context FILE) or text (--context-text TEXT); without either, JSONL input.

\b
nlp-apps qa predict --model runs/qa --context article.txt --question "Who built it?" --question "When?"
nlp-apps qa predict --model runs/qa --context-text "The tower was built in 1889." --question "When?"
echo '{"context": "...", "question": "..."}' | nlp-apps qa predict --model runs/qa
Each JSONL input line gets one output line; a blank line gets an empty one.""",
)


def read_jsonl_inputs(input_file: str | None) -> list[dict | None]:
    """One {"context", "question"[, "id"]} per line (None for a blank line), from a file or standard input."""
    return read_json_inputs(input_file, ("context", "question"), "no input: give --context FILE (or --context-text TEXT) and --question, "
                            "--file FILE, or pipe JSONL into standard input")
