"""Small helpers the batch-run tests share: many distinct items, JSONL files, the ids a file holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def many(examples: list[dict[str, Any]], n: int, prefix: str = "item") -> list[dict[str, Any]]:
    """``n`` copies of the examples, cycled, each with its own id."""
    items = []
    for i in range(n):
        s = json.loads(json.dumps(examples[i % len(examples)]))
        s["id"] = f"{prefix}-{i:04d}"
        items.append(s)
    return items


def write_jsonl(path: Path, items: list[Any]) -> None:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")


def ids(path: Path) -> list[str]:
    """The ids of a JSONL output or errors file, in order; asserts there is no torn last line."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    assert not raw or raw.endswith(b"\n"), f"torn last line in {path}"
    return [json.loads(line)["id"] for line in raw.splitlines() if line.strip()]
