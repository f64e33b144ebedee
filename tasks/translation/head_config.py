"""The translator's options (the core's Seq2SeqConfig), importable without torch."""

from nlp_apps.seq2seq.config import Seq2SeqConfig as TranslatorConfig

__all__ = ["TranslatorConfig"]
