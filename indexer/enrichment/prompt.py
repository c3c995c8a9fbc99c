"""Versioned prompt templates for item enrichment, built in or replaced from a TOML file.

A template has a ``version`` (part of the enrichment cache key, so a changed prompt re-enriches), a ``system``
message, an optional worked example (``example_user`` / ``example_assistant``) and a ``user`` message with the
placeholders ``{title}``, ``{description}``, ``{category}``, ``{price}`` and ``{details}``; the system message may
use ``{categories}`` (the taxonomy terms the category must come from).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from indexer.catalog import Item
from indexer.enrichment.llm import Messages

BUILTIN = Path(__file__).parent / "prompts" / "enrich-v2.toml"
PLACEHOLDERS = {"title", "description", "category", "price", "details"}


@dataclass(frozen=True)
class PromptTemplate:
    """One versioned enrichment prompt."""

    version: str
    system: str
    user: str
    example_user: str = ""
    example_assistant: str = ""

    def messages(self, item: Item, categories: Sequence[str] = ()) -> Messages:
        """The chat conversation that asks for ``item``'s enrichment (``categories``: the taxonomy terms)."""
        details = []
        if item.description and item.description != item.title:
            details.append(f"Description: {item.description}")
        if item.category:
            details.append(f"Category: {item.category}")
        values = {
            "title": item.title,
            "description": item.description,
            "category": item.category,
            "price": "" if item.price is None else f"{item.price:.2f}",
            "details": "".join("\n" + d for d in details),
        }
        system = self.system.replace("{categories}", ", ".join(categories) or "any")
        out: Messages = [{"role": "system", "content": system}]
        if self.example_user and self.example_assistant:
            out += [
                {"role": "user", "content": self.example_user},
                {"role": "assistant", "content": self.example_assistant},
            ]
        out.append({"role": "user", "content": self.user.format(**values)})
        return out


def load_prompt(path: Path | None = None) -> PromptTemplate:
    """The template in ``path`` (TOML), or the built-in one. A bad file is an :class:`InputError` naming it."""
    source = path or BUILTIN
    try:
        data = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read prompt file: {e.strerror}", path=str(source), field="prompt_file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"prompt file is not valid TOML: {e}", path=str(source)) from None
    for key in ("version", "system", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise InputError("missing or empty text", path=str(source), field=key)
    try:
        data["user"].format(**{k: "" for k in PLACEHOLDERS})
    except (KeyError, IndexError, ValueError) as e:
        raise InputError(
            f"bad placeholder {e} (use {', '.join(sorted(PLACEHOLDERS))})", path=str(source), field="user"
        ) from None
    return PromptTemplate(
        version=data["version"].strip(),
        system=data["system"].strip(),
        user=data["user"],
        example_user=str(data.get("example_user") or ""),
        example_assistant=str(data.get("example_assistant") or ""),
    )
