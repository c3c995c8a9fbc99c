"""Which users an experiment covers, and (A/B mode) which arm each one is in: a stable hash of the experiment's name
and the user id into [0, 1), the same in every process, so a user keeps their arm for the whole experiment.

    bucket < traffic                     the user is in the experiment
    second hash < 0.5 -> control, else treatment      (A/B mode: half of the users each)

The two hashes are independent, so the share in the experiment does not change which arm a user gets.
"""

from __future__ import annotations

from ranker.experiments.interleave import CONTROL, TREATMENT, seed_of

_SCALE = float(1 << 64)


def bucket(*parts: str | None) -> float:
    """A stable number in [0, 1) of ``parts``."""
    return seed_of(*parts) / _SCALE


def in_experiment(name: str, user_id: str, traffic: float) -> bool:
    """Whether ``user_id`` is among the ``traffic`` share of users experiment ``name`` covers."""
    return bucket(name, "traffic", user_id) < traffic


def arm_of(name: str, user_id: str) -> str:
    """The A/B arm of ``user_id`` in experiment ``name``: :data:`CONTROL` or :data:`TREATMENT`, half of the users
    each."""
    return CONTROL if bucket(name, "arm", user_id) < 0.5 else TREATMENT
