"""The experiments table: one row per experiment ever started, its two ranker versions, its mode and its state.

    start(engine, name, control, treatment, mode, traffic)   a new running experiment (its name is new)
    stop(engine, name)                                        running -> stopped (the report still reads it)
    running(engine)                                           the one running experiment, or None
    get(engine, name) / list_all(engine)

At most one experiment runs at a time: two would share users and each would see the other's lists. A name is
used once (the report reads the impressions recorded under it), so a stopped experiment is not restarted.

The schema is made and changed only by the migrations in ``core/migrations/`` (revision 0005).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Column, DateTime, Float, Index, String, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from core.errors import InputError

Mode = Literal["interleave", "ab"]
MODES: tuple[str, ...] = ("interleave", "ab")
#: An experiment's name: what the impressions are recorded under (also in OpenSearch's ubi_queries).
MAX_NAME_LENGTH = 64


class ExperimentRow(SQLModel, table=True):
    """One experiment (table ``experiments``)."""

    __tablename__ = "experiments"
    __table_args__ = (
        # at most one running experiment (migration 0005): a second concurrent start fails instead of adding one
        Index(
            "ux_experiments_one_running", "state", unique=True,
            sqlite_where=text("state = 'running'"), postgresql_where=text("state = 'running'"),
        ),
    )  # fmt: skip

    name: str = Field(sa_column=Column(String(MAX_NAME_LENGTH), primary_key=True))
    mode: str = Field(sa_column=Column(String(16), nullable=False))
    control: str = Field(sa_column=Column(String(64), nullable=False))
    treatment: str = Field(sa_column=Column(String(64), nullable=False))
    traffic: float = Field(sa_column=Column(Float, nullable=False))
    state: str = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime = Field(sa_column=Column(DateTime, nullable=False))
    stopped_at: datetime | None = Field(default=None, sa_column=Column(DateTime))


@dataclass(frozen=True)
class Experiment:
    """An experiment as the service, the CLI and the report see it."""

    name: str
    mode: str
    control: str
    treatment: str
    traffic: float
    state: str
    started_at: datetime
    stopped_at: datetime | None = None

    def version_of(self, team: str) -> str:
        """The ranker version of ``team`` (``control`` or ``treatment``)."""
        return self.control if team == "control" else self.treatment


def _public(row: ExperimentRow) -> Experiment:
    return Experiment(row.name, row.mode, row.control, row.treatment, row.traffic, row.state, row.started_at,
                      row.stopped_at)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_name(name: str) -> str:
    """``name`` when it can name an experiment (letters, digits, ``._-``, at most 64), else an InputError."""
    ok = 0 < len(name) <= MAX_NAME_LENGTH and all(c.isalnum() or c in "._-" for c in name) and name.isascii()
    if not ok:
        raise InputError(f"use 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-'; got {name!r}", field="name")
    return name


def start(engine: Engine, name: str, control: str, treatment: str, mode: str = "interleave",
          traffic: float = 1.0) -> Experiment:  # fmt: skip
    """Record a new running experiment; InputError when the name was used, another one runs, the mode or traffic is
    not valid, or both sides are one version (the caller checks the versions exist)."""
    check_name(name)
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}; got {mode!r}", field="mode")
    if not 0 < traffic <= 1:
        raise InputError(f"must be above 0 and at most 1; got {traffic}", field="traffic")
    if control == treatment:
        raise InputError(f"control and treatment are both {control}: compare two versions (register a copy of one "
                         "to run an A-vs-A check)", field="treatment")  # fmt: skip
    with Session(engine) as session:
        if session.get(ExperimentRow, name) is not None:
            raise InputError(f"experiment {name!r} exists already (names are used once): pick another", field="name")
        other = session.exec(select(ExperimentRow).where(ExperimentRow.state == "running")).first()
        if other is not None:
            raise InputError(f"experiment {other.name!r} is running: stop it first (one experiment at a time)",
                             field="name")  # fmt: skip
        session.add(ExperimentRow(name=name, mode=mode, control=control, treatment=treatment, traffic=traffic,
                                  state="running", started_at=_now()))  # fmt: skip
        try:
            session.commit()
        except IntegrityError:
            raise InputError("another experiment was started at the same time: one experiment at a time",
                             field="name") from None  # fmt: skip
    return get(engine, name)


def stop(engine: Engine, name: str) -> Experiment:
    """Stop a running experiment (the service goes back to the active version at its next check)."""
    with Session(engine) as session:
        row = session.get(ExperimentRow, name)
        if row is None:
            raise _unknown(session, name)
        if row.state != "running":
            raise InputError(f"experiment {name!r} is not running (stopped {row.stopped_at:%Y-%m-%d %H:%M})",
                             field="name")  # fmt: skip
        row.state, row.stopped_at = "stopped", _now()
        session.add(row)
        session.commit()
    return get(engine, name)


def get(engine: Engine, name: str) -> Experiment:
    """One experiment; InputError naming the known ones when there is none of that name."""
    with Session(engine) as session:
        row = session.get(ExperimentRow, name)
        if row is None:
            raise _unknown(session, name)
        return _public(row)


def running(engine: Engine) -> Experiment | None:
    """The running experiment, or None."""
    with Session(engine) as session:
        row = session.exec(select(ExperimentRow).where(ExperimentRow.state == "running")).first()
        return _public(row) if row else None


def list_all(engine: Engine) -> list[Experiment]:
    """Every experiment, oldest first."""
    with Session(engine) as session:
        return [_public(r) for r in session.exec(select(ExperimentRow).order_by(ExperimentRow.started_at))]


def _unknown(session: Session, name: str) -> InputError:
    known = ", ".join(r.name for r in session.exec(select(ExperimentRow).order_by(ExperimentRow.started_at)))
    return InputError(f"no experiment {name!r} (known: {known or 'none'})", field="name")
