"""The offline drafter's sentences: data files in ``prompts/offline/``, validated once and picked per scenario.

A slot is a string, a list of variants, or a map keyed by kind, channel or tone (``any`` is the fallback). The
variant is chosen from the scenario's content hash, so a re-run writes the same message and two scenarios of
one kind do not read alike. Traditional Chinese (Taiwan) is converted from the Simplified sentences with
OpenCC's ``s2twp`` and our own phrase table, then overridden where Taiwan writes a sentence differently.
"""

from __future__ import annotations

import hashlib
import string
from functools import cache
from typing import Any

from pmcomm_llm.core.errors import PromptError
from pmcomm_llm.core.resources import load_yaml
from pmcomm_llm.prompting.files import OFFLINE_FILES

__all__ = ["OfflineTemplates", "banned_phrases", "load_offline", "taiwan_converter", "OFFLINE_FILES"]

LANGUAGES = ("zh-CN", "zh-TW", "en")
KINDS = ("decline_request", "cancel_project", "manage_expectations", "delay_notice")
NEWS_KEYS = ("decline_request", "cancel_project", "manage_expectations", "delay_new", "delay_new_only",
             "delay_confirm")
CHANNELS = ("email", "im")
TONES = ("formal", "warm", "concise")

# Every slot the composer reads, the keys it is resolved by, and the placeholders its sentences may use.
_SLOTS: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "subject": (KINDS, {"project"}),
    "greeting": ((), {"client_name", "client_formal", "client_first"}),
    "news": (NEWS_KEYS, {"project", "the_project", "The_project", "request", "original_deadline", "new_deadline",
                         "confirm_by"}),
    "news_brief": ((), set()),
    "caveat": ((), {"caveat"}),
    "reason": ((), {"reason", "Reason"}),
    "evidence": ((), {"evidence"}),
    "evidence_plain": ((), {"evidence"}),
    "status.both": ((), {"done", "remaining"}),
    "status.done": ((), {"done"}),
    "status.remaining": ((), {"remaining"}),
    "milestones": ((), {"milestones"}),
    "options.one": ((), {"option"}),
    "options.choice": ((), {"options", "count", "Count"}),
    "options.plan": ((), {"options"}),
    "remedies": ((), {"remedies"}),
    "remedies_alone": ((), {"remedies"}),
    "boundaries": ((), {"boundaries"}),
    "acknowledge.want": ((), {"concern"}),
    "acknowledge.worry": ((), {"concern"}),
    "acknowledge.default": (KINDS, {"client_company"}),
    "next_step": ((), {"next_step"}),
    "next_step_noun": ((), {"next_step"}),
    "next_step_timed": ((), {"next_step"}),
    "next_step_default": ((), set()),
    "close": ((), set()),
    "signature": ((), {"sender_name", "sender_role_company"}),
    "role_company_sep": ((), set()),
}
_OPTIONAL_SLOTS = {"next_step_noun", "next_step_timed"}


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as exc:
        raise PromptError(f"malformed template {template!r}: {exc}") from None


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return over


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for item in node.values() for s in _strings(item)]
    return []


def _convert(node: Any, convert: Any) -> Any:
    if isinstance(node, str):
        return convert(node)
    if isinstance(node, list):
        return [_convert(x, convert) for x in node]
    if isinstance(node, dict):
        return {k: _convert(v, convert) for k, v in node.items()}
    return node


@cache
def banned_phrases() -> dict[str, tuple[str, ...]]:
    """Phrases no draft in a language may contain (``prompts/banned_phrases.yaml``), lowercased."""
    data = load_yaml("prompts", "banned_phrases.yaml")
    if not isinstance(data, dict) or set(data) != set(LANGUAGES):
        raise PromptError(f"prompts/banned_phrases.yaml needs one list for each of {', '.join(LANGUAGES)}")
    return {lang: tuple(str(p).lower() for p in data[lang]) for lang in LANGUAGES}


@cache
def taiwan_converter() -> Any:
    """Simplified Chinese → Taiwan: OpenCC s2twp (characters and common vocabulary), then our phrase table."""
    import opencc

    s2twp = opencc.OpenCC("s2twp")
    table = load_yaml("prompts", "offline/zh-TW-phrases.yaml")
    if not isinstance(table, list) or not all(isinstance(p, list) and len(p) == 2 for p in table):
        raise PromptError("prompts/offline/zh-TW-phrases.yaml must be a list of [converted, Taiwan] pairs")

    def convert(text: str) -> str:
        out = s2twp.convert(text)
        for before, after in table:
            out = out.replace(str(before), str(after))
        return out

    return convert


def _taiwan(tree: dict[str, Any]) -> dict[str, Any]:
    """zh-TW from the zh-CN sentences, converted, then the whole-sentence overrides."""
    convert = taiwan_converter()
    overrides = load_yaml("prompts", "offline/zh-TW.yaml") or {}
    if not isinstance(overrides, dict) or set(overrides) - {"overrides"}:
        raise PromptError("prompts/offline/zh-TW.yaml holds one map, `overrides`")
    return _merge(_convert(tree, convert), overrides.get("overrides") or {})


class OfflineTemplates:
    """One language's sentences. :meth:`pick` returns the variant a scenario gets for a slot."""

    def __init__(self, language: str, tree: dict[str, Any]) -> None:
        self.language = language
        self.tree = tree
        self.locale: dict[str, Any] = tree.get("locale") or {}
        self._validate()

    def has(self, path: str) -> bool:
        return self._node(path, required=False) is not None

    def _node(self, path: str, *, required: bool = True) -> Any:
        node: Any = self.tree
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                if required:
                    raise PromptError(f"prompts/offline/{self.language}.yaml has no slot {path!r}")
                return None
            node = node[part]
        return node

    def variants(self, path: str, *keys: str) -> list[str]:
        """The variants of ``path`` for these keys (kind, channel, tone): the first key a map holds, else ``any``."""
        node = self._node(path)
        while isinstance(node, dict):
            key = next((k for k in keys if k in node), "any")
            if key not in node:
                raise PromptError(f"prompts/offline/{self.language}.yaml: slot {path!r} has no entry for "
                                  f"{' / '.join(keys)} and no `any`")
            node = node[key]
        variants = [node] if isinstance(node, str) else node
        if not isinstance(variants, list) or not variants or not all(isinstance(v, str) for v in variants):
            raise PromptError(f"prompts/offline/{self.language}.yaml: slot {path!r} ({' / '.join(keys)}) must be "
                              "a sentence or a list of sentences")
        return variants

    def pick(self, path: str, *keys: str, seed: str, shortest: bool = False) -> str:
        options = self.variants(path, *keys)
        if shortest:
            return min(options, key=len)
        index = int(hashlib.sha256(f"{seed}\0{path}".encode()).hexdigest()[:8], 16) % len(options)
        return options[index]

    def _validate(self) -> None:
        """Every slot resolves for every kind × channel × tone, uses only its own placeholders and no banned
        phrase, so a bad edit fails when the file loads, not in the middle of a batch."""
        banned = banned_phrases()[self.language]
        for path, (kinds, allowed) in _SLOTS.items():
            if path in _OPTIONAL_SLOTS and not self.has(path):
                continue
            for kind in kinds or ("",):
                for channel in CHANNELS:
                    for tone in TONES:
                        for text in self.variants(path, *(k for k in (kind, channel, tone) if k)):
                            unknown = _fields(text) - allowed
                            if unknown:
                                raise PromptError(f"prompts/offline/{self.language}.yaml: slot {path!r} uses "
                                                  f"unknown placeholder(s) {', '.join(sorted(unknown))}")
        for text in _strings(self.tree):
            hit = next((p for p in banned if p in text.lower()), None)
            if hit:
                raise PromptError(f"prompts/offline/{self.language}.yaml: {text!r} uses the banned phrase {hit!r} "
                                  "(prompts/banned_phrases.yaml)")


@cache
def load_offline(language: str) -> OfflineTemplates:
    """The validated sentences for ``language``, loaded once per process."""
    if language not in LANGUAGES:
        raise PromptError(f"no offline templates for language {language!r}")
    if language == "zh-TW":
        return OfflineTemplates(language, _taiwan(load_yaml("prompts", "offline/zh-CN.yaml")))
    return OfflineTemplates(language, load_yaml("prompts", f"offline/{language}.yaml"))
