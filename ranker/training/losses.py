"""Training losses for the ranker, as ``nn.Module``s over (B, C) candidate scores whose column 0 is the positive."""

from __future__ import annotations

import torch
from torch import nn


class SampledSoftmaxLoss(nn.Module):
    """Cross-entropy of the positive against the other candidates of its row (sampled and in-batch negatives).

    ``valid`` (B, C) marks the candidates that count; invalid ones (a negative that happens to be the positive,
    an example's own in-batch copy) are dropped from the softmax so the model is not pushed against the truth.
    """

    def forward(self, scores: torch.Tensor, valid: torch.Tensor, log_q: torch.Tensor | None = None) -> torch.Tensor:
        # logQ correction: in-batch negatives are drawn in proportion to how often items are bought, so without
        # it the model learns to push popular items down; subtracting log(expected draws) removes that bias.
        logits = scores - log_q if log_q is not None else scores
        logits = logits.masked_fill(~valid, float("-inf"))  # (B, C)
        target = torch.zeros(scores.shape[0], dtype=torch.long, device=scores.device)
        return nn.functional.cross_entropy(logits, target)


class PairwiseLogisticLoss(nn.Module):
    """BPR: mean -log sigmoid(positive - negative) over the valid negatives; an alternative to the softmax."""

    def forward(self, scores: torch.Tensor, valid: torch.Tensor, log_q: torch.Tensor | None = None) -> torch.Tensor:
        diff = scores[:, :1] - scores[:, 1:]  # (B, C - 1)
        keep = valid[:, 1:].float()
        return (nn.functional.softplus(-diff) * keep).sum() / keep.sum().clamp(min=1.0)


LOSSES = {"softmax": SampledSoftmaxLoss, "bpr": PairwiseLogisticLoss}
