"""A scripted LLM: known answers per item title, every call recorded."""

from __future__ import annotations

import json


class ScriptedLLM:
    """Answers from a dict title -> list of answers (one per attempt); records every call."""

    name = "scripted"

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers
        self.calls: list[list[str]] = []
        self.schemas: list[dict | None] = []

    def generate(self, conversations, max_new_tokens, json_schema=None):
        titles = [c[-1]["content"] if c[-1]["role"] == "user" and "Product:" in c[-1]["content"] else c[-3]["content"]
                  for c in conversations]  # fmt: skip
        titles = [t.split('"')[1] for t in titles]
        self.calls.append(titles)
        self.schemas.append(json_schema)
        out = []
        for title, conv in zip(titles, conversations, strict=True):
            attempt = sum(1 for m in conv if m["role"] == "assistant") - 1  # the prompt's worked example is one
            options = self.answers[title]
            out.append(options[min(attempt, len(options) - 1)])
        return out


def answer(description: str, **attrs) -> str:
    return json.dumps({"description": description, **attrs})
