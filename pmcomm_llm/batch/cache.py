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

from pmcomm_llm.core.errors import EnvironmentFault

__all__ = ["DraftCache", "cache_dir", "cache_key"]


def cache_dir() -> Path:
    return Path(os.environ.get("PMCOMM_CACHE_DIR") or platformdirs.user_cache_dir("pmcomm-llm"))


def cache_key(fingerprint: dict[str, Any], prompt_version: str, scenario_hash: str) -> str:
    blob = json.dumps({"settings": fingerprint, "prompts": prompt_version, "scenario": scenario_hash},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _fault(exc: Exception, path: Path) -> EnvironmentFault:
    text = str(exc).lower()
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text
                                                    or "file is encrypted" in text):
        why = "is corrupt (not a readable SQLite database): delete it, or run with --no-cache"
    elif "readonly" in text or "read-only" in text or getattr(exc, "errno", None) == 30:
        why = "is on a read-only location: set PMCOMM_CACHE_DIR to a writable directory, or run with --no-cache"
    elif "full" in text or getattr(exc, "errno", None) == 28:
        why = "cannot grow: the disk is full; free some space, or run with --no-cache"
    else:
        why = f"cannot be used ({type(exc).__name__}: {exc}); set PMCOMM_CACHE_DIR elsewhere, or run with --no-cache"
    return EnvironmentFault(f"the draft cache {path} {why}", path=str(path), errno=getattr(exc, "errno", None))


class DraftCache:
    """``get(key)`` → record or None; ``put(key, record)``. Safe across processes (SQLite WAL).

    Every failure of the cache file (corrupt, read-only, disk full) is an :class:`EnvironmentFault` that says
    what to do: it would fail every item the same way, so a run stops on it instead of failing items one by one.
    """

    def __init__(self, path: Path | None = None) -> None:
        path = path or cache_dir() / "drafts.sqlite3"
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS drafts (key TEXT PRIMARY KEY, record TEXT NOT NULL, "
                            "created REAL DEFAULT (unixepoch()))")
        except (sqlite3.Error, OSError) as exc:
            raise _fault(exc, path) from None
        self.hits = self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            row = self.db.execute("SELECT record FROM drafts WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _fault(exc, self.path) from None
        record = None
        if row is not None:
            try:
                record = json.loads(row[0])
            except ValueError:
                record = None  # a damaged entry is a miss; the fresh draft replaces it
        if record is None:
            self.misses += 1
            return None
        self.hits += 1
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        try:
            self.db.execute("INSERT OR REPLACE INTO drafts (key, record) VALUES (?, ?)",
                            (key, json.dumps(record, ensure_ascii=False)))
        except sqlite3.Error as exc:
            raise _fault(exc, self.path) from None

    def close(self) -> None:
        self.db.close()
