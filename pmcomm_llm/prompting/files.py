"""Which files in ``prompts/`` are which: imported without loading LangChain (the offline drafter reads it)."""

from __future__ import annotations

__all__ = ["OFFLINE_FILES"]

OFFLINE_FILES = ["offline/zh-CN.yaml", "offline/zh-TW.yaml", "offline/en.yaml", "offline/zh-TW-phrases.yaml",
                 "banned_phrases.yaml"]
"""The offline drafter's sentences: prompts too, so they count in the prompt version (and the cache key)."""
