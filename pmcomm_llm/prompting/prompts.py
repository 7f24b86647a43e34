"""Prompts as data: load ``prompts/*.yaml`` once, validate it, render it, and version it by content hash.

No prompt prose lives in Python. Templates are strict: a template that names a variable we do not supply is
rejected when loaded, and rendering with a variable missing raises :class:`~pmcomm_llm.core.errors.PromptError`.
"""

from __future__ import annotations

import json
import string
from functools import cache
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, ConfigDict, ValidationError

from pmcomm_llm.core.errors import PromptError
from pmcomm_llm.core.resources import content_hash, load_yaml
from pmcomm_llm.core.scenario import Kind, Scenario
from pmcomm_llm.prompting.files import OFFLINE_FILES

__all__ = ["PromptSet", "load_prompts", "render_strict"]

LANGUAGES = ("zh-CN", "zh-TW", "en")
CHANNELS = ("email", "im")
_STRICT = ConfigDict(extra="forbid", frozen=True)

class _Bilingual(BaseModel):
    model_config = _STRICT
    en: str
    zh: str


class _ChecklistPair(BaseModel):
    model_config = _STRICT
    en: list[str]
    zh: list[str]


class _LanguageInfo(BaseModel):
    model_config = _STRICT
    name: str
    style: str


class _ChannelInfo(BaseModel):
    model_config = _STRICT
    rules: str
    max_chars: dict[str, int]
    max_sentences: int | None = None
    """An instant message's sentence budget (greeting and a closing thanks not counted)."""


class Catalogue(BaseModel):
    """The five principles and each situation's checklist, in Chinese and English."""

    model_config = _STRICT
    principles: dict[str, _Bilingual]
    situations: dict[Kind, _ChecklistPair]
    languages: dict[str, _LanguageInfo]
    channels: dict[str, _ChannelInfo]
    tones: dict[str, str]

    def max_chars(self, channel: str, language: str) -> int:
        return self.channels[channel].max_chars["en" if language == "en" else "zh"]


class DraftTemplates(BaseModel):
    model_config = _STRICT
    system: str
    user: str
    kind_goals: dict[Kind, str]
    none_marker: str
    json_mode_addendum: str


class ReaskTemplates(BaseModel):
    model_config = _STRICT
    invalid_output: str
    guard_violation: str


_SYSTEM_VARS = {"kind_goal", "language_name", "language_style", "channel_rules", "max_chars", "tone_rules",
                "principles", "checklist"}
_USER_VARS = {"scenario_json", "internal_notes", "client_message"}


class _StrictMap(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> Any:
        raise PromptError(f"template variable {{{key}}} has no value")


def render_strict(template: str, **values: Any) -> str:
    """``str.format`` that refuses to leave a variable empty."""
    return string.Formatter().vformat(template, (), _StrictMap(values))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class PromptSet:
    """All prompt data, validated. Build once with :func:`load_prompts`; rendering is cheap afterwards."""

    FILES = ["catalogue.yaml", "draft.yaml", "reask.yaml", "language.yaml", *OFFLINE_FILES]

    def __init__(self) -> None:
        try:
            self.catalogue = Catalogue.model_validate(load_yaml("prompts", "catalogue.yaml"))
            self.draft = DraftTemplates.model_validate(load_yaml("prompts", "draft.yaml"))
            self.reask = ReaskTemplates.model_validate(load_yaml("prompts", "reask.yaml"))
        except ValidationError as exc:
            raise PromptError(f"prompt data is invalid: {exc}") from None
        self._check_variables()
        self.version = content_hash("prompts", self.FILES)
        self._chat_prompts: dict[tuple[str, str, str, str], ChatPromptTemplate] = {}
        self._system_texts: dict[tuple[Any, ...], str] = {}

    def _check_variables(self) -> None:
        for name, template, allowed in (("draft.yaml:system", self.draft.system, _SYSTEM_VARS),
                                        ("draft.yaml:user", self.draft.user, _USER_VARS),
                                        ("draft.yaml:json_mode_addendum", self.draft.json_mode_addendum,
                                         {"schema"}),
                                        ("reask.yaml:invalid_output", self.reask.invalid_output, {"errors"}),
                                        ("reask.yaml:guard_violation", self.reask.guard_violation, {"errors"})):
            unknown = _fields(template) - allowed
            missing = allowed - _fields(template)
            if unknown:
                raise PromptError(f"{name} uses unknown variable(s): {', '.join(sorted(unknown))}")
            if missing:
                raise PromptError(f"{name} never uses required variable(s): {', '.join(sorted(missing))}")
        for kind in Kind:
            for part in ("situations", "kind_goals"):
                holder = self.catalogue.situations if part == "situations" else self.draft.kind_goals
                if kind not in holder:
                    raise PromptError(f"{part} has no entry for kind {kind.value!r}")

    def _fixed(self, kind: str, channel: str, language: str, tone: str, max_chars: int | None) -> dict[str, str]:
        """The system template's values for one kind × channel × language (no per-scenario data)."""
        side = "en" if language == "en" else "zh"
        cat = self.catalogue
        return {
            "kind_goal": self.draft.kind_goals[Kind(kind)],
            "language_name": cat.languages[language].name,
            "language_style": cat.languages[language].style,
            "channel_rules": cat.channels[channel].rules,
            "max_chars": str(max_chars or cat.max_chars(channel, language)),
            "tone_rules": cat.tones[tone],
            "principles": "\n".join(f"- {pid}: {getattr(p, side)}" for pid, p in cat.principles.items()),
            "checklist": "\n".join(f"- {item}" for item in getattr(cat.situations[Kind(kind)], side)),
        }

    def chat_prompt(self, kind: str, channel: str, language: str, tone: str = "formal",
                    max_chars: int | None = None) -> ChatPromptTemplate:
        """The drafting prompt for one kind × channel × language as a LangChain template, fixed parts filled."""
        key = (kind, channel, language, f"{tone}:{max_chars}")
        cached = self._chat_prompts.get(key)
        if cached is None:
            cached = ChatPromptTemplate.from_messages(
                [("system", self.draft.system), ("human", self.draft.user)], template_format="f-string"
            ).partial(**self._fixed(kind, channel, language, tone, max_chars))
            self._chat_prompts[key] = cached
        return cached

    def system_text(self, scenario: Scenario) -> str:
        """The rendered system message; the same for every scenario of one kind × channel × language."""
        assert scenario.language is not None
        key = (scenario.kind.value, scenario.channel, scenario.language, scenario.tone, scenario.max_chars)
        text = self._system_texts.get(key)
        if text is None:
            text = render_strict(self.draft.system, **self._fixed(*key))
            self._system_texts[key] = text
        return text

    def prompt_for(self, scenario: Scenario) -> ChatPromptTemplate:
        assert scenario.language is not None
        return self.chat_prompt(scenario.kind.value, scenario.channel, scenario.language, scenario.tone,
                                 scenario.max_chars)

    def user_variables(self, scenario: Scenario) -> dict[str, str]:
        """The per-scenario values: the public scenario as JSON, internal notes and the client's words apart."""
        public = scenario.model_dump(mode="json", exclude={"internal_notes", "client_message"}, exclude_none=True)
        none = self.draft.none_marker
        notes = "\n".join(f"- {n}" for n in scenario.internal_notes) or none
        client = (scenario.client_message or none).replace("</client_message>", "</ client_message>")
        return {"scenario_json": json.dumps(public, ensure_ascii=False, indent=1),
                "internal_notes": notes, "client_message": client}

    def wire(self, scenario: Scenario) -> list[dict[str, str]]:
        """The rendered chat messages for a scenario, in the chat-completions wire format.

        Rendered with the same f-string rules as :meth:`chat_prompt` (a test holds the two equal), without
        LangChain's per-call template machinery: a batch renders thousands of these.
        """
        user = render_strict(self.draft.user, **self.user_variables(scenario))
        return [{"role": "system", "content": self.system_text(scenario)}, {"role": "user", "content": user}]

    def messages(self, scenario: Scenario) -> list[Any]:
        """:meth:`wire` as LangChain message objects."""
        system, user = self.wire(scenario)
        return [SystemMessage(system["content"]), HumanMessage(user["content"])]

    def reask_message(self, which: str, errors: list[str]) -> str:
        template = getattr(self.reask, which)
        return render_strict(template, errors="\n".join(f"- {e}" for e in errors))


@cache
def load_prompts() -> PromptSet:
    """The validated prompt set, loaded once per process."""
    return PromptSet()
