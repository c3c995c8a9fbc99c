"""Credit and report: attributed events credited to the team that placed the item (interleaving) or the user's arm
(A/B), the win rate with its interval and sign test, the bootstrap of A/B, and the HTML and JSON report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from scipy.stats import binomtest

from ranker.experiments import CONTROL, TREATMENT, Experiment, build_report, credit, wilson, write_html, write_json
from ranker.experiments.stats import bootstrap_difference, sign_test, significant_from
from ranker.feedback import AttributedEvent

T0 = datetime(2026, 1, 1)


def _experiment(mode: str = "interleave") -> Experiment:
    return Experiment("e", mode, "v1", "v2", 1.0, "running", T0)


def _event(query_id: str, item: str, placed_by: str, type_: str = "click", value: float | None = None):
    return AttributedEvent(f"{query_id}-{item}-{type_}", "u", type_, T0, query_id, item, 1, placed_by, value)


def test_clicks_are_credited_to_the_team_that_placed_the_item():
    answers = {f"q{n}": ("v1+v2", T0 + timedelta(seconds=n)) for n in range(4)}
    events = [
        _event("q0", "a", "v2"), _event("q0", "b", "v2"), _event("q0", "c", "v1"),  # treatment 2 : 1
        _event("q0", "a", "v2"),  # the same item again counts once
        _event("q1", "d", "v1"),  # control
        _event("q2", "e", "v1"), _event("q2", "f", "v2"),  # tie
        _event("q3", "g", "retrieval"),  # placed by neither: no credit
        _event("other", "h", "v2"),  # not an answer of the experiment
    ]  # fmt: skip
    outcomes = credit(_experiment(), answers, events)
    assert [o.winner("click") for o in outcomes] == [TREATMENT, CONTROL, "tie", None]
    report = build_report(_experiment(), outcomes)
    [clicks, purchases] = report.win_rates
    assert (clicks.treatment_wins, clicks.control_wins, clicks.ties, clicks.no_events) == (1, 1, 1, 1)
    assert clicks.win_rate == 0.5 and clicks.winner is None and report.winner is None
    assert purchases.no_events == 4


def test_a_clear_preference_names_the_treatment_with_the_sign_test():
    answers = {f"q{n}": ("v1+v2", T0 + timedelta(seconds=n)) for n in range(100)}
    # 70 answers where the treatment's item was clicked, 30 where the control's was
    events = [_event(f"q{n}", "x", "v2" if n % 10 < 7 else "v1") for n in range(100)]
    report = build_report(_experiment(), credit(_experiment(), answers, events))
    clicks = report.win_rates[0]
    assert clicks.win_rate == 0.7
    assert clicks.p_value == pytest.approx(binomtest(70, 100, 0.5).pvalue)
    assert clicks.low < 0.7 < clicks.high and clicks.low > 0.5
    assert report.winner == TREATMENT and report.winner_version == "v2"
    assert report.curve[-1].impressions == 100 and report.sessions_to_significance is not None


def test_ab_counts_per_arm_and_revenue_per_answer():
    answers = {f"q{n}": ("v1" if n % 2 else "v2", T0 + timedelta(seconds=n)) for n in range(400)}
    # the treatment (v2) arm: every answer a click and a purchase of 10; the control: every fourth answer a click
    events = [_event(f"q{n}", "x", "v2") for n in range(0, 400, 2)]
    events += [_event(f"q{n}", "x", "v2", "purchase", 10.0) for n in range(0, 400, 2)]
    events += [_event(f"q{n}", "y", "v1") for n in range(1, 400, 4)]
    experiment = _experiment("ab")
    report = build_report(experiment, credit(experiment, answers, events), bootstrap_samples=500)
    assert report.arms == {CONTROL: 200, TREATMENT: 200}
    by = {m.metric: m for m in report.ab}
    assert by["click"].control == pytest.approx(0.5) and by["click"].treatment == 1.0
    assert by["revenue"].treatment == 10.0 and by["revenue"].control == 0.0
    assert by["click"].winner == TREATMENT and by["click"].p_value < 0.01
    assert report.winner_version == "v2"


def test_wilson_and_sign_test_match_the_textbook_values():
    low, high = wilson(7, 10)
    assert (round(low, 4), round(high, 4)) == (0.3968, 0.8922)  # Wilson 95% interval of 7/10
    assert sign_test(0, 0) == 1.0 and sign_test(5, 5) == 1.0
    assert sign_test(9, 1) == pytest.approx(0.021484375)  # 2 * (1 + 10) / 1024


def test_bootstrap_finds_no_difference_between_equal_arms_and_one_between_different_ones():
    same = bootstrap_difference([0, 1] * 100, [1, 0] * 100, samples=1000)
    assert same.p_value > 0.5 and same.low < 0 < same.high
    apart = bootstrap_difference([0] * 150 + [1] * 50, [0] * 50 + [1] * 150, samples=1000)
    assert apart.p_value < 0.01 and apart.difference == pytest.approx(0.5)


def test_significance_counts_from_where_the_p_value_stays_below_alpha():
    assert significant_from([(10, 0.01), (20, 0.2), (30, 0.04), (40, 0.01)], 0.05) == 30
    assert significant_from([(10, 0.01), (20, 0.2)], 0.05) is None


def test_the_report_is_written_as_json_and_html_with_a_plot(tmp_path):
    answers = {f"q{n}": ("v1+v2", T0 + timedelta(seconds=n)) for n in range(50)}
    events = [_event(f"q{n}", "x", "v2" if n % 3 else "v1") for n in range(50)]
    report = build_report(_experiment(), credit(_experiment(), answers, events))
    write_json(report, tmp_path / "r.json")
    write_html(report, tmp_path / "r.html")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["name"] == "e" and data["win_rates"][0]["treatment_wins"] == 33 and len(data["curve"]) == 50
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "Experiment e" in page


def test_a_returning_shopper_counts_once_so_repeated_answers_are_not_new_evidence():
    # 100 answers, 70 won by the treatment, but from 4 shoppers only (each comes back 25 times)
    answers = {f"q{n}": ("v1+v2", T0 + timedelta(seconds=n), f"shopper{n % 4}") for n in range(100)}
    events = [_event(f"q{n}", f"x{n}", "v2" if n % 10 < 7 else "v1") for n in range(100)]
    report = build_report(_experiment(), credit(_experiment(), answers, events))
    clicks = report.win_rates[0]
    assert report.impressions == 100 and report.shoppers == 4
    assert clicks.treatment_wins + clicks.control_wins + clicks.ties == 4  # one vote per shopper
    assert report.winner is None and clicks.p_value > 0.05  # 4 shoppers cannot make a verdict
    # the same answers from 100 different shoppers are significant (the sign test over 70 : 30)
    distinct = {q: (v, ts, q) for q, (v, ts, _) in answers.items()}
    assert build_report(_experiment(), credit(_experiment(), distinct, events)).winner == TREATMENT


def test_ab_averages_per_shopper_so_a_heavy_shopper_weighs_as_one():
    # the treatment arm: one shopper with 50 answers of 3 clicks each and 49 shoppers with none; control: 50 shoppers
    # with one click each. Per answer the treatment looks better (150 clicks in 99 answers against 50 in 50); per
    # shopper, the unit A/B randomises, it is worse (one shopper in 50 clicks at all)
    answers, events = {}, []
    for n in range(50):
        answers[f"h{n}"] = ("v2", T0 + timedelta(seconds=n), "heavy")
        events += [_event(f"h{n}", f"i{k}", "v2") for k in range(3)]
    for n in range(49):
        answers[f"t{n}"] = ("v2", T0 + timedelta(seconds=100 + n), f"t{n}")
    for n in range(50):
        answers[f"c{n}"] = ("v1", T0 + timedelta(seconds=200 + n), f"c{n}")
        events.append(_event(f"c{n}", "a", "v1"))
    report = build_report(_experiment("ab"), credit(_experiment("ab"), answers, events), bootstrap_samples=500)
    clicks = report.ab[0]
    assert report.shoppers == 100
    assert clicks.control == pytest.approx(1.0) and clicks.treatment == pytest.approx(3 / 50)
    assert clicks.difference < 0
