"""A small persistent cache of drafts (SQLite), so re-running a batch makes no model calls.

langchain-community's SQLiteCache lives in an archived package; this is the little we need. The key is the
model, the prompt version, the settings that change output and the scenario's content hash; the value is the
output record as written. Location: ``PMCOMM_CACHE_DIR`` or the user's cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["DraftCache", "cache_dir", "cache_key"]


def cache_dir() -> Path:
    return Path(os.environ.get("PMCOMM_CACHE_DIR") or platformdirs.user_cache_dir("pmcomm-llm"))


def cache_key(fingerprint: dict[str, Any], prompt_version: str, scenario_hash: str) -> str:
    blob = json.dumps({"settings": fingerprint, "prompts": prompt_version, "scenario": scenario_hash},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class DraftCache:
    """``get(key)`` → record or None; ``put(key, record)``. Safe across processes (SQLite WAL)."""

    def __init__(self, path: Path | None = None) -> None:
        path = path or cache_dir() / "drafts.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS drafts (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
                        "created REAL DEFAULT (unixepoch()))")
        self.hits = self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT record FROM drafts WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, record: dict[str, Any]) -> None:
        self.db.execute("INSERT OR REPLACE INTO drafts (key, record) VALUES (?, ?)",
                        (key, json.dumps(record, ensure_ascii=False)))

    def close(self) -> None:
        self.db.close()
