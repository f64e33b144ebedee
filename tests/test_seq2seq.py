"""The shared encoder-decoder: shapes, teacher forcing against stepping, decoding, and overfitting."""

import pytest
import torch

from nlp_apps.data.batching import pad_sequences
from nlp_apps.data.tokenizer import EOS_ID, PAD_ID
from nlp_apps.models.backbone import BackboneConfig, RNNBackbone
from nlp_apps.seq2seq.attention import Attention
from nlp_apps.seq2seq.decoding import DecodeConfig, decode
from nlp_apps.seq2seq.model import EncoderDecoder, Seq2SeqConfig

SRC_VOCAB, TGT_VOCAB = 23, 19


def make_model(attention="general", input_feeding=True, cell="lstm", bidirectional=True, seed=0, sizes=(9, 13, 7, 11)):
    torch.manual_seed(seed)
    common = dict(input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0, cell=cell)
    src_emb, src_hidden, tgt_emb, tgt_hidden = sizes
    encoder = RNNBackbone(BackboneConfig(vocab_size=SRC_VOCAB, emb_size=src_emb, hidden_size=src_hidden, bidirectional=bidirectional, **common))
    decoder = RNNBackbone(BackboneConfig(vocab_size=TGT_VOCAB, emb_size=tgt_emb, hidden_size=tgt_hidden, **common))
    return EncoderDecoder(encoder, decoder, Seq2SeqConfig(attention=attention, input_feeding=input_feeding, dropout=0.0))


def batch(rows):
    return pad_sequences(rows)


@pytest.mark.parametrize("kind", ["general", "bahdanau"])
def test_attention_weights_sum_to_one_and_ignore_padding(kind):
    torch.manual_seed(0)
    attention = Attention(query_size=5, memory_size=6, kind=kind)
    memory = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    context, weights = attention(torch.randn(2, 3, 5), attention.prepare(memory), memory, mask)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[0, :, 2:] == 0)
    changed = memory.clone()
    changed[0, 2:] = 100.0  # padding content must not matter
    again, _ = attention(torch.zeros(2, 3, 5), attention.prepare(changed), changed, mask)
    first, _ = attention(torch.zeros(2, 3, 5), attention.prepare(memory), memory, mask)
    assert torch.allclose(again[0], first[0])


@pytest.mark.parametrize("attention", ["general", "bahdanau"])
@pytest.mark.parametrize("input_feeding", [True, False])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_teacher_forcing_equals_stepping_one_token_at_a_time(attention, input_feeding, cell):
    model = make_model(attention, input_feeding, cell).eval()
    source, lengths = batch([[5, 6, 7, 8, 9], [10, 11]])
    target_inputs = torch.tensor([[EOS_ID, 4, 5, 6], [EOS_ID, 7, 8, 9]])
    log_probs, _ = model(source, lengths, target_inputs)
    assert log_probs.shape == (2, 4, TGT_VOCAB)
    encoded = model.encode(source, lengths)
    assert encoded.memory.shape == (2, 5, 2 * 9)  # both directions of the encoder's top layer (tied: its emb size)
    state = model.start(encoded)
    for t in range(4):
        step_log_probs, state, weights = model.step(target_inputs[:, t], state, encoded)
        assert torch.allclose(step_log_probs, log_probs[:, t], atol=1e-5)
        assert torch.all(weights[1, 2:] == 0)


def test_padding_is_never_scored():
    model = make_model().eval()
    source, lengths = batch([[5, 6, 7], [8, 9, 10]])
    short = torch.tensor([[4, 5, EOS_ID, PAD_ID], [6, 7, 8, EOS_ID]])
    loss, scored = model.loss(source, lengths, short)
    assert scored == 7
    first, _ = model.loss(source[:1], lengths[:1], short[:1, :3])
    second, _ = model.loss(source[1:], lengths[1:], short[1:])
    assert loss.item() == pytest.approx((first.item() * 3 + second.item() * 4) / 7, rel=1e-5)


PAIRS = [([5, 6, 7], [4, 5]), ([8, 9], [6, 7, 8]), ([10, 11, 12, 13], [9]), ([14, 5], [10, 11, 12]), ([6, 15, 16], [13, 4]),
         ([17, 18], [14, 15, 5]), ([19, 7, 8], [16, 6]), ([20, 21], [17, 18, 7]), ([22, 9, 10], [8, 9, 10, 11]),
         ([11, 12], [12, 13]), ([13, 14, 15], [14, 16, 17]), ([16, 17], [18, 4, 6])]


@pytest.fixture(scope="module")
def overfitted():
    model = make_model(seed=1, sizes=(16, 32, 16, 32))
    source, lengths = batch([s for s, _ in PAIRS])
    targets, _ = batch([t + [EOS_ID] for _, t in PAIRS])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model.config.label_smoothing = 0.0
    for _ in range(150):
        optimizer.zero_grad()
        loss, _ = model.loss(source, lengths, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    assert loss.item() < 0.05
    return model.eval(), source, lengths


def test_a_dozen_pairs_are_overfitted_to_exact_reproduction(overfitted):
    model, source, lengths = overfitted
    greedy = decode(model, source, lengths, DecodeConfig(beam_size=1, max_length=10))
    beam = decode(model, source, lengths, DecodeConfig(beam_size=4, max_length=10))
    assert [h[0][1] for h in greedy] == [t for _, t in PAIRS]
    assert [h[0][1] for h in beam] == [t for _, t in PAIRS]


def test_beam_one_equals_greedy_and_batched_beams_equal_one_sentence_at_a_time():
    model = make_model(seed=3).eval()
    source, lengths = batch([s for s, _ in PAIRS[:6]])
    greedy = decode(model, source, lengths, DecodeConfig(beam_size=1, max_length=8))
    beam_one = decode(model, source, lengths, DecodeConfig(beam_size=1, max_length=8, block_ngram_repeat=0, n_best=1, alpha=0.0))
    assert [h[0][1] for h in greedy] == [h[0][1] for h in beam_one]
    through_search = decode(model, source, lengths, DecodeConfig(beam_size=1, max_length=8, block_ngram_repeat=99))
    assert [h[0][1] for h in through_search] == [h[0][1] for h in greedy]  # the BeamSearch path with K=1
    batched = decode(model, source, lengths, DecodeConfig(beam_size=3, n_best=2, max_length=8))
    for i, (s, _) in enumerate(PAIRS[:6]):
        alone = decode(model, torch.tensor([s]), torch.tensor([len(s)]), DecodeConfig(beam_size=3, n_best=2, max_length=8))[0]
        assert [h[1] for h in batched[i]] == [h[1] for h in alone]
        assert [h[0] for h in batched[i]] == pytest.approx([h[0] for h in alone], abs=1e-4)


def test_the_decoder_needs_a_tied_output_layer():
    encoder = RNNBackbone(BackboneConfig(vocab_size=SRC_VOCAB, emb_size=5, hidden_size=6))
    decoder = RNNBackbone(BackboneConfig(vocab_size=TGT_VOCAB, emb_size=5, hidden_size=6, tie_weights=False))
    with pytest.raises(ValueError, match="tie"):
        EncoderDecoder(encoder, decoder, Seq2SeqConfig())


def copy_model(coverage=False, seed=0):
    torch.manual_seed(seed)
    common = dict(input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)
    shared = BackboneConfig(vocab_size=TGT_VOCAB, emb_size=8, hidden_size=12, **common)
    encoder = RNNBackbone(BackboneConfig(**{**shared.to_dict(), "bidirectional": True}))
    config = Seq2SeqConfig(copy=True, coverage=coverage, dropout=0.0, label_smoothing=0.0, input_feeding=False)
    return EncoderDecoder(encoder, RNNBackbone(shared), config)


def test_the_copy_distribution_sums_to_one_over_the_extended_vocabulary():
    model = copy_model(coverage=True).eval()
    source, lengths = batch([[5, 6, 1, 7], [8, 1, 1]])  # 1 = <unk>: words outside the vocabulary
    extended = torch.tensor([[5, 6, TGT_VOCAB, 7], [8, TGT_VOCAB, TGT_VOCAB + 1, 0]])
    encoded = model.encode(source, lengths, extended, extra_words=2)
    state = model.start(encoded)
    for token in (EOS_ID, 5, TGT_VOCAB):  # an extended id is read back as <unk>
        log_probs, state, _ = model.step(torch.tensor([token, token]), state, encoded)
        assert log_probs.shape == (2, TGT_VOCAB + 2)
        assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2), atol=1e-5)
    assert log_probs[0, TGT_VOCAB + 1].exp() < 1e-6  # example 0 has one extra word, never a second


def test_copy_learns_to_produce_a_word_only_the_source_has():
    model = copy_model(seed=2)
    rows = [[5, 1, 6], [7, 1], [1, 8, 9], [10, 1, 11]]  # each holds one unknown word, copied to the output
    source, lengths = batch(rows)
    extended = torch.tensor([[TGT_VOCAB if t == 1 else t for t in r] + [0] * (3 - len(r)) for r in rows])
    targets, _ = batch([[4, TGT_VOCAB, EOS_ID]] * 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(120):
        optimizer.zero_grad()
        loss, _ = model.loss(source, lengths, targets, extended, extra_words=1)
        loss.backward()
        optimizer.step()
    outputs = decode(model, source, lengths, DecodeConfig(beam_size=2, max_length=5), extended, extra_words=1)
    assert [h[0][1] for h in outputs] == [[4, TGT_VOCAB]] * 4  # id V: the source's own unknown word


def test_the_coverage_loss_is_zero_when_attention_never_repeats():
    model = copy_model(coverage=True)
    one_token = batch([[5], [6]])  # a single source position: attention 1.0 there at every step
    _, coverage = model(*one_token, torch.tensor([[EOS_ID], [EOS_ID]]))
    assert torch.all(coverage == 0)  # first step: nothing covered yet
    _, coverage = model(*one_token, torch.tensor([[EOS_ID, 5], [EOS_ID, 6]]))
    assert torch.allclose(coverage[:, 1], torch.ones(2))  # the second step attends where the first did
    loss_with, _ = model.loss(*one_token, torch.tensor([[4, EOS_ID], [4, EOS_ID]]))
    model.config.coverage_weight = 0.0
    loss_without, _ = model.loss(*one_token, torch.tensor([[4, EOS_ID], [4, EOS_ID]]))
    assert loss_with.item() == pytest.approx(loss_without.item() + 0.5)  # 1 of 2 steps repeats per row, weight 1
