"""The options of one training run: the ``RECSEARCH_RANKER_*`` settings (each documented on
:class:`core.settings.RankerSettings`), and the two choices only code makes."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import RankerSettings


@dataclass(frozen=True)
class TrainOptions:
    """Everything :func:`ranker.training.fit.fit` needs besides the data."""

    #: Every hyper-parameter, as the settings give it (CLI flags override single fields: :meth:`from_settings`).
    ranker: RankerSettings
    #: Event types that are next-item targets (every type is history).
    target_types: tuple[str, ...] = ("purchase",)
    #: Subtract log(expected draws) of each negative in the sampled softmax.
    log_q_correction: bool = True

    @classmethod
    def from_settings(cls, settings: RankerSettings, **overrides) -> TrainOptions:
        """The settings with the ``overrides`` that are not None (``--epochs``, ``--seed``, ...) applied."""
        changes = {name: value for name, value in overrides.items() if value is not None}
        unknown = sorted(set(changes) - set(RankerSettings.model_fields))
        if unknown:
            raise TypeError(f"not a ranker setting: {', '.join(unknown)}")
        return cls(settings.model_copy(update=changes))

    def as_dict(self) -> dict:
        """JSON-ready, for the checkpoint's record of how it was trained."""
        return {**self.ranker.model_dump(mode="json"), "target_types": list(self.target_types),
                "log_q_correction": self.log_q_correction}  # fmt: skip
