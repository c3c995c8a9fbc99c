"""Offline evaluation of rankers: time, leave-last-out and last-item splits, full-ranking and sampled-negatives
metrics, baselines, the peer recommenders (BPR, GRU4Rec, SASRec: ``peers/``), the attention ranker measured on what
the service serves, paired bootstrap intervals and reports. ``recadmin evaluate`` calls :func:`evaluate`."""

from ranker.evaluation.api import EvaluateRequest, EvaluationRun, evaluate, parse_indexes
from ranker.evaluation.attention import AttentionReranker, attention_factory
from ranker.evaluation.report import cold_start_rows, explanation_lines, search_rows
from ranker.evaluation.runner import EvalConfig, run_evaluation

__all__ = [
    "AttentionReranker",
    "EvalConfig",
    "EvaluateRequest",
    "EvaluationRun",
    "attention_factory",
    "cold_start_rows",
    "evaluate",
    "explanation_lines",
    "parse_indexes",
    "run_evaluation",
    "search_rows",
]
