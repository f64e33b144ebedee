"""`nlp-apps summarization train | evaluate | predict | demo`."""

from __future__ import annotations

import click

from nlp_apps.commands.options import option_group, recipe_options
from nlp_apps.commands.task_demo import TaskDemo
from nlp_apps.commands.task_evaluate import Output, Scored, TaskEvaluation
from nlp_apps.commands.task_predict import TaskPrediction
from nlp_apps.commands.task_train import TaskTraining
from nlp_apps.registry import lazy
from tasks.summarization.defaults import DECODE_DEFAULTS, RECIPE_DEFAULTS, TRAINER_DEFAULTS

field_options = option_group(  # train's and evaluate's
    click.option("--text-field", help="Document field/column [text; CSV/TSV: text, document, article, body or source]."),
    click.option("--summary-field", help="Summary field/column [summary; CSV/TSV: summary, title, subject or highlights]."),
    click.option("--skip-empty", is_flag=True, help="Skip documents or summaries that are empty (counted) instead of stopping."),
)

decode_options = option_group(  # evaluate's and predict's
    click.option("--beam", "beam_size", type=click.IntRange(min=1), default=DECODE_DEFAULTS["beam_size"], show_default=True,
                 help="Beam size (1 = greedy)."),
    click.option("--alpha", type=float, default=DECODE_DEFAULTS["alpha"], show_default=True,
                 help="GNMT length penalty (0 = none; higher favours longer summaries)."),
    click.option("--min-length", type=click.IntRange(min=0), default=DECODE_DEFAULTS["min_length"], show_default=True,
                 help="Shortest summary, in tokens."),
    click.option("--max-decode-len", "--max-length", "max_length", type=click.IntRange(min=1), default=DECODE_DEFAULTS["max_length"],
                 show_default=True, help="Longest summary, in tokens (--max-length: its earlier name)."),
    click.option("--block-ngram-repeat", type=click.IntRange(min=0), default=DECODE_DEFAULTS["block_ngram_repeat"], show_default=True,
                 help="Never repeat an n-gram of this size (3 = trigram blocking; 0 = off)."),
    click.option("--max-source-len", type=click.IntRange(min=1), default=400, show_default=True, help="Longer documents are cut."),
    click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True),
    click.option("--device", default="cpu", show_default=True),
)


@click.group()
def summarization() -> None:
    """Abstractive summarization: a pointer-generator on the LM backbone (coverage optional), scored with ROUGE."""


def read(path, src, tgt, text_field, summary_field, skip_empty, what, log, ref_fields=()):
    from tasks.summarization.adapter import read_documents

    if path is None and src is None:
        raise click.UsageError(f"give the {what} data: --{what} FILE (JSONL/CSV/TSV) or --{'valid-' if what == 'valid' else ''}src "
                               "with its --tgt file")
    result = read_documents(path, src=src, tgt=tgt, text_field=text_field, summary_field=summary_field, ref_fields=ref_fields,
                            skip_empty=skip_empty)
    if result.skipped_empty:
        log(f"{what}: skipped {result.skipped_empty:,} empty document(s) or summar(ies)")
    return result.documents


TRAIN_OPTIONS = [
    click.option("--train", "train_file", type=click.Path(), help="Training data: JSONL, CSV or TSV."),
    click.option("--valid", "valid_file", type=click.Path(), help="Validation data, same format (early stopping on ROUGE)."),
    click.option("--src", type=click.Path(), help="Training documents, one per line (with --tgt)."),
    click.option("--tgt", type=click.Path(), help="Training summaries, line-aligned with --src."),
    click.option("--valid-src", type=click.Path(), help="Validation documents (with --valid-tgt)."),
    click.option("--valid-tgt", type=click.Path(), help="Validation summaries."),
    field_options,
    click.option("--backbone", default="default", show_default=True, help="Encoder and decoder init: 'default' or a pretrained LM directory."),
    click.option("--copy/--no-copy", default=True, show_default=True, help="Pointer-generator copying from the document."),
    click.option("--coverage/--no-coverage", default=None, help="Coverage attention and loss (See et al. 2017); off unless "
                 "--coverage or --coverage-from is given."),
    click.option("--coverage-from", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.0, show_default=True,
                 help="Coverage joins at this fraction of training (of --max-steps/epochs or --time-budget, whichever is further): "
                      "0 = from the start, 0.8 = the last 20% only; a value above 0 turns coverage on."),
    *recipe_options(["pretrained"], RECIPE_DEFAULTS, helps={"pretrained": "Start from the backbone's weights or random ones."}),
    click.option("--attention", type=click.Choice(["general", "bahdanau"]), default="bahdanau", show_default=True),
    click.option("--label-smoothing", type=float, default=0.1, show_default=True),
    *recipe_options(["backbone_dropout", "batch_size"], RECIPE_DEFAULTS),
    click.option("--max-source-len", type=click.IntRange(min=1), default=400, show_default=True, help="Longer documents are cut (counted)."),
    click.option("--max-target-len", type=click.IntRange(min=1), default=40, show_default=True),
    *recipe_options(["lm_finetune"], RECIPE_DEFAULTS, helps={"lm_finetune": "Fine-tune the LM on the documents first."}),
]


def summary(best: dict) -> str:
    return f"best validation ROUGE-1/2/L {best.get('rouge1', 0):.2f} / {best.get('rouge2', 0):.2f} / {best.get('rougeL', 0):.2f} (greedy)"


DEMO = TaskDemo(
    train_options={"time_budget": 55.0, "eval_every": 100, "progress": False, "patience": 100},
    examples=(("Hi Laura, the budget review meeting planned for Monday has been moved to Wednesday at 2 pm in room 4. "
               "Please bring the slides if you can. Thanks, Marco"),
              ("Dear team, unfortunately the client visit on Friday is cancelled because several people are travelling. "
               "We will find a new date next week. Regards, Nina")),
    show=lambda email, subject: f"{subject}    <- {email[:60]}...",
)

TRAINING = TaskTraining(
    options=TRAIN_OPTIONS, configure=lazy("tasks.summarization.training:configure"), fit=lazy("tasks.summarization.training:fit"),
    summary=summary, trainer_defaults=TRAINER_DEFAULTS,
    help="Train a summarizer; early stopping on the mean validation ROUGE-1/2/L (greedy decoding).",
    examples=("nlp-apps summarization train --train train.jsonl --valid dev.jsonl --text-field email_body --summary-field subject_line --out runs/sum",),
    demo=DEMO,
)


def summarize(pipeline, documents: list, values: dict) -> list:
    pipeline.max_source_len = values["max_source_len"]
    options = ("beam_size", "alpha", "min_length", "max_length", "block_ngram_repeat", "batch_size")
    return pipeline.predict(documents, **{name: values[name] for name in options})


def read_evaluation(values: dict, log) -> list:
    fields = tuple(f.strip() for f in values["ref_fields"].split(",") if f.strip()) if values["ref_fields"] else ()
    return read(values["data_file"], values["src"], values["tgt"], values["text_field"], values["summary_field"], values["skip_empty"], "data", log, fields)


def score(documents: list, summaries: list, values: dict, seconds: float) -> Scored:
    from tasks.summarization.metric import lead, rouge_scores

    references = [d.references for d in documents]
    return Scored({"model": rouge_scores(summaries, references), "lead": rouge_scores([lead(d.text, values["lead_words"]) for d in documents], references),
                   "documents": len(documents), "references_per_document": max(len(r) for r in references),
                   "multi_reference": "best of the references per document, then the mean", "documents_per_s": round(len(documents) / seconds, 2)},
                  summaries)


def report(scores: dict, values: dict, path):
    from tasks.summarization.metric import ROUGE_TYPES

    yield f"{'F1 x 100':<12}" + "".join(f"{t:>18}" for t in ROUGE_TYPES)
    for name in ("model", "lead"):
        row = scores[name]
        yield f"{name:<12}" + "".join(f"{row[t]:>7.2f} [{row['intervals'][t][0]:5.2f},{row['intervals'][t][1]:5.2f}]" for t in ROUGE_TYPES)
    yield (f"{scores['documents']} documents, {scores['references_per_document']} reference(s) each (best-of), "
           f"{scores['documents_per_s']:.1f} documents/s (beam {values['beam_size']}); summaries in {path}")


EVALUATION = TaskEvaluation(
    data_options=[click.option("--data", "data_file", type=click.Path(), help="Documents with summaries: JSONL, CSV or TSV."),
                  click.option("--src", type=click.Path(), help="Documents, one per line (with --tgt)."),
                  click.option("--tgt", type=click.Path(), help="Reference summaries, line-aligned."), field_options,
                  click.option("--ref-fields", help="Comma-separated reference fields (e.g. ann0,ann1,ann2); each output scores its best."),
                  click.option("--lead-words", type=click.IntRange(min=1), default=15, show_default=True,
                               help="Lead baseline: first sentence, at most N words.")],
    options=[decode_options], read=read_evaluation, predict=lambda pipeline, documents, values: summarize(pipeline, [d.text for d in documents], values),
    score=score, report=report, indent=2,
    output=Output("--hyps", "hypotheses.txt", "Where to write the summaries [MODEL/hypotheses.txt].", overwrite="Replace an existing --hyps file."),
    help="Summarize the documents and score ROUGE-1/2/L/Lsum F1 (rouge-score, stemming, 95% bootstrap intervals), beside the lead baseline "
         "on the same documents. With several references, each output scores the best of them.\n\n"
         "An existing --hyps file is replaced only with --overwrite (the model's own hypotheses.txt always is).",
)

PREDICTION = TaskPrediction(
    show=lambda document, summary, values: summary, record=lambda document, summary, values: {"document": document, "summary": summary},
    nothing="no document to summarize", file_help="Documents, one per line ('-' = stdin).", options=[decode_options], predict=summarize,
    help="Summarize documents given as arguments, in a file or on stdin ('-' or nothing), one per line.\n\n"
         "Each input line gets one output line; a blank line gets an empty one.",
)
