"""Online experiments between two ranker versions: team-draft interleaving (each answer mixes both rankers' lists,
clicks credit the ranker that placed the item) or an A/B split by user; the experiments table; the credit of
attributed UBI events; and the report (win rate, sign test, bootstrap; JSON and HTML). docs/experiments.md.
"""

from ranker.experiments.api import (
    Result,
    Status,
    experiment_report,
    experiment_results,
    experiment_status,
    start_experiment,
    stop_experiment,
)
from ranker.experiments.assignment import arm_of, bucket, in_experiment
from ranker.experiments.credit import Outcome, credit, team_of
from ranker.experiments.interleave import CONTROL, TREATMENT, Interleaved, seed_of, team_draft
from ranker.experiments.report import ExperimentReport, build_report, verdict, write_html, write_json
from ranker.experiments.stats import bootstrap_difference, sign_test, significant_from, wilson
from ranker.experiments.store import MODES, Experiment, ExperimentRow, running

__all__ = [
    "CONTROL",
    "MODES",
    "TREATMENT",
    "Experiment",
    "ExperimentReport",
    "ExperimentRow",
    "Interleaved",
    "Outcome",
    "Result",
    "Status",
    "arm_of",
    "bootstrap_difference",
    "bucket",
    "build_report",
    "credit",
    "experiment_report",
    "experiment_results",
    "experiment_status",
    "in_experiment",
    "running",
    "seed_of",
    "sign_test",
    "significant_from",
    "start_experiment",
    "stop_experiment",
    "team_draft",
    "team_of",
    "verdict",
    "wilson",
    "write_html",
    "write_json",
]
