"""The options of one training run: the ``RECSEARCH_RANKER_*`` settings (each documented on
:class:`core.settings.RankerSettings`), and the two choices only code makes."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import RankerSettings, SequenceSettings


@dataclass(frozen=True)
class TrainOptions:
    """Everything :func:`ranker.training.fit.fit` needs besides the data."""

    #: Every hyper-parameter, as the settings give it (CLI flags override single fields: :meth:`from_settings`).
    ranker: RankerSettings
    #: Event types that are next-item targets (every type is history).
    target_types: tuple[str, ...] = ("purchase",)
    #: Subtract log(expected draws) of each negative in the sampled softmax.
    log_q_correction: bool = True
    #: The sequence model trained first (its score becomes a feature), None for the attention ranker alone.
    sequence: SequenceSettings | None = None

    @classmethod
    def from_settings(
        cls, settings: RankerSettings, sequence: SequenceSettings | None = None, **overrides
    ) -> TrainOptions:
        """The settings with the ``overrides`` that are not None (``--epochs``, ``--seed``, ...) applied; the
        sequence model's settings when it is to be trained (``RECSEARCH_SEQUENCE_ENABLED``)."""
        changes = {name: value for name, value in overrides.items() if value is not None}
        unknown = sorted(set(changes) - set(RankerSettings.model_fields))
        if unknown:
            raise TypeError(f"not a ranker setting: {', '.join(unknown)}")
        return cls(settings.model_copy(update=changes), sequence=sequence if sequence and sequence.enabled else None)

    def as_dict(self) -> dict:
        """JSON-ready, for the checkpoint's record of how it was trained."""
        sequence = self.sequence.model_dump(mode="json") if self.sequence else None
        return {**self.ranker.model_dump(mode="json"), "target_types": list(self.target_types),
                "log_q_correction": self.log_q_correction, "sequence": sequence}  # fmt: skip
