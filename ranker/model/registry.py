"""The model registry: every trained ranker version with its checkpoint path and validation metrics, in the SQL
store, and which one is active (the one the service loads). Every function takes an engine from
:func:`core.store.open_store` (the schema at head).

Versions are ``v1``, ``v2``, ... in training order. Activation flips the flag in one transaction, so readers see
exactly one active version (or none before the first activation); a partial unique index on ``active`` makes two
active rows impossible, whatever runs at once. A new version's number is drawn by inserting its row
(:func:`register_new`), so concurrent trainings never share a number or a checkpoint file; each row records the
SHA-256 of its checkpoint, and activation refuses a file that no longer matches it.

The schema is made and changed only by the migrations in ``core/migrations/`` (:func:`core.store.open_store`):
a change to :class:`RankerModelRow` needs a revision (``scripts/db-revision``), and the drift check in
``tests/unit/core/test_store.py`` fails until there is one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Index, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from core.errors import InputError, ModelError

if TYPE_CHECKING:
    from ranker.model.checkpoint import Checkpoint


class RankerModelRow(SQLModel, table=True):
    """One registered ranker version (table ``ranker_model_versions``)."""

    __tablename__ = "ranker_model_versions"
    __table_args__ = (
        # at most one active row (migration 0003): a second concurrent activation fails instead of adding one
        Index(
            "ux_ranker_model_versions_one_active", "active", unique=True,
            sqlite_where=text("active"), postgresql_where=text("active"),
        ),
    )  # fmt: skip

    version: str = Field(primary_key=True)
    number: int = Field(index=True, unique=True)
    created_at: datetime
    path: str
    metrics_json: str = "{}"
    info_json: str = "{}"
    active: bool = Field(default=False, index=True)
    #: SHA-256 of the checkpoint file as registered (None: registered before it was recorded, or without a file).
    sha256: str | None = None


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


def _row(version: str, path: Path, metrics: dict[str, float], info: dict | None, sha256: str | None) -> RankerModelRow:
    if not version.startswith("v") or not version[1:].isdigit():
        raise InputError(f"version must look like v1, v2, ...; got {version!r}", field="version")
    return RankerModelRow(
        version=version,
        number=int(version[1:]),
        created_at=datetime.now(UTC),
        path=str(Path(path).resolve()),
        metrics_json=json.dumps(metrics, sort_keys=True),
        info_json=json.dumps(info or {}, sort_keys=True, default=str),
        sha256=sha256,
    )


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def register_new(
    engine: Engine,
    directory: Path,
    write: Callable[[str, Path], object],
    metrics: dict[str, float],
    info: dict | None = None,
    activate: bool = False,
    attempts: int = 20,
) -> ModelVersion:
    """Draw the next version, write its checkpoint into ``directory`` as ``ranker-<version>.pt`` and register it;
    safe when several trainings finish at once.

    ``write(version, path)`` writes the checkpoint of ``version`` to ``path``, a temporary file of this call alone.
    The row is inserted first: until the commit its number is this call's, and a concurrent call that drew the same
    number waits on it, fails, and draws the next. The file is renamed into place inside that transaction, before
    the commit, so no call ever renames over another's registered checkpoint and the registry never names a file
    that is not complete. A process killed before the commit leaves at most an unregistered file, which the next
    version of that number replaces."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _remove_orphans(directory)
    for _ in range(attempts):
        version = next_version(engine)
        final = directory / f"ranker-{version}.pt"
        tmp = directory / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            write(version, tmp)
            with Session(engine) as session:
                session.add(_row(version, final, metrics, info, file_sha256(tmp)))
                try:
                    session.flush()
                except IntegrityError:
                    continue  # another training registered this number first: draw the next one
                os.replace(tmp, final)
                session.commit()
        finally:
            tmp.unlink(missing_ok=True)
        return activate_version(engine, version) if activate else get_version(engine, version)
    raise ModelError(f"no free ranker version number after {attempts} attempts (that many trainings at once?)")


def _remove_orphans(directory: Path) -> None:
    """Delete the temporary checkpoint files of training processes that no longer run (killed mid-write)."""
    for tmp in directory.glob(".ranker-v*.pt.*.tmp"):
        pid = tmp.name.split(".")[-3]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def register(
    engine: Engine,
    version: str,
    path: Path,
    metrics: dict[str, float],
    info: dict | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Record a version whose checkpoint is already written at ``path`` (its SHA-256 is recorded); optionally make it
    active. A training run uses :func:`register_new`, which also draws the version."""
    path = Path(path)
    row = _row(version, path, metrics, info, file_sha256(path) if path.is_file() else None)
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


def verify_checkpoint(engine: Engine, version: str) -> ModelVersion:
    """The version, once its checkpoint is known to be whole: :class:`ModelError` when the file is missing, differs
    from the SHA-256 recorded at registration (truncated, overwritten), or (a version registered before checksums)
    cannot be loaded."""
    found = get_version(engine, version)
    if not found.path.is_file():
        raise ModelError(f"ranker version {version}: checkpoint {found.path} is missing; retrain or pick another")
    with Session(engine) as session:
        recorded = session.get(RankerModelRow, version).sha256
    if recorded:
        if file_sha256(found.path) != recorded:
            raise ModelError(
                f"ranker version {version}: checkpoint {found.path} is not the file registered (checksum differs: "
                "truncated or overwritten); retrain or pick another"
            )
    else:
        from ranker.model.checkpoint import load_checkpoint

        load_checkpoint(found.path)  # its ModelError names the file and what is wrong
    return found


def activate_version(engine: Engine, version: str, attempts: int = 3) -> ModelVersion:
    """Make ``version`` the active one (and no other) in one transaction, once its checkpoint is verified
    (:func:`verify_checkpoint`); on any refusal nothing changes."""
    verify_checkpoint(engine, version)
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                table = RankerModelRow.__table__
                conn.execute(update(table).where(table.c.active, table.c.version != version).values(active=False))
                conn.execute(update(table).where(table.c.version == version).values(active=True))
            break
        except IntegrityError:
            # PostgreSQL: an activation committed while this one ran; its row is now visible, so try again
            if attempt == attempts - 1:
                raise ModelError(f"ranker version {version}: other activations kept running at once; retry") from None
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
