import itertools
import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import nlp_apps
from nlp_apps.cli import cli
from nlp_apps.data.tokenizer import EOS_ID, SPECIAL_TOKENS, WordTokenizer
from nlp_apps.models.backbone import BackboneConfig
from nlp_apps.models.lm import RNNLanguageModel, sample_next, score_streams, score_tokens
from tests.conftest import BATCH, EMB, HIDDEN, STEPS, VOCAB


def test_logits_shape_and_tied_decoder(tiny_config):
    model = RNNLanguageModel(tiny_config)
    logits, _ = model(torch.randint(0, VOCAB, (BATCH, STEPS)))
    assert logits.shape == (BATCH, STEPS, VOCAB)
    assert model.output_embedding() is model.backbone.embedding.weight
    assert not any(name.startswith("decoder_weight") for name, _ in model.named_parameters())


def test_uniform_model_perplexity_equals_vocab_size(tiny_config):
    model = RNNLanguageModel(tiny_config)
    with torch.no_grad():
        model.backbone.embedding.weight.zero_()  # tied: all logits equal -> uniform distribution
        model.decoder_bias.zero_()
    tokens = np.random.default_rng(0).integers(4, VOCAB, size=200)
    result = score_tokens(model, tokens, words=150, batch_size=3, bptt=16)
    assert result.tokens == 200  # every token predicted exactly once
    assert result.token_perplexity == pytest.approx(VOCAB, rel=1e-4)
    lines = int(np.count_nonzero(tokens == 3))
    assert result.word_perplexity == pytest.approx(math.exp(200 * math.log(VOCAB) / (150 + lines)), rel=1e-4)


def test_model_overfits_a_tiny_stream(tiny_config):
    torch.manual_seed(0)
    model = RNNLanguageModel(tiny_config)
    stream = torch.tensor([[5, 9, 12, 7, 30, 22, 5, 9, 12, 7, 30, 22, 5, 9]])  # a repeating pattern
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(150):
        loss, _ = model.loss(stream[:, :-1], stream[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * math.log(VOCAB)


def test_generation_is_reproducible_and_greedy_at_zero_temperature(tiny_config):
    model = RNNLanguageModel(tiny_config)
    a = model.generate([5, 6], max_new_tokens=12, generator=torch.Generator().manual_seed(3))
    b = model.generate([5, 6], max_new_tokens=12, generator=torch.Generator().manual_seed(3))
    assert a == b and len(a) == 12
    greedy = model.generate([5, 6], max_new_tokens=5, temperature=0)
    assert greedy == model.generate([5, 6], max_new_tokens=5, top_k=1)
    assert model.generate([5, 6], max_new_tokens=20, temperature=0, stop_ids=(greedy[0],)) == greedy[:1]


def test_top_k_and_top_p_restrict_the_choices():
    logits = torch.tensor([4.0, 3.0, 0.0, -1.0, -2.0])
    draws = {sample_next(logits, 1.0, 2, None, torch.Generator().manual_seed(s)) for s in range(200)}
    assert draws == {0, 1}
    # probabilities ~ [0.71, 0.26, 0.013, ...]: mass 0.9 needs the first two tokens only
    draws = {sample_next(logits, 1.0, None, 0.9, torch.Generator().manual_seed(s)) for s in range(200)}
    assert draws == {0, 1}
    assert sample_next(logits, 0.0, None, None, None) == 0


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_tied_decoder_is_the_embedding_and_the_top_layer_outputs_its_size(tiny_config, cell):
    # hidden 24 != embedding 10: tying works because the top layer outputs emb_size (no check needed)
    config = BackboneConfig(**{**tiny_config.to_dict(), "cell": cell, "num_layers": 3})
    tied = RNNLanguageModel(config)
    top = tied.backbone.stacks["fwd"].layers[-1].rnn
    assert top.weight_hh_l0.shape[1] == EMB and tied.backbone.stacks["fwd"].layers[0].rnn.weight_hh_l0.shape[1] == HIDDEN
    assert tied.output_embedding() is tied.backbone.embedding.weight
    logits, _ = tied(torch.randint(0, VOCAB, (BATCH, STEPS)))
    assert logits.shape == (BATCH, STEPS, VOCAB)
    untied = RNNLanguageModel(BackboneConfig(**{**config.to_dict(), "tie_weights": False}))
    assert untied.output_embedding().shape == (VOCAB, HIDDEN)
    assert untied.backbone.stacks["fwd"].layers[-1].rnn.weight_hh_l0.shape[1] == HIDDEN


# ---- perplexity: independent of batching --------------------------------------------------

def stream_of_lines(seed, lines=40):
    rng = np.random.default_rng(seed)
    return np.concatenate([np.append(rng.integers(4, VOCAB, size=rng.integers(0, 15)), EOS_ID) for _ in range(lines)])


@torch.no_grad()
def nll_from_the_start_state(model, targets, direction="forward"):
    """Total NLL of `targets` read as one text: </s> then the targets, from a zero state."""
    inputs = torch.tensor([[EOS_ID, *targets[:-1]]])
    logits, _ = model(inputs, None, direction)
    return float(F.cross_entropy(logits[0], torch.tensor(targets), reduction="sum"))


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_perplexity_does_not_depend_on_batch_size_or_bptt(tiny_config, direction):
    torch.manual_seed(0)
    config = BackboneConfig(**{**tiny_config.to_dict(), "bidirectional": True})
    model = RNNLanguageModel(config)
    with torch.no_grad():  # larger weights: the context matters more (cold starts mid-line cost ~1e-3 here)
        for param in model.parameters():
            param.mul_(4)
    tokens = stream_of_lines(seed=1)
    results = [score_tokens(model, tokens, words=100, batch_size=b, bptt=k, block_tokens=30, direction=direction)
               for b in (1, 2, 4, 16) for k in (3, 256)]
    for result in results:
        assert result.tokens == len(tokens)
        assert result.nll == pytest.approx(results[0].nll, rel=1e-5)
    # Blocks of whole lines (cut after the first </s> past every 30 tokens), each read from the start state.
    stream = tokens if direction == "forward" else np.append(tokens[::-1][1:], EOS_ID)
    ends = np.flatnonzero(stream == EOS_ID) + 1
    cuts = sorted({int(ends[np.searchsorted(ends, m)]) for m in range(30, len(stream), 30)} | {0, len(stream)})
    expected = sum(nll_from_the_start_state(model, list(stream[a:b]), direction) for a, b in itertools.pairwise(cuts))
    assert results[0].nll == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_streams_scored_side_by_side_get_what_each_gets_alone(tiny_config, direction):
    """Texts of different lengths (one of several blocks, one shorter than a chunk) share batches; each
    stream's NLL, tokens and words are the ones `score_tokens` gives it alone."""
    torch.manual_seed(0)
    model = RNNLanguageModel(BackboneConfig(**{**tiny_config.to_dict(), "bidirectional": True}))
    streams = [(stream_of_lines(seed=1), 100), (np.array([5, 6, EOS_ID, 7]), 3), (stream_of_lines(seed=2)[:40], 30), (np.array([9]), 1)]
    together = score_streams(model, streams, batch_size=4, bptt=5, direction=direction, block_tokens=30)
    alone = [score_tokens(model, tokens, words=words, batch_size=4, bptt=5, direction=direction, block_tokens=30) for tokens, words in streams]
    for mine, reference in zip(together, alone, strict=True):
        assert (mine.tokens, mine.words) == (reference.tokens, reference.words)
        assert mine.nll == pytest.approx(reference.nll, rel=1e-5)


def test_the_pipeline_scores_a_batch_of_texts_as_one_by_one(tiny_language_model):
    pipeline = nlp_apps.load(tiny_language_model)
    texts = ["the cat sat on the mat", "a dog\nran home quickly and then it slept", "one"]
    for together, alone in zip(pipeline.perplexity_batch(texts), [pipeline.perplexity(t) for t in texts], strict=True):
        assert together.nll == pytest.approx(alone.nll, rel=1e-4) and (together.tokens, together.words) == (alone.tokens, alone.words)
    with pytest.raises(ValueError, match="text 1: holds no words"):
        pipeline.perplexity_batch(["fine", "   "])


def test_perplexity_of_a_short_text_is_the_whole_stream_read_from_the_start_state(tiny_config):
    torch.manual_seed(0)
    model = RNNLanguageModel(tiny_config)
    tokens = np.array([5, 6, EOS_ID, EOS_ID, 7, 8, 9, EOS_ID, 10])  # a blank line, and a last line without </s>
    result = score_tokens(model, tokens, words=6, batch_size=3)
    assert result.nll == pytest.approx(nll_from_the_start_state(model, list(tokens)), rel=1e-5)
    assert (result.tokens, result.words) == (9, 6 + 3)
    with pytest.raises(ValueError, match="at least 1"):
        score_tokens(model, tokens, words=6, batch_size=0)


def test_cli_perplexity_equals_the_api_at_any_batch_size(tiny_config, tmp_path):
    words = [f"w{i}" for i in range(VOCAB - len(SPECIAL_TOKENS))]
    torch.manual_seed(0)
    model = RNNLanguageModel(tiny_config)
    with torch.no_grad():
        for param in model.parameters():
            param.mul_(4)
    model.save_pretrained(tmp_path / "lm", tokenizer=WordTokenizer([*SPECIAL_TOKENS, *words]))
    rng = random.Random(0)
    text = "".join(" ".join(rng.choices(words, k=rng.randint(0, 12))) + "\n" for _ in range(700))  # ~5000 tokens: 3 blocks
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    api = nlp_apps.load(tmp_path / "lm").perplexity(text)
    for batch_size in (1, 2, 4, 16):
        result = CliRunner().invoke(cli, ["perplexity", "--model", str(tmp_path / "lm"), str(tmp_path / "text.txt"),
                                          "--json", "--batch-size", str(batch_size)])
        assert result.exit_code == 0, result.output
        scores = json.loads(result.output)
        assert (scores["tokens"], scores["words"]) == (api.tokens, api.words)
        assert scores["token_perplexity"] == pytest.approx(api.token_perplexity, rel=1e-5)
