"""LLM enrichment of item text: a prompt, an LLM backend (a local model or any OpenAI-compatible endpoint), the
grounding checks that keep only what the source text supports, and the cache that makes a rebuild call no LLM."""

from indexer.enrichment.audit import AuditReport, load_truth, run_audit
from indexer.enrichment.cache import EnrichmentCache
from indexer.enrichment.enricher import Enricher, Enrichment, EnrichStats, enriched_text
from indexer.enrichment.fixture import FixtureLoad, fixture_file, load_fixture, write_fixture
from indexer.enrichment.llm import LLM, Messages, llm_name, load_llm
from indexer.enrichment.prompt import PromptTemplate, load_prompt

__all__ = [
    "LLM",
    "AuditReport",
    "EnrichStats",
    "Enricher",
    "Enrichment",
    "EnrichmentCache",
    "FixtureLoad",
    "Messages",
    "PromptTemplate",
    "enriched_text",
    "fixture_file",
    "llm_name",
    "load_fixture",
    "load_llm",
    "load_prompt",
    "load_truth",
    "run_audit",
    "write_fixture",
]
