"""The model registry: every trained ranker version with its checkpoint path and validation metrics, in the SQL
store, and which one is active (the one the service loads). Every function takes an engine from
:func:`core.store.open_store` (the schema at head).

Versions are ``v1``, ``v2``, ... in training order. Activation flips the flag in one transaction, so readers see
exactly one active version (or none before the first activation).

The schema is made and changed only by the migrations in ``core/migrations/`` (:func:`core.store.open_store`):
a change to :class:`RankerModelRow` needs a revision (``scripts/db-revision``), and the drift check in
``tests/unit/core/test_store.py`` fails until there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from core.errors import InputError, ModelError

if TYPE_CHECKING:
    from ranker.model.checkpoint import Checkpoint


class RankerModelRow(SQLModel, table=True):
    """One registered ranker version (table ``ranker_model_versions``)."""

    __tablename__ = "ranker_model_versions"

    version: str = Field(primary_key=True)
    number: int = Field(index=True, unique=True)
    created_at: datetime
    path: str
    metrics_json: str = "{}"
    info_json: str = "{}"
    active: bool = Field(default=False, index=True)


@dataclass(frozen=True)
class ModelVersion:
    """A registered version as the CLI and the service see it."""

    version: str
    created_at: datetime
    path: Path
    metrics: dict[str, float]
    info: dict
    active: bool

    @property
    def history_needed(self) -> int | None:
        """How many of a user's newest interactions the model reads (from its training options; None if unknown)."""
        options = self.info.get("options") or {}
        lengths = [options.get("history_length"), options.get("feature_history")]
        return max(int(n) for n in lengths if n is not None) if any(n is not None for n in lengths) else None


def _public(row: RankerModelRow) -> ModelVersion:
    return ModelVersion(
        row.version, row.created_at, Path(row.path), json.loads(row.metrics_json), json.loads(row.info_json), row.active
    )


def next_version(engine: Engine) -> str:
    """The name the next registered version gets (``v<highest number + 1>``)."""
    with Session(engine) as session:
        rows = session.exec(select(RankerModelRow.number)).all()
    return f"v{max(rows, default=0) + 1}"


def register(
    engine: Engine,
    version: str,
    path: Path,
    metrics: dict[str, float],
    info: dict | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Record a trained version (its checkpoint must already be written); optionally make it active."""
    if not version.startswith("v") or not version[1:].isdigit():
        raise InputError(f"version must look like v1, v2, ...; got {version!r}", field="version")
    row = RankerModelRow(
        version=version,
        number=int(version[1:]),
        created_at=datetime.now(UTC),
        path=str(Path(path).resolve()),
        metrics_json=json.dumps(metrics, sort_keys=True),
        info_json=json.dumps(info or {}, sort_keys=True, default=str),
    )
    try:
        with Session(engine) as session:
            session.add(row)
            session.commit()
    except IntegrityError:
        raise ModelError(f"ranker version {version} is already registered (another training finished first?)") from None
    if activate:
        return activate_version(engine, version)
    return get_version(engine, version)


def list_versions(engine: Engine) -> list[ModelVersion]:
    """Every registered version, oldest first."""
    with Session(engine) as session:
        rows = session.exec(select(RankerModelRow).order_by(RankerModelRow.number)).all()
        return [_public(r) for r in rows]


def get_version(engine: Engine, version: str) -> ModelVersion:
    """One version; :class:`InputError` naming the known ones when it does not exist."""
    with Session(engine) as session:
        row = session.get(RankerModelRow, version)
        if row is None:
            known = ", ".join(r.version for r in session.exec(select(RankerModelRow).order_by(RankerModelRow.number)))
            raise InputError(f"no ranker version {version!r} (registered: {known or 'none'})", field="version")
        return _public(row)


def activate_version(engine: Engine, version: str) -> ModelVersion:
    """Make ``version`` the active one (and no other) in one transaction."""
    found = get_version(engine, version)
    if not found.path.is_file():
        raise ModelError(f"ranker version {version}: checkpoint {found.path} is missing; retrain or pick another")
    with Session(engine) as session:
        for row in session.exec(select(RankerModelRow).where(RankerModelRow.active == True)):  # noqa: E712
            row.active = False
            session.add(row)
        session.flush()
        row = session.get(RankerModelRow, version)
        row.active = True
        session.add(row)
        session.commit()
    return get_version(engine, version)


def active_version(engine: Engine) -> ModelVersion | None:
    """The active version, or None when none was activated yet."""
    with Session(engine) as session:
        row = session.exec(select(RankerModelRow).where(RankerModelRow.active == True)).first()  # noqa: E712
        return _public(row) if row else None


def load_active(engine: Engine) -> Checkpoint:
    """The active version's checkpoint: the one loader of the served model (the service, the CLI and the tests call
    it); :class:`ModelError` when no version is active."""
    from ranker.model.checkpoint import load_checkpoint

    found = active_version(engine)
    if found is None:
        raise ModelError("no active ranker version; train one with `recadmin train` or `recadmin models activate V`")
    return load_checkpoint(found.path)


def profile_shortfall(need: int, profile_length: int) -> str | None:
    """Why profiles of ``profile_length`` interactions would serve a model that reads ``need`` of them
    (``RankerConfig.history_needed``, :attr:`ModelVersion.history_needed`) a shorter history than it was trained on,
    or None when they hold enough."""
    if profile_length >= need:
        return None
    return (
        f"the model reads the newest {need} interactions of a user but profiles keep {profile_length}: set "
        f"RECSEARCH_EVENTS_HISTORY_LENGTH={need} and run `recadmin feedback rebuild-profiles`, or its features are "
        "computed on shorter histories than it was trained on"
    )
