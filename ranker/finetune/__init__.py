"""Fine-tuning the embedding model on the shop's behaviour (``recadmin finetune``): training examples from the
events, the training loop with its held-out check, and the fine-tuned versions kept on disk."""

from ranker.finetune.check import describe_validation
from ranker.finetune.loop import FinetuneResult, finetune, finetune_from_settings
from ranker.finetune.versions import list_versions

__all__ = ["FinetuneResult", "describe_validation", "finetune", "finetune_from_settings", "list_versions"]
