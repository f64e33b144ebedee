"""nlp-apps: one pretrained RNN language-model backbone, fine-tuned by plug-in NLP tasks.

Importing this package is cheap: it imports no task, no scikit-learn, sacrebleu or rouge-score.
"""

__version__ = "0.1.0"

__all__ = ["BackboneConfig", "RNNBackbone", "RNNLanguageModel", "__version__", "evaluate", "load"]


def __getattr__(name):
    # Lazy attributes keep `import nlp_apps` (and `nlp-apps --help`) free of torch start-up cost.
    if name in ("RNNBackbone", "BackboneConfig"):
        from nlp_apps.models import backbone

        return getattr(backbone, name)
    if name == "RNNLanguageModel":
        from nlp_apps.models.lm import RNNLanguageModel

        return RNNLanguageModel
    if name == "load":
        from nlp_apps.io.loading import load

        return load
    if name == "evaluate":
        from nlp_apps.io.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'nlp_apps' has no attribute {name!r}")
