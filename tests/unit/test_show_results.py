"""scripts/show-results, the demo's printer of a ranking answer: each explanation worded by its event's type."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "show-results"


def show(body: dict) -> list[str]:
    done = subprocess.run([sys.executable, str(SCRIPT)], input=json.dumps(body), capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout.splitlines()


def test_explanations_name_the_event_type_not_always_a_purchase():
    lines = show({"personalized": True, "model_version": "v1", "results": [
        {"id": "1", "title": "MUG", "score": 1.0, "explanations": [
            {"item_id": "a", "title": "CUP", "weight": 0.5, "type": "click"},
            {"item_id": "b", "title": "", "weight": 0.2, "type": "purchase"}]},
        {"id": "2", "title": "PLATE", "score": 0.5, "explanations": []},
    ]})  # fmt: skip
    assert lines[0] == "personalized: True | reason: None | model: v1"
    assert lines[1].endswith("because you looked at CUP (0.50); bought b (0.20)")
    assert lines[2].endswith("(no history)")
