"""What the checks say, as data: ``evals/messages.yaml``, validated once and rendered in the draft's language.

A check builds a :class:`Message` — a key of the data file and the values it found (the figure, the clause
quoted from the draft, an offer's text) — and renders it in the scenario's language for ``CheckResult.message``.
The message object is kept beside the string, so the guard can render the same finding in English for the
re-ask while the PM reads it in Chinese in ``meta.guard``.

Every key the code uses is listed in :data:`PLACEHOLDERS` with the values it supplies; a form in the file that
names another placeholder or leaves one out is a :class:`~pmcomm_llm.core.errors.PromptError` naming the file and
the key, raised when the file loads, not in the middle of a batch. Traditional Chinese is the Simplified form
converted (OpenCC ``s2twp`` and the file's ``taiwan`` phrase table), unless an entry gives its own ``zh-TW``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pmcomm_llm.core.errors import PromptError
from pmcomm_llm.core.resources import load_yaml

__all__ = ["FILE", "PLACEHOLDERS", "Listed", "Message", "message", "message_language", "messages_catalogue"]

FILE = "messages.yaml"
"""In ``evals/``, beside the lexicons and the rubric the same checks read."""

PLACEHOLDERS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in {
    "common.finding_in_clause": {"finding", "clause"},
    "common.clauses": set(),
    "common.items": set(),
    "common.none": set(),
    "fabricated_fact.fail": {"findings"},
    "fabricated_fact.figure": {"figure"},
    "fabricated_fact.wrong_thing": {"figure", "source"},
    "fabricated_fact.new_date": {"figure"},
    "fabricated_fact.client_figure": {"figure"},
    "fabricated_fact.logistics": {"figure"},
    "grounding_notes.fail": {"findings"},
    "internal_leak.fail": {"leaked"},
    "unauthorized_commitment.fail": {"findings"},
    "unauthorized_commitment.promise": {"group"},
    "unauthorized_commitment.promise_share": {"offer"},
    "unauthorized_commitment.promise_figure": {"figure", "offer"},
    "unauthorized_commitment.promise_whole": {"offer"},
    "unknown_offer.fail": {"unknown", "known"},
    **{f"promise_group.{g}": set() for g in ("refund", "discount", "free", "compensation", "waiver", "staffing",
                                              "guarantee", "penalty", "warranty")},
    "missing_reason.fail": {"coverage"},
    "missing_alternative.no_offers": set(),
    "missing_alternative.fail": set(),
    "missing_new_date.no_date": set(),
    "missing_new_date.fail": {"date"},
    "blame.fail": {"why"},
    **{f"blame.{why}": set() for why in ("hindsight", "other_party", "pointing", "emphatic", "counterfactual")},
    "blunt_refusal.fail": set(),
    "missing_empathy.fail": set(),
    "missing_next_step.fail": set(),
    "missing_greeting.fail": set(),
    "missing_close.fail": set(),
    "missing_subject.fail": set(),
    "too_long.fail": {"length", "channel", "limit"},
    "channel.email": set(),
    "channel.im": set(),
    "message_shape.fail": set(),
}.items()}
"""Every message key the checks use, with the placeholders the code fills: the contract the data file is held to."""

Value = Union[str, "Message", "Listed"]


@dataclass(frozen=True, slots=True)
class Message:
    """A message not yet in a language: a key of ``evals/messages.yaml`` and its values.

    A ``str`` value is inserted as it is (quoted evidence stays in the draft's words); a :class:`Message` or
    :class:`Listed` value is rendered in the same language as the message around it. Frozen and hashable, so a
    check can drop repeated findings before it knows the language they will be read in.
    """

    key: str
    values: tuple[tuple[str, Value], ...] = ()

    def render(self, language: str | None) -> str:
        """The message in ``language`` (a scenario's ``zh-CN`` / ``zh-TW`` / ``en``; anything else reads English)."""
        template = messages_catalogue().form(self.key, message_language(language))
        values = {name: _render(value, language) for name, value in self.values}
        return string.Formatter().vformat(template, (), _Strict(self.key, values))


@dataclass(frozen=True, slots=True)
class Listed:
    """Items joined with a separator of the data file (``common.clauses`` or ``common.items``), in the language."""

    items: tuple[Value, ...]
    sep: str = "common.items"

    def render(self, language: str | None) -> str:
        sep = messages_catalogue().form(self.sep, message_language(language))
        return sep.join(_render(item, language) for item in self.items)


def _render(value: Value, language: str | None) -> str:
    return value if isinstance(value, str) else value.render(language)


class _Strict(dict):  # type: ignore[type-arg]
    def __init__(self, key: str, values: dict[str, str]) -> None:
        super().__init__(values)
        self.key = key

    def __missing__(self, name: str) -> Any:
        raise PromptError(f"evals/{FILE}: {self.key} names {{{name}}}, which has no value")


def message(key: str, **values: Value) -> Message:
    """The message ``key`` with exactly the values :data:`PLACEHOLDERS` lists for it (a mismatch is a bug in the
    calling check, reported at once rather than as a message with a hole in it)."""
    expected = PLACEHOLDERS.get(key)
    if expected is None:
        raise PromptError(f"evals/{FILE}: no message key {key!r} is declared in PLACEHOLDERS")
    if set(values) != expected:
        raise PromptError(f"evals/{FILE}: {key} is filled with {sorted(values)}, but takes {sorted(expected)}")
    return Message(key, tuple(sorted(values.items())))


def message_language(language: str | None) -> str:
    """Which form a language reads: ``zh-TW`` for Traditional (zh-TW, zh-Hant…, zh-HK), ``zh`` for any other
    Chinese, ``en`` otherwise (and when the language is unknown)."""
    code = (language or "").strip().lower().replace("_", "-")
    if not code.startswith("zh"):
        return "en"
    return "zh-TW" if any(tag in code for tag in ("-tw", "hant", "-hk", "-mo")) else "zh"


# --- the data file -----------------------------------------------------------------------------------------

class _Forms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    en: str
    zh: str
    zh_tw: str | None = Field(None, alias="zh-TW")


_PHRASES = TypeAdapter(list[tuple[str, str]])


class MessageCatalogue:
    """The validated forms of every key, the Traditional ones converted once."""

    def __init__(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise PromptError(f"evals/{FILE} must be a map of check ids to their messages")
        try:
            taiwan = _PHRASES.validate_python(data.get("taiwan") or [])
        except ValidationError as exc:
            raise PromptError(f"evals/{FILE}: taiwan must be a list of [converted, Taiwan] pairs "
                              f"({exc.errors()[0]['msg']})") from None
        entries: dict[str, _Forms] = {}
        for section, cases in data.items():
            if section == "taiwan":
                continue
            if not isinstance(cases, dict):
                raise PromptError(f"evals/{FILE}: {section} must map each case to its en and zh forms")
            for case, forms in cases.items():
                key = f"{section}.{case}"
                try:
                    entries[key] = _Forms.model_validate(forms)
                except ValidationError as exc:
                    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}"
                                         for e in exc.errors())
                    raise PromptError(f"evals/{FILE}: {key}: {problems}") from None
        unknown = sorted(set(entries) - set(PLACEHOLDERS))
        missing = sorted(set(PLACEHOLDERS) - set(entries))
        if unknown:
            raise PromptError(f"evals/{FILE}: no check uses {', '.join(unknown)} (a misspelt key?)")
        if missing:
            raise PromptError(f"evals/{FILE} has no message for {', '.join(missing)}")
        convert = _taiwan(taiwan)
        self._forms: dict[tuple[str, str], str] = {}
        for key, forms in entries.items():
            for language, text in (("en", forms.en), ("zh", forms.zh),
                                   ("zh-TW", forms.zh_tw if forms.zh_tw is not None else convert(forms.zh))):
                shown = "zh (converted to zh-TW)" if language == "zh-TW" and forms.zh_tw is None else language
                _check_placeholders(key, shown, text)
                self._forms[(key, language)] = text

    def form(self, key: str, language: str) -> str:
        """The template of ``key`` in ``language`` (``en``, ``zh`` or ``zh-TW``)."""
        try:
            return self._forms[(key, language)]
        except KeyError:
            raise PromptError(f"evals/{FILE} has no {language} message for {key}") from None


def _check_placeholders(key: str, language: str, text: str) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise PromptError(f"evals/{FILE}: {key} ({language}) is malformed: {exc}") from None
    expected = PLACEHOLDERS[key]
    unknown = sorted(used - expected)
    missing = sorted(expected - used)
    if unknown:
        raise PromptError(f"evals/{FILE}: {key} ({language}) uses unknown placeholder(s) "
                          f"{', '.join('{' + n + '}' for n in unknown)}; it may use: "
                          f"{', '.join('{' + n + '}' for n in sorted(expected)) or 'none'}")
    if missing:
        raise PromptError(f"evals/{FILE}: {key} ({language}) never uses required placeholder(s) "
                          f"{', '.join('{' + n + '}' for n in missing)}")


def _taiwan(table: list[tuple[str, str]]) -> Any:
    """Simplified → Taiwan: OpenCC s2twp (characters and vocabulary), then the file's phrase table.

    Its own table rather than the offline drafter's (``prompts/offline/zh-TW-phrases.yaml``): that one is tuned for
    a letter to a client (贵司 → 貴公司), this one for a note to the PM (一則訊息, 管道, 清單).
    """
    import opencc

    s2twp = opencc.OpenCC("s2twp")

    def convert(text: str) -> str:
        out = s2twp.convert(text)
        for before, after in table:
            out = out.replace(before, after)
        return out

    return convert


@cache
def messages_catalogue() -> MessageCatalogue:
    """``evals/messages.yaml``, validated, loaded once per process."""
    return MessageCatalogue(load_yaml("evals", FILE))
