"""The readers on the real data sets in ../shared/data (slow: run with NLP_APPS_SLOW=1; skipped where absent)."""

import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.slow


def test_sst2_dev_reads_every_sentence_with_a_binary_label():
    from tasks.sentiment.adapter import read_dataset

    examples = read_dataset(shared_data("sst2", "dev.tsv"))
    assert len(examples) == 872 and {e.label for e in examples} == {"0", "1"}


def test_squad_dev_gold_answers_score_100_with_the_official_definitions():
    from tasks.qa.adapter import read_squad, split_examples
    from tasks.qa.metric import squad_metrics

    examples = read_squad(shared_data("squad-v1.1-dev-explorer", "dev-v1.1.json")).examples
    _, golds = split_examples(examples)
    assert len(examples) == 10_570
    scores = squad_metrics([answers[0] for answers in golds], golds, "1.1")
    assert scores["exact_match"] == 100.0 and scores["f1"] == 100.0


def test_multi30k_test_2016_is_line_aligned():
    sources = shared_data("multi30k", "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()
    targets = shared_data("multi30k", "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()
    assert len(sources) == len(targets) == 1000
