import pytest
import torch

from nlp_apps.models.backbone import START_ID, BackboneConfig, ElmanRNN, RNNBackbone, locked_dropout, reverse_padded
from tests.conftest import BATCH, EMB, HIDDEN, STEPS, VOCAB

CELLS = [("lstm", "tanh"), ("gru", "tanh"), ("rnn", "tanh"), ("rnn", "relu"), ("rnn", "sigmoid")]


@pytest.mark.parametrize("cell,activation", CELLS)
@pytest.mark.parametrize("tied", [True, False])
def test_output_shapes_per_cell(tiny_config, cell, activation, tied):
    config = BackboneConfig(**{**tiny_config.to_dict(), "cell": cell, "activation": activation, "tie_weights": tied})
    backbone = RNNBackbone(config)
    tokens = torch.randint(0, VOCAB, (BATCH, STEPS))
    out = backbone(tokens)
    top = EMB if tied else HIDDEN
    assert out.last_hidden_state.shape == (BATCH, STEPS, top)
    assert [h.shape for h in out.layer_outputs] == [(BATCH, STEPS, HIDDEN), (BATCH, STEPS, top)]
    # Carrying the state over two halves equals one pass over the whole sequence.
    backbone.eval()
    whole = backbone(tokens).last_hidden_state
    first = backbone(tokens[:, :3])
    second = backbone(tokens[:, 3:], first.state)
    torch.testing.assert_close(torch.cat([first.last_hidden_state, second.last_hidden_state], 1), whole)


def test_elman_rnn_matches_torch_rnn_for_tanh():
    torch.manual_seed(0)
    ours = ElmanRNN(EMB, HIDDEN, "tanh")
    reference = torch.nn.RNN(EMB, HIDDEN, batch_first=True)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(BATCH, STEPS, EMB)
    torch.testing.assert_close(ours(x)[0], reference(x)[0])


def test_sigmoid_activation_keeps_states_in_unit_interval(tiny_config):
    config = BackboneConfig(**{**tiny_config.to_dict(), "cell": "rnn", "activation": "sigmoid", "tie_weights": False})
    out = RNNBackbone(config)(torch.randint(0, VOCAB, (BATCH, STEPS)))
    assert out.layer_outputs[0].min() > 0 and out.layer_outputs[0].max() < 1


def test_invalid_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown cell"):
        BackboneConfig(cell="transformer")
    with pytest.raises(ValueError, match="activation applies to cell 'rnn' only"):
        BackboneConfig(cell="lstm", activation="relu")
    with pytest.raises(ValueError, match="dropout"):
        BackboneConfig(input_dropout=1.5)
    with pytest.raises(ValueError, match="unknown BackboneConfig key"):
        BackboneConfig.from_dict({"hidden": 3})


def test_locked_dropout_shares_mask_over_time():
    x = torch.ones(BATCH, STEPS, HIDDEN)
    y = locked_dropout(x, 0.5, training=True)
    assert torch.equal(y, y[:, :1].expand_as(y))
    assert torch.equal(locked_dropout(x, 0.5, training=False), x)


def test_weight_dropout_only_in_training(tiny_config):
    config = BackboneConfig(**{**tiny_config.to_dict(), "weight_dropout": 0.5})
    backbone = RNNBackbone(config)
    tokens = torch.randint(0, VOCAB, (BATCH, STEPS))
    backbone.eval()
    assert torch.equal(backbone(tokens).last_hidden_state, backbone(tokens).last_hidden_state)
    backbone.train()
    torch.manual_seed(1)
    a = backbone(tokens).last_hidden_state
    torch.manual_seed(2)
    b = backbone(tokens).last_hidden_state
    assert not torch.allclose(a, b)
    a.sum().backward()  # gradients reach the real recurrent weights through the dropped copy
    assert backbone.stacks["fwd"].layers[0].rnn.weight_hh_l0.grad.abs().sum() > 0


def test_reverse_padded_reverses_only_real_tokens():
    tokens = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    assert reverse_padded(tokens, torch.tensor([3, 2])).tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


def test_bidirectional_encode_aligns_backward_states(tiny_config):
    config = BackboneConfig(**{**tiny_config.to_dict(), "bidirectional": True})
    backbone = RNNBackbone(config).eval()
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 0]])
    out = backbone.encode(tokens, torch.tensor([4, 3]))
    assert set(out) == {"forward", "backward"}
    # The backward state at position 0 of row 1 has read tokens 11, 10, 9: the same as running
    # the backward stack alone over the reversed, unpadded sequence from the start state.
    start = backbone.initial_state(1, "backward")
    alone = backbone(torch.tensor([[11, 10, 9]]), start, direction="backward").last_hidden_state
    torch.testing.assert_close(out["backward"].last_hidden_state[1, 0], alone[0, -1])
    torch.testing.assert_close(out["backward"].last_hidden_state[1, 2], alone[0, 0])
    with pytest.raises(ValueError, match="no 'backward' stack"):
        RNNBackbone(tiny_config)(tokens, direction="backward")


# Odd, mutually distinct sizes: vocabulary 13, embedding 7, hidden 11.
ODD = dict(vocab_size=13, emb_size=7, hidden_size=11, num_layers=2, bidirectional=True,
           input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)


def odd_backbone(cell, activation, tied=False, **changes):
    torch.manual_seed(0)
    config = BackboneConfig(**{**ODD, "cell": cell, "activation": activation, "tie_weights": tied, **changes})
    return RNNBackbone(config).eval()


def state_tensors(state):
    """Every tensor of a stack state, layer by layer: [h] (gru, rnn) or [h, c] (lstm), each (1, B, H)."""
    return [t for layer in state for t in (layer if isinstance(layer, tuple) else (layer,))]


@pytest.mark.parametrize("cell,activation", CELLS)
def test_encode_of_a_padded_batch_equals_each_row_alone(cell, activation):
    backbone = odd_backbone(cell, activation, tied=cell == "gru")
    lengths = torch.tensor([5, 2, 7, 1])
    rows = [torch.randint(4, 13, (int(n),)) for n in lengths]
    tokens = torch.zeros(4, 7, dtype=torch.long)
    for b, row in enumerate(rows):
        tokens[b, : len(row)] = row
    out = backbone.encode(tokens, lengths)
    # Whatever the padding holds, it is never read.
    noisy = torch.where(tokens == 0, torch.randint(4, 13, tokens.shape), tokens)
    noisy_out = backbone.encode(noisy, lengths)
    for direction in ("forward", "backward"):
        for a, b in zip(state_tensors(out[direction].state), state_tensors(noisy_out[direction].state)):
            torch.testing.assert_close(a, b)
        torch.testing.assert_close(out[direction].last_hidden_state, noisy_out[direction].last_hidden_state)
    for b, row in enumerate(rows):
        n = len(row)
        for direction, read in (("forward", row), ("backward", row.flip(0))):
            alone = backbone(read[None], backbone.initial_state(1, direction), direction)
            got = out[direction]
            for layer, expected in zip(got.layer_outputs, alone.layer_outputs):
                aligned = expected[0] if direction == "forward" else expected[0].flip(0)  # position t = token t
                torch.testing.assert_close(layer[b, :n], aligned)
                assert torch.all(layer[b, n:] == 0)
            # The final state is the state at the row's true length, not after its padding.
            for got_t, alone_t in zip(state_tensors(got.state), state_tensors(alone.state)):
                torch.testing.assert_close(got_t[:, b], alone_t[:, 0])


def test_encode_starts_every_text_after_one_end_of_line_token():
    backbone = odd_backbone("lstm", "tanh", bidirectional=False)
    tokens, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    out = backbone.encode(tokens, lengths)["forward"]
    # The same as reading </s> and then the text from a zero state.
    with_eos = backbone(torch.cat([torch.full((2, 1), START_ID), tokens], dim=1), None, "forward", lengths + 1)
    torch.testing.assert_close(out.last_hidden_state[0], with_eos.last_hidden_state[0, 1:])
    for a, b in zip(state_tensors(out.state), state_tensors(with_eos.state)):
        torch.testing.assert_close(a, b)
    # start(): the output that predicts the first token, and the state every text starts from.
    first_output, start_state = backbone.start(2)
    torch.testing.assert_close(first_output, with_eos.last_hidden_state[:, 0])
    for a, b in zip(state_tensors(start_state), state_tensors(backbone.initial_state(2))):
        torch.testing.assert_close(a, b)
    # An explicit initial state replaces the start state (here: zeros, as `forward` starts).
    zero = backbone.encode(tokens, lengths, initial_state={"forward": None})
    torch.testing.assert_close(zero["forward"].last_hidden_state[0], backbone(tokens[:1]).last_hidden_state[0])
    carried = backbone.encode(tokens, lengths, initial_state={"forward": out.state})
    assert not torch.allclose(carried["forward"].last_hidden_state[0], out.last_hidden_state[0])


def test_encode_rejects_bad_lengths_and_unknown_directions():
    backbone = odd_backbone("gru", "tanh", bidirectional=False)
    tokens = torch.tensor([[5, 6, 7], [8, 9, 0]])
    with pytest.raises(ValueError, match=r"every length must be in 1\.\.3"):
        backbone.encode(tokens, torch.tensor([3, 0]))
    with pytest.raises(ValueError, match=r"every length must be in 1\.\.3"):
        backbone.encode(tokens, torch.tensor([4, 2]))
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        backbone.encode(tokens, torch.tensor([3]))
    with pytest.raises(ValueError, match="initial_state names backward"):
        backbone.encode(tokens, torch.tensor([3, 2]), initial_state={"backward": None})


@pytest.mark.parametrize("cell,activation", [("lstm", "tanh"), ("rnn", "sigmoid")])
def test_encode_trains_with_weight_dropout_on_a_padded_batch(cell, activation):
    backbone = odd_backbone(cell, activation, weight_dropout=0.5).train()
    out = backbone.encode(torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2]))
    (out["forward"].last_hidden_state.sum() + out["backward"].state[-1][0].sum()).backward()
    for stack in ("fwd", "bwd"):
        assert backbone.stacks[stack].layers[0].rnn.weight_hh_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_encode_without_final_state_gives_the_same_outputs_unpacked(cell):
    torch.manual_seed(0)
    backbone = RNNBackbone(BackboneConfig(vocab_size=29, emb_size=7, hidden_size=11, cell=cell, bidirectional=True,
                                          input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0)).eval()
    tokens = torch.randint(4, 29, (3, 9))
    lengths = torch.tensor([9, 4, 1])
    tokens[torch.arange(9) >= lengths.unsqueeze(1)] = 0
    packed, unpacked = backbone.encode(tokens, lengths), backbone.encode(tokens, lengths, final_state=False)
    for direction in ("forward", "backward"):
        torch.testing.assert_close(unpacked[direction].last_hidden_state, packed[direction].last_hidden_state, atol=1e-6, rtol=1e-5)
        for a, b in zip(unpacked[direction].layer_outputs, packed[direction].layer_outputs):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
        assert unpacked[direction].state is None
