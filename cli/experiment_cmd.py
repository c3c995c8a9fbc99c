"""`recadmin experiment start|status|stop|report`: online experiments between two ranker versions
(docs/experiments.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.table import Table

from cli.console import err, out
from core.errors import ConfigError
from core.settings import get_settings

app = typer.Typer(help="Online experiments between two ranker versions: team-draft interleaving or an A/B split.")


@app.command()
def start(
    name: str = typer.Argument(..., help="The experiment's name (used once; its answers are recorded under it)."),
    control: str = typer.Option(..., "--control", help="The version in use, e.g. v3."),
    treatment: str = typer.Option(..., "--treatment", help="The version to compare with it, e.g. v4."),
    traffic: float = typer.Option(1.0, "--traffic", help="Share of users in the experiment (0 to 1]."),
    mode: str = typer.Option(
        "interleave", "--mode", help="interleave (team-draft: each answer mixes both) or ab (half of the users each)."
    ),
) -> None:
    """Start experiment NAME: the service serves it from its next check (RECSEARCH_EXPERIMENTS_CHECK_S)."""
    from ranker.experiments import start_experiment

    found = start_experiment(get_settings(), name, control, treatment, mode=mode, traffic=traffic)
    out.print(f"experiment {found.name} started: {found.mode}, control {found.control}, treatment "
              f"{found.treatment}, {found.traffic:.0%} of users", highlight=False)  # fmt: skip


@app.command()
def stop(name: str = typer.Argument(..., help="The running experiment.")) -> None:
    """Stop experiment NAME (the service serves the active version again from its next check)."""
    from ranker.experiments import stop_experiment

    found = stop_experiment(get_settings(), name)
    out.print(f"experiment {found.name} stopped; `recadmin experiment report {found.name}` still reads it",
              highlight=False)  # fmt: skip


@app.command()
def status(name: str = typer.Argument(None, help="One experiment (default: all).")) -> None:
    """Experiments, their state and how many answers were served under each."""
    from ranker.experiments import experiment_status

    found = experiment_status(get_settings(), name)
    if not found:
        out.print("no experiments yet; start one with `recadmin experiment start NAME --control V --treatment V`")
        return
    table = Table("name", "mode", "control", "treatment", "traffic", "state", "started (UTC)", "answers")
    for s in found:
        e = s.experiment
        table.add_row(e.name, e.mode, e.control, e.treatment, f"{e.traffic:.0%}", e.state,
                      e.started_at.strftime("%Y-%m-%d %H:%M:%S"), f"{s.answers:,}")  # fmt: skip
    out.print(table)


@app.command()
def report(
    name: str = typer.Argument(..., help="The experiment (running or stopped)."),
    html_path: Path = typer.Option(None, "--html", help="Write the report with its plot as HTML to this file."),
    json_path: Path = typer.Option(None, "--json", help="Write the report as JSON to this file ('-': stdout)."),
) -> None:
    """Which version the shoppers preferred: win rate with interval and sign test (interleaving), or clicks and
    revenue per answer with bootstrap intervals (A/B)."""
    from ranker.experiments import experiment_report, verdict, write_html, write_json

    found = experiment_report(get_settings(), name)
    if json_path is not None and str(json_path) == "-":
        print(json.dumps(dataclasses.asdict(found), indent=1, default=str))
        return
    out.print(verdict(found), highlight=False)
    if found.win_rates:
        table = Table("event", "treatment wins", "control wins", "ties", "win rate", "interval", "sign test p")
        for w in found.win_rates:
            table.add_row(w.event_type, f"{w.treatment_wins:,}", f"{w.control_wins:,}", f"{w.ties:,}",
                          f"{w.win_rate:.3f}", f"[{w.low:.3f}, {w.high:.3f}]", f"{w.p_value:.4g}")  # fmt: skip
        out.print(table)
    if found.ab:
        table = Table("per answer", "control", "treatment", "difference", "interval", "bootstrap p")
        for m in found.ab:
            table.add_row(m.metric, f"{m.control:.4f}", f"{m.treatment:.4f}", f"{m.difference:+.4f}",
                          f"[{m.low:+.4f}, {m.high:+.4f}]", f"{m.p_value:.4g}")  # fmt: skip
        out.print(table)
    for path, write in ((html_path, write_html), (json_path, write_json)):
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write(found, path)
            except OSError as e:
                raise ConfigError(f"cannot write the report to {path}: {e.strerror or e}") from e
            err.print(f"wrote {path}")
