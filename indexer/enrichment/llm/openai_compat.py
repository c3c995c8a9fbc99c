"""Any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, llama.cpp server, hosted APIs) through httpx.

A batch is sent as one request per conversation, at most ``concurrency`` in flight; each request has a timeout and
is retried with exponential backoff (and jitter) on timeouts, connection errors, HTTP 429 and 5xx. Wrong
credentials (401/403) and other 4xx answers fail at once: retrying cannot fix them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from core.errors import ConfigError, ModelError
from core.redact import without_userinfo
from indexer.enrichment.llm import Messages

if TYPE_CHECKING:
    from core.settings import EnrichSettings

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class OpenAICompatibleLLM:
    """Chat completions from ``base_url`` (ending in ``/v1``) for ``model``."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep=time.sleep,
    ):
        if not model:
            raise ConfigError("set RECSEARCH_ENRICH_OPENAI_MODEL to the model name the endpoint serves")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        # The name goes into every enriched document and the cache key, the URL into error messages: neither may
        # carry credentials a base URL can hold (https://user:key@host/v1).
        self.name = f"openai:{model}@{without_userinfo(base_url.rstrip('/'))}"
        self.shown_url = without_userinfo(self.url)
        self.concurrency = max(1, concurrency)
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self._sleep = sleep
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.Client(headers=headers, timeout=timeout_s, limits=limits, transport=transport)

    @classmethod
    def from_settings(cls, s: EnrichSettings) -> OpenAICompatibleLLM:
        """The endpoint the ``RECSEARCH_ENRICH_*`` settings describe."""
        return cls(
            s.openai_url,
            s.openai_model,
            api_key=s.api_key.get_secret_value() if s.api_key else None,
            concurrency=s.concurrency,
            max_retries=s.max_retries,
            backoff_s=s.backoff_s,
            timeout_s=s.timeout_s,
        )

    def generate(
        self, conversations: Sequence[Messages], max_new_tokens: int, json_schema: dict[str, Any] | None = None
    ) -> list[str]:
        """One answer per conversation; ``json_schema`` goes out as a ``response_format`` (structured outputs)."""
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._complete(c, max_new_tokens, json_schema), conversations))

    def _complete(self, messages: Messages, max_new_tokens: int, json_schema: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {
            "model": self.model, "messages": list(messages), "max_tokens": max_new_tokens, "temperature": 0,
        }  # fmt: skip
        if json_schema:
            body["response_format"] = {
                "type": "json_schema", "json_schema": {"name": "enrichment", "schema": json_schema, "strict": True},
            }  # fmt: skip
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self.client.post(self.url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                if last:
                    raise ModelError(
                        f"LLM endpoint {self.shown_url} failed after {attempt + 1} tries: {type(e).__name__}"
                    ) from None
                self._backoff(attempt)
                continue
            if response.status_code in (401, 403):
                raise ConfigError(
                    f"LLM endpoint {self.shown_url} rejected the API key (HTTP {response.status_code}); "
                    "check RECSEARCH_ENRICH_API_KEY"
                )
            if response.status_code in RETRY_STATUS and not last:
                self._backoff(attempt, response.headers.get("retry-after"))
                continue
            if response.status_code >= 400:
                raise ModelError(
                    f"LLM endpoint {self.shown_url} answered HTTP {response.status_code}: {response.text[:200]}"
                )
            try:
                return str(response.json()["choices"][0]["message"]["content"] or "").strip()
            except (ValueError, KeyError, IndexError, TypeError):
                raise ModelError(
                    f"LLM endpoint {self.shown_url} sent an answer that is not a chat completion"
                ) from None
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: str | None = None) -> None:
        delay = self.backoff_s * (2**attempt) * (0.5 + random.random())
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        self._sleep(delay)
