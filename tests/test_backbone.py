import pytest
import torch

from nlp_apps.models.backbone import BackboneConfig, ElmanRNN, RNNBackbone, locked_dropout, reverse_padded
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
    # the backward stack alone over the reversed, unpadded sequence.
    alone = backbone(torch.tensor([[11, 10, 9]]), direction="backward").last_hidden_state
    torch.testing.assert_close(out["backward"].last_hidden_state[1, 0], alone[0, -1])
    torch.testing.assert_close(out["backward"].last_hidden_state[1, 2], alone[0, 0])
    with pytest.raises(ValueError, match="no 'backward' stack"):
        RNNBackbone(tiny_config)(tokens, direction="backward")
