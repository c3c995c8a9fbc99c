"""Offline evaluation of rankers: time and leave-last-out splits, full-ranking and sampled-negatives metrics,
baselines, paired bootstrap intervals and reports. ``recadmin evaluate`` calls :func:`evaluate`."""

from ranker.evaluation.api import EvaluateRequest, EvaluationRun, evaluate, parse_indexes
from ranker.evaluation.runner import EvalConfig, run_evaluation

__all__ = ["EvalConfig", "EvaluateRequest", "EvaluationRun", "evaluate", "parse_indexes", "run_evaluation"]
