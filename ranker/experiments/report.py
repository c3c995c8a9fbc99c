"""The experiment report: which ranker the shoppers preferred, how sure that is, and when it became sure.

The unit is the shopper, not the answer: a returning shopper gets the same arm (and the same interleaving for the
same query), so their answers are not independent evidence; counting them as such made p-values too small (identical
rankers "differed" in 10 of 40 simulated runs at alpha 0.05 with shoppers who came back 2.5 times). Interleaving, per
event type (clicks, purchases): shoppers whose answers gave one team's items more of them than the other's are a win
for that team; win rate = treatment wins / (treatment wins + control wins), with its Wilson interval and the
two-sided sign test. A/B: per arm, the shoppers' mean per answer of items clicked, items bought and revenue, and the
treatment-minus-control difference with its bootstrap interval (over shoppers) and p-value. The curve (the plot)
follows the primary metric (clicks) over the answers in time order, with the p-value at each point (sign test;
Welch's t-test for A/B, cheaper than a bootstrap at every point); ``sessions_to_significance`` is the number of
answers from which it stayed below alpha.

    report = build_report(experiment, outcomes, alpha=0.05)
    write_json(report, path); write_html(report, path)
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ranker.experiments.credit import Outcome, per_shopper
from ranker.experiments.interleave import CONTROL, TREATMENT
from ranker.experiments.stats import bootstrap_difference, sign_test, significant_from, welch_p, wilson
from ranker.experiments.store import Experiment

#: Points of the curve at most (the p-value is computed at each).
CURVE_POINTS = 100


@dataclass
class WinRate:
    """Interleaving's comparison on one event type."""

    event_type: str
    treatment_wins: int
    control_wins: int
    ties: int
    no_events: int
    win_rate: float
    low: float
    high: float
    p_value: float
    winner: str | None  # control, treatment, or None: no significant difference


@dataclass
class ArmMetric:
    """A/B's comparison of one per-answer mean (items clicked, items bought, revenue)."""

    metric: str
    control: float
    treatment: float
    difference: float
    low: float
    high: float
    p_value: float
    winner: str | None


@dataclass
class CurvePoint:
    """The primary metric after the first ``impressions`` answers."""

    impressions: int
    value: float  # win rate (interleaving) or treatment - control clicks per answer (A/B)
    low: float
    high: float
    p_value: float


@dataclass
class ExperimentReport:
    """What `recadmin experiment report` prints and writes (JSON, HTML)."""

    name: str
    mode: str
    control: str
    treatment: str
    traffic: float
    state: str
    alpha: float
    impressions: int
    shoppers: int = 0  # the units the statistics count (answers of one shopper are merged)
    arms: dict[str, int] = field(default_factory=dict)  # A/B: answers per arm
    win_rates: list[WinRate] = field(default_factory=list)
    ab: list[ArmMetric] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    sessions_to_significance: int | None = None
    winner: str | None = None  # the primary metric's: control, treatment or None
    winner_version: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _winner(p: float, alpha: float, treatment_better: bool) -> str | None:
    if p >= alpha:
        return None
    return TREATMENT if treatment_better else CONTROL


def win_rate(outcomes: Sequence[Outcome], event_type: str, alpha: float) -> WinRate:
    """Interleaving's wins, ties, win rate, interval and sign test for ``event_type``."""
    winners = [o.winner(event_type) for o in outcomes]
    t, c = winners.count(TREATMENT), winners.count(CONTROL)
    low, high = wilson(t, t + c, alpha)
    p = sign_test(t, c)
    rate = t / (t + c) if t + c else 0.5
    return WinRate(event_type, t, c, winners.count("tie"), winners.count(None), rate, low, high, p,
                   _winner(p, alpha, rate > 0.5))  # fmt: skip


def _per_answer(outcomes: Sequence[Outcome], arm: str, metric: str) -> list[float]:
    """Per unit (a shopper, :func:`per_shopper`) of ``arm``: the mean per answer of ``metric``."""
    if metric == "revenue":
        return [o.revenue / o.answers for o in outcomes if o.arm == arm]
    return [o.count(arm, metric) / o.answers for o in outcomes if o.arm == arm]


def arm_metric(outcomes: Sequence[Outcome], metric: str, alpha: float, samples: int, seed: int = 0) -> ArmMetric:
    """A/B's per-answer means of ``metric`` (an event type, or ``revenue``) and their bootstrapped difference."""
    d = bootstrap_difference(_per_answer(outcomes, CONTROL, metric), _per_answer(outcomes, TREATMENT, metric),
                             samples=samples, alpha=alpha, seed=seed)  # fmt: skip
    return ArmMetric(metric, d.control, d.treatment, d.difference, d.low, d.high, d.p_value,
                     _winner(d.p_value, alpha, d.difference > 0))  # fmt: skip


def curve(outcomes: Sequence[Outcome], mode: str, event_type: str, alpha: float,
          points: int = CURVE_POINTS) -> list[CurvePoint]:  # fmt: skip
    """The primary metric after the first n answers, at up to ``points`` n evenly spread (the last is all)."""
    n = len(outcomes)
    if n == 0:
        return []
    step = max(1, -(-n // points))
    out = []
    for end in [*range(step, n, step), n]:
        part = per_shopper(outcomes[:end])
        if mode == "interleave":
            w = win_rate(part, event_type, alpha)
            out.append(CurvePoint(end, w.win_rate, w.low, w.high, w.p_value))
        else:
            a, b = _per_answer(part, CONTROL, event_type), _per_answer(part, TREATMENT, event_type)
            d = (sum(b) / len(b) if b else 0.0) - (sum(a) / len(a) if a else 0.0)
            se = _standard_error(a, b)
            out.append(CurvePoint(end, d, d - 1.96 * se, d + 1.96 * se, welch_p(a, b)))
    return out


def _standard_error(a: Sequence[float], b: Sequence[float]) -> float:
    import numpy as np

    parts = [np.var(x, ddof=1) / len(x) for x in (a, b) if len(x) > 1]
    return float(np.sqrt(sum(parts))) if len(parts) == 2 else 0.0


def build_report(
    experiment: Experiment,
    outcomes: Sequence[Outcome],
    *,
    alpha: float = 0.05,
    event_types: Sequence[str] = ("click", "purchase"),
    bootstrap_samples: int = 2000,
) -> ExperimentReport:
    """The report of ``experiment`` over its answers' ``outcomes`` (time order); the primary metric is the first
    of ``event_types``."""
    primary = event_types[0]
    report = ExperimentReport(experiment.name, experiment.mode, experiment.control, experiment.treatment,
                              experiment.traffic, experiment.state, alpha, len(outcomes))  # fmt: skip
    shoppers = per_shopper(outcomes)  # the statistics count shoppers: a returning one is not new evidence
    report.shoppers = len(shoppers)
    if experiment.mode == "interleave":
        report.win_rates = [win_rate(shoppers, t, alpha) for t in event_types]
        report.winner = report.win_rates[0].winner
    else:
        report.arms = {arm: sum(o.arm == arm for o in outcomes) for arm in (CONTROL, TREATMENT)}
        report.ab = [arm_metric(shoppers, m, alpha, bootstrap_samples) for m in (*event_types, "revenue")]
        report.winner = report.ab[0].winner
    report.curve = curve(outcomes, experiment.mode, primary, alpha)
    report.sessions_to_significance = significant_from([(p.impressions, p.p_value) for p in report.curve], alpha)
    report.winner_version = experiment.version_of(report.winner) if report.winner else None
    return report


def write_json(report: ExperimentReport, path: Path) -> None:
    """The report as JSON."""
    path.write_text(json.dumps(report.to_dict(), indent=1, default=str))


def _plot_png(report: ExperimentReport) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    xs = [p.impressions for p in report.curve]
    ax.plot(xs, [p.value for p in report.curve], color="#1f5fbf", label="estimate")
    ax.fill_between(xs, [p.low for p in report.curve], [p.high for p in report.curve], color="#1f5fbf", alpha=0.2,
                    label=f"{1 - report.alpha:.0%} interval")  # fmt: skip
    if report.mode == "interleave":
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel(f"win rate of {report.treatment} (clicks)")
        ax.set_ylim(0, 1)
    else:
        ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
        ax.set_ylabel(f"clicks per answer, {report.treatment} - {report.control}")
    if report.sessions_to_significance:
        ax.axvline(report.sessions_to_significance, color="#2a9d3a", linewidth=1, label=f"p < {report.alpha} from here")
    ax.set_xlabel("answers (impressions) in the experiment")
    ax.set_title(f"experiment {report.name} ({report.mode}): {report.control} vs {report.treatment}")
    ax.legend(loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def verdict(report: ExperimentReport) -> str:
    """The report in one sentence."""
    if report.impressions == 0:
        return f"experiment {report.name}: no answers recorded yet"
    if report.winner is None:
        return (f"experiment {report.name}: no significant difference between {report.control} and "
                f"{report.treatment} after {report.impressions:,} answers{_from(report)} "
                f"(alpha {report.alpha})")  # fmt: skip
    when = f", significant from {report.sessions_to_significance:,}" if report.sessions_to_significance else ""
    return (f"experiment {report.name}: {report.winner_version} ({report.winner}) is better after "
            f"{report.impressions:,} answers{_from(report)}{when} (alpha {report.alpha})")  # fmt: skip


def _from(report: ExperimentReport) -> str:
    return f" from {report.shoppers:,} shopper{'s' if report.shoppers != 1 else ''}" if report.shoppers else ""


def write_html(report: ExperimentReport, path: Path) -> None:
    """A self-contained HTML page: the verdict, the tables and the plot (a PNG inside the page)."""
    rows = []
    for w in report.win_rates:
        rows.append(f"<tr><td>{html.escape(w.event_type)}</td><td>{w.treatment_wins}</td><td>{w.control_wins}</td>"
                    f"<td>{w.ties}</td><td>{w.no_events}</td><td>{w.win_rate:.3f} [{w.low:.3f}, {w.high:.3f}]</td>"
                    f"<td>{w.p_value:.4g}</td><td>{w.winner or 'none'}</td></tr>")  # fmt: skip
    for m in report.ab:
        rows.append(f"<tr><td>{html.escape(m.metric)} per answer</td><td>{m.control:.4f}</td><td>{m.treatment:.4f}</td>"
                    f"<td>{m.difference:+.4f} [{m.low:+.4f}, {m.high:+.4f}]</td><td>{m.p_value:.4g}</td>"
                    f"<td>{m.winner or 'none'}</td></tr>")  # fmt: skip
    if report.mode == "interleave":
        head = ("<tr><th>event</th><th>treatment wins</th><th>control wins</th><th>ties</th><th>no events</th>"
                "<th>win rate [interval]</th><th>sign test p</th><th>winner</th></tr>")  # fmt: skip
    else:
        head = ("<tr><th>metric</th><th>control</th><th>treatment</th><th>difference [interval]</th>"
                "<th>bootstrap p</th><th>winner</th></tr>")  # fmt: skip
    png = base64.b64encode(_plot_png(report)).decode() if report.curve else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>experiment {html.escape(report.name)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .6em;text-align:right}}</style>
</head><body>
<h1>Experiment {html.escape(report.name)}</h1>
<p>{html.escape(report.mode)}: control {html.escape(report.control)}, treatment {html.escape(report.treatment)},
traffic {report.traffic:.0%}, {html.escape(report.state)}; {report.impressions:,} answers.</p>
<p><b>{html.escape(verdict(report))}</b></p>
<table>{head}{"".join(rows)}</table>
{f'<img alt="cumulative estimate with its interval" src="data:image/png;base64,{png}">' if png else ""}
</body></html>
"""
    path.write_text(page)
