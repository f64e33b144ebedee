"""Softmax cross-entropy fused with the decoder's linear layer, computed in row chunks.

A language model's decoder turns N hidden vectors into N x V logits; materialising them (and
their gradient) costs more memory traffic than the matmuls themselves on a CPU. Here each chunk
of rows gets its logits, its loss and its gradients (softmax - one-hot) while the chunk is still
in cache, and the full N x V matrix never exists. The gradients are computed in the forward pass
and scaled in backward, so this is only worth it when a backward pass follows (training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_CHUNK_ROWS = 128  # measured best of 128/256/512 for the side-by-side PTB models


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk_rows: int, train: bool, ignore_index: int, mean: bool):
        # hidden: (N, H), weight: (V, H), bias: (V,) or None, targets: (N,) -> loss, a scalar
        # (summed over the targets that are not ignore_index, divided by their count if `mean`)
        rows = hidden.size(0)
        need_hidden, need_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_bias = bias is not None and ctx.needs_input_grad[2]
        if not train:  # no backward will follow: skip the gradients
            need_hidden = need_weight = need_bias = False
        exact = torch.promote_types(weight.dtype, torch.float32)  # half inputs: softmax and sums in fp32
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros_like(weight, dtype=exact) if need_weight else None
        grad_bias = torch.zeros(weight.size(0), dtype=exact, device=weight.device) if need_bias else None
        total = hidden.new_zeros((), dtype=exact)
        scored = targets != ignore_index  # (N,)
        for start in range(0, rows, chunk_rows):
            h = hidden[start : start + chunk_rows]  # (n, H)
            keep = scored[start : start + chunk_rows]  # (n,)
            t = targets[start : start + chunk_rows].masked_fill(~keep, 0)  # (n,), any class id where ignored
            logits = F.linear(h, weight, bias).to(exact)  # (n, V)
            target_logit = logits.gather(1, t.unsqueeze(1)).squeeze(1)  # (n,)
            top = logits.amax(dim=1, keepdim=True)  # (n, 1)
            exp = logits.sub_(top).exp_()  # in place, one exp per logit: (n, V)
            norm = exp.sum(dim=1, keepdim=True)  # (n, 1)
            total += ((norm.log() + top).squeeze(1) - target_logit).masked_fill(~keep, 0).sum()
            if need_hidden or need_weight or need_bias:
                grad_logits = exp.div_(norm)  # softmax
                grad_logits[torch.arange(t.size(0), device=t.device), t] -= 1.0
                # Ignored rows get no gradient: masked on the (n, H) and (n,) sides, not on (n, V).
                weight_of_row = keep.to(exact)  # (n,)
                if need_hidden:
                    row_grads = grad_logits.to(weight.dtype) @ weight  # (n, H)
                    grad_hidden[start : start + chunk_rows] = row_grads * weight_of_row.unsqueeze(1).to(row_grads.dtype)
                if need_weight:
                    grad_weight.addmm_(grad_logits.t(), h.to(grad_weight.dtype) * weight_of_row.unsqueeze(1))
                if need_bias:
                    grad_bias += weight_of_row @ grad_logits
        divisor = scored.sum().to(exact) if mean else total.new_ones(())  # no mean over nothing: 0 / 0 = nan, as in F.cross_entropy
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias, divisor)
        return total / divisor

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight, grad_bias, divisor = ctx.saved_tensors
        scale = grad_loss / divisor
        return (
            grad_hidden * scale.to(grad_hidden.dtype) if grad_hidden is not None else None,
            grad_weight * scale if grad_weight is not None else None,
            grad_bias * scale if grad_bias is not None else None,
            None,
            None,
            None,
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> torch.Tensor:
    """CE(softmax(hidden_i @ weight.T + bias), targets_i) over the rows i, without materialising all logits.

    hidden: (..., H); targets: (...) with the same leading shape; weight: (V, H). Equal, up to
    floating-point rounding, to F.cross_entropy(F.linear(hidden, weight, bias), targets,
    ignore_index=ignore_index, reduction=reduction): targets equal to `ignore_index` (padding) are
    not scored and get no gradient; "mean" divides by the number of the other targets (nan if
    there are none), "sum" does not divide. There must be at least one row.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if torch.is_autocast_enabled(hidden.device.type):
        # Under autocast the plain path lets autocast pick each op's precision.
        logits = F.linear(hidden, weight, bias).reshape(-1, weight.size(0)).float()
        return F.cross_entropy(logits, targets.reshape(-1), ignore_index=ignore_index, reduction=reduction)
    flat = hidden.reshape(-1, hidden.size(-1))
    if flat.size(0) == 0:
        raise ValueError("no positions to score")
    return _LinearCrossEntropy.apply(
        flat, weight, bias, targets.reshape(-1), chunk_rows, torch.is_grad_enabled(), ignore_index, reduction == "mean"
    )
