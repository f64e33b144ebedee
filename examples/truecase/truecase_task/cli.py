"""`nlp-apps truecase train | evaluate | predict`. Heavy imports happen inside the commands."""

from __future__ import annotations

import json

import click

from nlp_apps.commands.options import read_inputs, trainer_options, trainer_values

TRAINER_DEFAULTS = dict(epochs=8, lr=5e-3, schedule="slanted_triangular", patience=3)


@click.group()
def truecase() -> None:
    """Truecasing: restore the capitals of lowercased text, fine-tuned from the backbone ULMFiT-style."""


@truecase.command()
@click.option("--train", "train_file", required=True, type=click.Path(), help="Cased text, one sentence a line (or CSV/TSV/JSONL).")
@click.option("--valid", "valid_file", required=True, type=click.Path(), help="The same, for early stopping.")
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Model directory to write.")
@click.option("--backbone", default="default", show_default=True, help="'default' or a model directory from `nlp-apps pretrain`.")
@click.option("--lm-finetune/--no-lm-finetune", default=True, show_default=True, help="Fine-tune the LM on the task's texts first.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an earlier run in --out.")
@click.option("--device", default="auto", show_default=True)
@trainer_options(defaults=TRAINER_DEFAULTS)
def train(train_file, valid_file, out_dir, backbone, lm_finetune, batch_size, overwrite, device, **options) -> None:
    """Fine-tune a truecaser: LM fine-tuning, discriminative rates and gradual unfreezing (the core's recipe)."""
    from nlp_apps.io.checkpoint import load_model_tokenizer, resolve_model_dir
    from nlp_apps.training.finetune import RecipeConfig, pretrained_backbone, run_recipe
    from nlp_apps.training.runs import new_run
    from nlp_apps.training.trainer import TrainerConfig, resolve_device
    from truecase_task import HeadConfig
    from truecase_task.data import read_dataset
    from truecase_task.model import build_head
    from truecase_task.training import TruecaseTraining

    train_set, valid_set = read_dataset(train_file), read_dataset(valid_file)
    try:
        recipe = RecipeConfig(lm_finetune=lm_finetune, batch_size=batch_size)
        trainer = TrainerConfig(**{**TRAINER_DEFAULTS, **trainer_values(options)})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    torch_device = resolve_device(device)

    def build_task(backbone_dir):  # run_recipe calls this with the backbone to fine-tune (the LM-tuned one after stage 1)
        model = build_head(pretrained_backbone(backbone_dir, recipe), HeadConfig())
        return TruecaseTraining(model, load_model_tokenizer(backbone_dir), train_set, valid_set, recipe, seed=trainer.seed,
                                device=torch_device, data_files=[train_file, valid_file])

    with new_run(out_dir, overwrite=overwrite):
        result = run_recipe(out_dir, backbone_dir=resolve_model_dir(backbone), texts=[e.text.lower() for e in train_set],
                            build_task=build_task, recipe=recipe, trainer=trainer, device=torch_device,
                            log=lambda message: click.echo(message, err=True))
    click.echo(f"{result.status} after {result.steps} steps; best f1 {result.metrics.get('f1', float('nan')):.4f}; model in {out_dir}")


@truecase.command()
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `truecase train`.")
@click.option("--data", "data_file", required=True, type=click.Path(), help="Cased text to score (read like --train).")
def evaluate(model_dir, data_file) -> None:
    """Word-level F1 of the capitalised words and accuracy (scikit-learn), as JSON."""
    from truecase_task.data import read_dataset, truecase_metrics
    from truecase_task.model import load

    references = [e.text for e in read_dataset(data_file)]
    click.echo(json.dumps(truecase_metrics(load(model_dir).predict(references), references)))


@truecase.command()
@click.option("--model", "model_dir", required=True, type=click.Path(), help="A model directory from `truecase train`.")
@click.option("--file", "input_file", type=click.Path(), help="Read texts from a file, one per line ('-' = stdin).")
@click.argument("texts", nargs=-1)
def predict(model_dir, input_file, texts) -> None:
    """Restore the capitals of texts given as arguments, in a file or on stdin; one output line per input line."""
    from truecase_task.model import load

    texts = read_inputs(texts, input_file)
    if not texts:
        raise click.UsageError("no text to truecase")
    for line in load(model_dir).predict(texts):
        click.echo(line)
