"""The two fine-tuning objectives (``RECSEARCH_FINETUNE_OBJECTIVE``), one class each behind one interface, so the
training loop (:mod:`ranker.finetune.loop`) knows nothing of either.

* :class:`HistoryHead` (``history``, the default): the k-NN baseline's own ranking made differentiable. A linear
  layer (identity at the start, so step 0 is the base model) on top of the frozen encoder, trained so that the
  normalised mean of a customer's history vectors ranks the items they buy next first in a softmax over the whole
  catalog. The catalog's base vectors are computed once: a step costs milliseconds instead of a forward and backward
  pass of the transformer (on a shared 2-core CPU, ~15 s a step for a batch of 128 pairs).
* :class:`EncoderPairs` (``pairs``): the whole encoder on pairs of items one customer bought within ``window_days``,
  in-batch negatives (``MultipleNegativesRankingLoss``, both directions; no item twice in a batch). Needs a GPU or a
  quiet machine for enough steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import pandas as pd

from core.settings import Settings
from ranker.finetune.data import HistoryExamples, batches_without_repeats, behaviour_pairs, history_examples
from ranker.finetune.versions import append_head

#: Cosine scale of the softmaxes (the temperature of MultipleNegativesRankingLoss).
SCALE = 20.0


def encode(model, texts: list[str]) -> np.ndarray:
    """Unit-length vectors of ``texts`` with ``model`` (a SentenceTransformer)."""
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


class Objective(Protocol):
    """What the loop needs of an objective."""

    #: Training examples (or pairs) drawn, what they are, and how they were drawn (for the result's record).
    size: int
    what: str
    stats: dict[str, int]
    learning_rate: float

    def parameters(self) -> list: ...

    def batches(self, epoch: int) -> Iterator[Any]:
        """The batches of one pass over the examples."""
        ...

    def loss(self, batch: Any):
        """The loss of one batch (a torch scalar)."""
        ...

    def vectors(self) -> np.ndarray:
        """The catalog's vectors as the model being trained gives them now (for the held-out check)."""
        ...

    def weights(self) -> dict:
        """A copy of the trained weights (the best check's are restored at the end)."""
        ...

    def finish(self, weights: dict) -> None:
        """Put ``weights`` into the model that is saved."""
        ...


class HistoryHead:
    """A linear layer on the frozen encoder, trained on history -> next items over the whole catalog."""

    def __init__(
        self, torch, model, settings: Settings, events: pd.DataFrame, texts: dict[str, str], items: list[str],
        until: pd.Timestamp | None, held_out: set[str], base_vectors: np.ndarray,
    ):  # fmt: skip
        cfg = settings.finetune
        self.torch, self.model = torch, model
        self.examples: HistoryExamples = history_examples(
            events, items, until=until, exclude_users=held_out, horizon_days=settings.evaluation.horizon_days,
            max_examples=cfg.max_pairs, seed=cfg.seed,
        )  # fmt: skip
        self.size, self.what = len(self.examples), "history -> next items examples"
        self.stats = {"users": self.examples.users, "examples": len(self.examples)}
        self.learning_rate, self.batch_size = cfg.head_learning_rate, cfg.batch_size
        self.rng = np.random.default_rng(cfg.seed)
        dim = base_vectors.shape[1]
        self.head = torch.nn.Linear(dim, dim)
        with torch.no_grad():
            self.head.weight.copy_(torch.eye(dim))
            self.head.bias.zero_()
        self.base = torch.as_tensor(base_vectors)

    def parameters(self) -> list:
        return list(self.head.parameters())

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        order = self.rng.permutation(len(self.examples))
        return (order[i : i + self.batch_size] for i in range(0, len(order) - self.batch_size + 1, self.batch_size))

    def loss(self, batch: np.ndarray):
        """Softmax over the whole catalog of the cosine with the mean of each example's history vectors (the k-NN
        baseline's query), averaged over the example's targets."""
        torch, ex = self.torch, self.examples
        vectors = torch.nn.functional.normalize(self.head(self.base), dim=-1)  # (items, dim)
        hs, ts = ex.history_start, ex.target_start
        h_rows = np.concatenate([ex.history[hs[k] : hs[k + 1]] for k in batch])
        h_of = torch.as_tensor(np.repeat(np.arange(len(batch)), hs[batch + 1] - hs[batch]))
        query = torch.zeros(len(batch), vectors.shape[1]).index_add_(0, h_of, vectors[torch.as_tensor(h_rows)])
        log_p = torch.log_softmax(SCALE * torch.nn.functional.normalize(query, dim=-1) @ vectors.T, dim=-1)
        t_rows = torch.as_tensor(np.concatenate([ex.targets[ts[k] : ts[k + 1]] for k in batch]))
        counts = ts[batch + 1] - ts[batch]
        t_of = torch.as_tensor(np.repeat(np.arange(len(batch)), counts))
        weights = torch.as_tensor(1.0 / np.repeat(counts, counts), dtype=log_p.dtype)
        return -(log_p[t_of, t_rows] * weights).sum() / len(batch)

    def vectors(self) -> np.ndarray:
        with self.torch.no_grad():
            return self.torch.nn.functional.normalize(self.head(self.base), dim=-1).numpy()

    def weights(self) -> dict:
        return {k: v.detach().clone() for k, v in self.head.state_dict().items()}

    def finish(self, weights: dict) -> None:
        self.head.load_state_dict(weights)
        append_head(self.model, self.head)  # saved as a standard Dense module after the encoder


class EncoderPairs:
    """The whole encoder on behaviour pairs, in-batch negatives in both directions."""

    def __init__(
        self, torch, model, settings: Settings, events: pd.DataFrame, texts: dict[str, str], items: list[str],
        until: pd.Timestamp | None, held_out: set[str], base_vectors: np.ndarray,
    ):  # fmt: skip
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        cfg = settings.finetune
        self.torch, self.model, self.texts, self.items = torch, model, texts, items
        found = behaviour_pairs(
            events, items, until=until, exclude_users=held_out, window_days=cfg.window_days, max_pairs=cfg.max_pairs,
            damping=cfg.popularity_damping, seed=cfg.seed,
        )  # fmt: skip
        self.pairs = found.pairs
        self.size = len(self.pairs)
        self.what = f"pairs of items bought by one customer within {cfg.window_days:g} days"
        self.stats = {"users": found.users, "events": found.events, "draws": found.draws}
        self.learning_rate, self.batch_size, self.seed = cfg.learning_rate, cfg.batch_size, cfg.seed
        self.loss_fn = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"))
        model.train()

    def parameters(self) -> list:
        return list(self.model.parameters())

    def batches(self, epoch: int) -> Iterator[list[int]]:
        return batches_without_repeats(self.pairs, self.batch_size, seed=self.seed + epoch)

    def loss(self, batch: list[int]):
        features = [
            {k: v.to(self.model.device) if hasattr(v, "to") else v
             for k, v in self.model.preprocess([self.texts[self.pairs[i][side]] for i in batch]).items()}
            for side in (0, 1)
        ]  # fmt: skip
        return self.loss_fn(features, self.torch.empty(0))

    def vectors(self) -> np.ndarray:
        self.model.eval()
        with self.torch.no_grad():
            vectors = encode(self.model, [self.texts[i] for i in self.items])
        self.model.train()
        return vectors

    def weights(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def finish(self, weights: dict) -> None:
        self.model.load_state_dict(weights)


#: The objectives by their setting value.
OBJECTIVES: dict[str, type] = {"history": HistoryHead, "pairs": EncoderPairs}
