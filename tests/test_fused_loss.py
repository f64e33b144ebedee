import pytest
import torch
import torch.nn.functional as F

from nlp_apps.models.fused_loss import linear_cross_entropy
from nlp_apps.models.lm import RNNLanguageModel
from tests.conftest import BATCH, HIDDEN, STEPS, VOCAB


def plain_and_fused(chunk_rows, with_bias=True):
    torch.manual_seed(0)
    hidden = torch.randn(BATCH, STEPS, HIDDEN, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(VOCAB, HIDDEN, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(VOCAB, dtype=torch.float64, requires_grad=True) if with_bias else None
    targets = torch.randint(0, VOCAB, (BATCH, STEPS))
    results = []
    for loss_fn in (
        lambda: F.cross_entropy(F.linear(hidden, weight, bias).reshape(-1, VOCAB), targets.reshape(-1)),
        lambda: linear_cross_entropy(hidden, weight, bias, targets, chunk_rows=chunk_rows),
    ):
        loss = loss_fn()
        (loss * 3.0).backward()  # a non-unit upstream gradient must be carried through
        grads = [t.grad.clone() for t in (hidden, weight, bias) if t is not None]
        for t in (hidden, weight, bias):
            if t is not None:
                t.grad = None
        results.append((loss.detach(), grads))
    return results


@pytest.mark.parametrize("chunk_rows", [1, 7, 16, BATCH * STEPS, 1000])
def test_fused_loss_and_gradients_equal_the_plain_ones(chunk_rows):
    (plain_loss, plain_grads), (fused_loss, fused_grads) = plain_and_fused(chunk_rows)
    torch.testing.assert_close(fused_loss, plain_loss)
    for fused, plain in zip(fused_grads, plain_grads):
        torch.testing.assert_close(fused, plain)


def test_fused_loss_without_bias():
    (plain_loss, plain_grads), (fused_loss, fused_grads) = plain_and_fused(4, with_bias=False)
    torch.testing.assert_close(fused_loss, plain_loss)
    assert len(fused_grads) == 2
    for fused, plain in zip(fused_grads, plain_grads):
        torch.testing.assert_close(fused, plain)


def test_tied_language_model_gets_the_same_gradients_as_the_plain_loss(tiny_config):
    torch.manual_seed(0)
    model = RNNLanguageModel(tiny_config).eval()  # no dropout, so both passes see the same network
    tokens = torch.randint(0, VOCAB, (BATCH, STEPS + 1))
    fused_loss, _ = model.loss(tokens[:, :-1], tokens[:, 1:])
    fused_loss.backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    logits, _ = model(tokens[:, :-1])
    plain_loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
    plain_loss.backward()
    torch.testing.assert_close(fused_loss, plain_loss)
    for name, param in model.named_parameters():
        torch.testing.assert_close(fused[name], param.grad, msg=name)


def test_no_gradients_are_computed_without_grad_mode():
    hidden = torch.randn(6, HIDDEN, requires_grad=True)
    weight = torch.randn(VOCAB, HIDDEN, requires_grad=True)
    targets = torch.randint(0, VOCAB, (6,))
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, None, targets)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, F.cross_entropy(hidden @ weight.t(), targets))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_give_close_loss_and_gradients(dtype):
    torch.manual_seed(0)
    hidden = torch.randn(9, HIDDEN)
    weight = torch.randn(VOCAB, HIDDEN) * 0.3
    targets = torch.randint(0, VOCAB, (9,))
    half_hidden, half_weight = hidden.to(dtype).requires_grad_(), weight.to(dtype).requires_grad_()
    loss = linear_cross_entropy(half_hidden, half_weight, None, targets)
    loss.backward()
    exact_hidden, exact_weight = hidden.requires_grad_(), weight.requires_grad_()
    exact = F.cross_entropy(exact_hidden @ exact_weight.t(), targets)
    exact.backward()
    assert loss.dtype == torch.float32 and half_weight.grad.dtype == dtype
    torch.testing.assert_close(loss, exact, rtol=0.02, atol=0.02)
    torch.testing.assert_close(half_weight.grad.float(), exact_weight.grad, rtol=0.05, atol=0.01)
    torch.testing.assert_close(half_hidden.grad.float(), exact_hidden.grad, rtol=0.05, atol=0.01)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk_rows", [1, 6, 1000])
def test_ignored_targets_are_not_scored_and_get_no_gradient(reduction, chunk_rows):
    torch.manual_seed(0)
    pad = 0
    hidden = torch.randn(BATCH, STEPS, HIDDEN, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(VOCAB, HIDDEN, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(VOCAB, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(1, VOCAB, (BATCH, STEPS))
    targets[1, 2:] = pad  # right padding; with chunk_rows 6 a whole chunk is padding
    targets[3, 4:] = pad
    results = []
    for loss_fn in (
        lambda: F.cross_entropy(F.linear(hidden, weight, bias).reshape(-1, VOCAB), targets.reshape(-1),
                                ignore_index=pad, reduction=reduction),
        lambda: linear_cross_entropy(hidden, weight, bias, targets, chunk_rows, ignore_index=pad, reduction=reduction),
    ):
        loss = loss_fn()
        (loss * 3.0).backward()
        results.append((loss.detach(), [t.grad.clone() for t in (hidden, weight, bias)]))
        for t in (hidden, weight, bias):
            t.grad = None
    (plain_loss, plain_grads), (fused_loss, fused_grads) = results
    torch.testing.assert_close(fused_loss, plain_loss)
    for fused, plain in zip(fused_grads, plain_grads):
        torch.testing.assert_close(fused, plain)
    assert torch.all(fused_grads[0][1, 2:] == 0)
    # Scoring pad as a class (the old behaviour) gives another value.
    assert not torch.isclose(linear_cross_entropy(hidden, weight, bias, targets, chunk_rows, ignore_index=-100,
                                                  reduction=reduction), plain_loss)


def test_all_targets_ignored_and_bad_reduction():
    hidden, weight = torch.randn(4, HIDDEN), torch.randn(VOCAB, HIDDEN)
    targets = torch.full((4,), -100)
    assert torch.isnan(linear_cross_entropy(hidden, weight, None, targets))  # a mean over nothing, as in torch
    assert linear_cross_entropy(hidden, weight, None, targets, reduction="sum") == 0
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        linear_cross_entropy(hidden, weight, None, targets, reduction="none")


def test_language_model_loss_does_not_score_padding(tiny_config):
    torch.manual_seed(0)
    model = RNNLanguageModel(tiny_config).eval()
    inputs = torch.randint(4, VOCAB, (2, STEPS))
    targets = torch.randint(4, VOCAB, (2, STEPS))
    targets[1, 3:] = tiny_config.pad_id
    loss, _ = model.loss(inputs, targets)
    logits, _ = model(inputs)
    real = targets != tiny_config.pad_id
    torch.testing.assert_close(loss, F.cross_entropy(logits[real], targets[real]))
