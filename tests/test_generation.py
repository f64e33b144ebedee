"""Step-wise decoding (start / step / map_state), sampling rules and the generate pipeline."""

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nlp_apps.cli import cli
from nlp_apps.data.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, SentencePieceTokenizer, WordTokenizer
from nlp_apps.io.checkpoint import DEFAULT_MODEL_DIR
from nlp_apps.io.loading import LanguageModelPipeline, word_continuation_ids
from nlp_apps.models.backbone import BackboneConfig, map_state
from nlp_apps.models.lm import RNNLanguageModel
from tests.test_backbone import CELLS

ODD = dict(vocab_size=13, emb_size=7, hidden_size=11, num_layers=2, bidirectional=True,
           input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)


def odd_lm(cell="lstm", activation="tanh", **changes) -> RNNLanguageModel:
    torch.manual_seed(0)
    return RNNLanguageModel(BackboneConfig(**{**ODD, "cell": cell, "activation": activation, **changes})).eval()


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_stepping_token_by_token_gives_the_logits_of_one_pass(cell, activation, direction):
    model = odd_lm(cell, activation, tie_weights=cell != "gru")
    tokens = torch.randint(4, 13, (3, 6))
    # One pass: </s>, then the text, from a zero state (the start-state rule).
    whole, _ = model(torch.cat([torch.full((3, 1), EOS_ID), tokens], dim=1), None, direction)  # (3, 7, V)
    logits, state = model.start(3, direction)
    stepped = [logits]
    for t in range(tokens.size(1)):
        logits, state = model.step(tokens[:, t], state, direction)
        stepped.append(logits)
    torch.testing.assert_close(torch.stack(stepped, dim=1), whole)


def test_map_state_reorders_beams():
    model = odd_lm(bidirectional=False)
    tokens = torch.tensor([5, 6, 7])
    _, state = model.step(tokens, model.backbone.initial_state(3))
    order = torch.tensor([2, 2, 0])  # beam 2 twice, beam 0 once
    reordered = map_state(state, lambda t: t.index_select(1, order))
    logits, _ = model.step(torch.tensor([8, 9, 10]), reordered)
    _, alone = model.step(tokens[order], model.backbone.initial_state(3))
    expected, _ = model.step(torch.tensor([8, 9, 10]), alone)
    torch.testing.assert_close(logits, expected)


def test_generate_uses_start_and_step():
    model = odd_lm()
    prompt = [5, 6, 7]
    logits, state = model.start(1)
    for token in prompt:
        logits, state = model.step(torch.tensor([token]), state)
    expected = []
    for _ in range(6):
        next_id = int(logits[0].masked_fill(torch.isin(torch.arange(13), torch.tensor([PAD_ID, UNK_ID, BOS_ID])),
                                            float("-inf")).argmax())
        expected.append(next_id)
        logits, state = model.step(torch.tensor([next_id]), state)
    assert model.generate(prompt, max_new_tokens=6, temperature=0) == expected
    # An empty prompt starts a new text: the first token comes from the start logits.
    first = model.generate([], max_new_tokens=1, temperature=0)
    start_logits, _ = model.start(1)
    start_logits[0, [PAD_ID, UNK_ID, BOS_ID]] = float("-inf")
    assert first == [int(start_logits[0].argmax())]


def test_special_ids_are_never_sampled_and_first_banned_ids_only_bar_the_first_token():
    model = odd_lm()
    with torch.no_grad():
        model.decoder_bias[[PAD_ID, UNK_ID, BOS_ID]] = 30.0  # the model all but insists on them
    sampled = model.generate([5], max_new_tokens=30, generator=torch.Generator().manual_seed(0))
    assert not {PAD_ID, UNK_ID, BOS_ID} & set(sampled)
    assert set(model.generate([5], max_new_tokens=5, banned_ids=(), generator=torch.Generator().manual_seed(0))) \
        <= {PAD_ID, UNK_ID, BOS_ID}
    with torch.no_grad():
        model.decoder_bias[9] = 60.0
    new = model.generate([5], max_new_tokens=4, temperature=0, first_banned_ids=(9,))
    assert new[0] != 9 and new[1:] == [9, 9, 9]


# ---- the pipeline: how a prompt ends ----------------------------------------------------------

@pytest.fixture(scope="module")
def subword_pipeline():
    tokenizer = SentencePieceTokenizer.load(DEFAULT_MODEL_DIR, {"file": "tokenizer.model"})
    torch.manual_seed(0)
    model = RNNLanguageModel(BackboneConfig(**{**ODD, "vocab_size": tokenizer.vocab_size, "bidirectional": False}))
    return LanguageModelPipeline(model, tokenizer, config={}, path=Path("."))


def test_the_continuation_never_glues_onto_the_prompts_last_word(subword_pipeline):
    tokenizer = subword_pipeline.tokenizer
    gluing = word_continuation_ids(tokenizer)
    pieces = {tokenizer.id_to_piece(i) for i in gluing}
    assert "men" in pieces and "▁men" not in pieces and "." not in pieces and "</s>" not in pieces
    with torch.no_grad():
        subword_pipeline.model.decoder_bias.zero_()
        subword_pipeline.model.decoder_bias[list(gluing)] = 40.0  # the model wants to continue the word
        subword_pipeline.model.decoder_bias[UNK_ID] = 80.0  # and to print "⁇"
    for seed in range(3):
        text = subword_pipeline.generate("The old man", max_tokens=4, seed=seed)
        assert text and not text[0].isalnum() and "⁇" not in text
    # After a prompt that ends in a space or punctuation, any piece may follow.
    assert subword_pipeline.generate("The old man,", max_tokens=3, seed=0)[0].isalnum()


def test_an_empty_prompt_is_refused(subword_pipeline, tmp_path):
    with pytest.raises(ValueError, match="the prompt is empty"):
        subword_pipeline.generate("  ")
    result = CliRunner().invoke(cli, ["generate", "--prompt", " ", "--model", tmp_path])
    assert result.exit_code == 2 and "'--prompt': is empty: give some text to continue" in result.output


def test_a_word_vocabulary_never_glues_words():
    assert word_continuation_ids(WordTokenizer(["<pad>", "<unk>", "<s>", "</s>", "men", "old"])) == ()


def test_a_tiny_temperature_samples_the_top_token_instead_of_failing():
    import torch

    from nlp_apps.models.lm import sample_next

    logits = torch.tensor([0.5, 3.0, -1.0, 2.9])
    assert sample_next(logits, 6.5e-79, None, None, torch.Generator().manual_seed(0)) == 1
    assert sample_next(logits, 1e-30, 2, 0.9, torch.Generator().manual_seed(0)) == 1


@pytest.mark.parametrize("top_p", [2.225073858507203e-309, 1e-50, 1e-9])
def test_a_top_p_below_float32s_range_keeps_the_top_token_instead_of_failing(top_p):
    # Found by the serve benchmark's schema fuzz: top_p 2.2e-309 compared as 0 in float32 and dropped every token.
    import torch

    from nlp_apps.models.lm import sample_next

    logits = torch.tensor([0.5, 3.0, -1.0, 2.9])
    assert sample_next(logits, 1.0, None, top_p, torch.Generator().manual_seed(0)) == 1
