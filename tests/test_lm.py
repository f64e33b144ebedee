import math

import numpy as np
import pytest
import torch

from nlp_apps.models.lm import RNNLanguageModel, sample_next, score_tokens
from tests.conftest import BATCH, STEPS, VOCAB


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


def test_generate_rejects_an_empty_prompt(tiny_config):
    with pytest.raises(ValueError, match="at least one token"):
        RNNLanguageModel(tiny_config).generate([], max_new_tokens=3)
