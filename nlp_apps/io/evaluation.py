"""`nlp_apps.evaluate`: score any fine-tuned task model on a labelled data file with its task's standard metric.

Everything comes from the task's plug-in contract (TaskSpec): its dataset adapter reads the file,
`split_examples` separates what the model is given from the references, the model directory loads
through `TaskSpec.load`, and `TaskSpec.metric` (sacreBLEU, rouge-score, scikit-learn, the SQuAD script's
definitions) scores the predictions.
"""

from __future__ import annotations

import os

from nlp_apps.errors import CheckpointError
from nlp_apps.io.checkpoint import read_model_config, resolve_model_dir


def evaluate(model: str | os.PathLike, data: str | os.PathLike, *, device: str = "cpu", precision: str = "auto",
             **read_options) -> dict:
    """The task's metric scores (a dict; `TaskSpec.metric_name` names the headline one) of the model in directory
    `model` on the labelled file `data`. `read_options` go to the task's dataset adapter (e.g. format="jsonl").

        >>> nlp_apps.evaluate("runs/clf", "dev.tsv")["accuracy"]
    """
    from nlp_apps.io.loading import load
    from nlp_apps.registry import get_registry

    directory = resolve_model_dir(model)
    task = read_model_config(directory).get("task")
    if not task:
        raise CheckpointError(directory, "holds a language model, not a task model; score it with `nlp-apps perplexity`")
    spec = get_registry().get(task)
    inputs, references = spec.split_examples(list(spec.read_dataset(data, **read_options)))
    predictions = load(directory, device=device, precision=precision).predict(inputs)
    scores = spec.metric(predictions, references)
    return {**scores, "task": task, "examples": len(inputs)}
