"""The model and what serves it: the attention network, its features and item statistics, checkpoints, the model
registry, in-process scoring with explanations, and the candidate pool of recommendations.

Knows nothing about where events come from: training (:mod:`ranker.training`) builds its examples, the service and
the evaluation hand it histories and candidates.
"""

from ranker.model.behaviour import BehaviourSpace, ExactNeighbours, SequenceItemVectors
from ranker.model.candidates import Pool, candidate_pool, history_vector, retrieval_scores
from ranker.model.checkpoint import Checkpoint, SequencePart, load_checkpoint, save_checkpoint, write_checkpoint
from ranker.model.cooccurrence import CoOccurrence, history_sums
from ranker.model.explanations import Explanation, Scored
from ranker.model.features import FEATURE_NAMES, candidate_features, history_mean, recency_buckets
from ranker.model.item_stats import TREND_DAYS, AlignedStats, ItemStats, repeat_rates
from ranker.model.item_vectors import ItemVectors
from ranker.model.network import AttentionRanker, RankerConfig
from ranker.model.publish import (
    Published,
    active_learned_vectors,
    publish_active,
    publish_learned_vectors,
    serves_learned_vectors,
)
from ranker.model.query_order import fuse_with_query, fused_order, fused_scores
from ranker.model.registry import (
    ModelVersion,
    activate_version,
    active_version,
    list_versions,
    load_active,
    next_version,
    profile_shortfall,
    register,
    register_new,
    verify_checkpoint,
)
from ranker.model.scoring import Candidate, HistoryEntry, Scorer
from ranker.model.sequence import SequenceConfig, SequenceModel, gap_buckets

__all__ = [
    "FEATURE_NAMES",
    "TREND_DAYS",
    "AlignedStats",
    "AttentionRanker",
    "BehaviourSpace",
    "Candidate",
    "Checkpoint",
    "CoOccurrence",
    "ExactNeighbours",
    "Explanation",
    "HistoryEntry",
    "ItemStats",
    "ItemVectors",
    "ModelVersion",
    "Pool",
    "Published",
    "RankerConfig",
    "Scored",
    "Scorer",
    "SequenceConfig",
    "SequenceItemVectors",
    "SequenceModel",
    "SequencePart",
    "activate_version",
    "active_learned_vectors",
    "active_version",
    "candidate_features",
    "candidate_pool",
    "fuse_with_query",
    "fused_order",
    "fused_scores",
    "gap_buckets",
    "history_mean",
    "history_sums",
    "history_vector",
    "list_versions",
    "load_active",
    "load_checkpoint",
    "next_version",
    "profile_shortfall",
    "publish_active",
    "publish_learned_vectors",
    "recency_buckets",
    "register",
    "register_new",
    "repeat_rates",
    "retrieval_scores",
    "save_checkpoint",
    "serves_learned_vectors",
    "verify_checkpoint",
    "write_checkpoint",
]
