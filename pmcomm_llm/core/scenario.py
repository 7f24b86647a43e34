"""The scenario: what a project manager tells us about a hard message they must send.

The JSON field names here are the public input format. The model is strict (``extra="forbid"``) so a typo
is caught instead of silently ignored, and every validation problem is reported with its field path in plain
words (:func:`parse_scenario`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from functools import cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pmcomm_llm.core.errors import ScenarioError
from pmcomm_llm.core.resources import load_yaml

__all__ = [
    "Channel",
    "Client",
    "Facts",
    "Kind",
    "Language",
    "Milestone",
    "Offer",
    "Scenario",
    "Sender",
    "infer_language",
    "parse_scenario",
]


MAX_TEXT_CHARS = 20_000
"""Longest single text field: a scenario is a brief, not a document (a 20 MB ``situation`` went to the model)."""
MAX_SCENARIO_CHARS = 100_000
"""All text of one scenario together."""
ID_PATTERN = r"^[^\x00-\x1f\x7f\u2028\u2029]+$"
"""Ids are one printable line: a newline in an id breaks Markdown output and log lines."""


def _measure(value: Any, path: str, total: list[int]) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise ValueError(f"{path}: {len(value):,} characters is more than the {MAX_TEXT_CHARS:,} a text field "
                             "may hold; summarise it")
        total[0] += len(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _measure(item, f"{path}.{key}" if path else str(key), total)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _measure(item, f"{path}[{i}]", total)


class Kind(StrEnum):
    decline_request = "decline_request"
    cancel_project = "cancel_project"
    manage_expectations = "manage_expectations"
    delay_notice = "delay_notice"


Language = Literal["zh-CN", "zh-TW", "en"]
Channel = Literal["email", "im"]
Tone = Literal["formal", "warm", "concise"]
OfferType = Literal["alternative", "remedy", "commitment"]

_STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Sender(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    role: str | None = None
    company: str | None = None


class Client(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    company: str | None = None


class Milestone(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    date: dt.date


class Offer(BaseModel):
    """Something the sender is allowed to put to the client. The draft promises nothing else."""

    model_config = _STRICT
    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    text: str = Field(min_length=1)
    type: OfferType = "alternative"


class Facts(BaseModel):
    model_config = _STRICT

    @field_validator("evidence", "done", "remaining", mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    reason: str | None = None
    evidence: list[str] = Field(default_factory=list)
    dates: dict[str, dt.date] = Field(default_factory=dict)
    done: list[str] = Field(default_factory=list)
    remaining: list[str] = Field(default_factory=list)
    request: str | None = None
    milestones: list[Milestone] = Field(default_factory=list)
    next_step: str | None = None
    """What happens next and when, in the user's words. Without it the draft invites a reply, naming no date."""


class Scenario(BaseModel):
    """One message to draft. ``id`` and ``language`` are filled in when absent."""

    model_config = _STRICT

    id: str | None = Field(None, min_length=1, max_length=200, pattern=ID_PATTERN)
    kind: Kind
    language: Language | None = None
    channel: Channel = "email"
    tone: Tone = "formal"
    max_chars: int | None = Field(None, ge=80, le=20000)
    sender: Sender
    client: Client
    project: str = Field(min_length=1)
    situation: str = Field(min_length=1)
    facts: Facts = Field(default_factory=Facts)
    offers: list[Offer] = Field(default_factory=list)
    boundaries: list[str] = Field(default_factory=list)
    internal_notes: list[str] = Field(default_factory=list)
    client_message: str | None = None
    offers_combine: bool = False
    """The alternatives go together (a plan: "we propose A and B"), rather than being a choice between them."""

    _derived: dict[str, Any] = PrivateAttr(default_factory=dict)
    """Per-scenario values the checks compute once (grounding sets, leak phrases)."""

    def derived(self, key: str, factory: Any) -> Any:
        """Compute ``factory(self)`` once per scenario and keep it: the checks run many times per scenario.

        ``self._derived`` is read once: a private attribute is looked up through pydantic's ``__getattr__``, and
        the guard asks for a derived value a dozen times per draft."""
        cache = self._derived
        if key not in cache:
            cache[key] = factory(self)
        return cache[key]

    @model_validator(mode="before")
    @classmethod
    def _within_limits(cls, data: Any) -> Any:
        if isinstance(data, dict):
            total = [0]
            _measure(data, "", total)
            if total[0] > MAX_SCENARIO_CHARS:
                raise ValueError(f"(scenario): its text adds up to {total[0]:,} characters, more than the "
                                 f"{MAX_SCENARIO_CHARS:,} one scenario may hold")
        return data

    @field_validator("offers", mode="before")
    @classmethod
    def _offers_from_strings(cls, value: Any) -> Any:
        """Plain strings are accepted and numbered, so a quick scenario need not invent ids."""
        if isinstance(value, list):
            return [{"id": f"offer-{i + 1}", "text": v} if isinstance(v, str) else v
                    for i, v in enumerate(value)]
        return value

    @field_validator("internal_notes", "boundaries", mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("language", mode="before")
    @classmethod
    def _language_any_case(cls, value: Any) -> Any:
        """``zh-cn``, ``ZH_TW``, ``EN`` are the codes people type: accept them as the canonical ones."""
        if isinstance(value, str):
            canonical = {"zh-cn": "zh-CN", "zh-tw": "zh-TW", "en": "en"}.get(value.strip().lower().replace("_", "-"))
            return canonical or value
        return value

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> Scenario:
        ids = [o.id for o in self.offers]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"offers: ids must be unique, repeated: {', '.join(duplicates)}")
        if not (info.context or {}).get("for_evaluation"):
            self._drafting_rules()
        if self.language is None:
            self.language = infer_language(self.public_text())
        if self.id is None:
            self.id = "s-" + self.content_hash()[:10]
        return self

    def _drafting_rules(self) -> None:
        """What drafting needs. An evaluation scores a message whatever its scenario lacks (a delay notice with
        no new date fails ``missing_new_date``), so these apply only to scenarios that will be drafted."""
        if not (self.facts.reason or "").strip():
            raise ValueError("facts.reason: a hard message needs its real reason; say why in a sentence")
        if self.kind is Kind.decline_request and not self.facts.request:
            raise ValueError("facts.request: a decline_request must say what the client asked for")
        if self.kind is Kind.delay_notice:
            if not ({"new_deadline", "confirm_by"} & self.facts.dates.keys()):
                raise ValueError(
                    "facts.dates: a delay_notice needs the new date (dates.new_deadline) or the date by "
                    "which it will be confirmed (dates.confirm_by)")

    def public_text(self) -> str:
        """Everything the message may draw on: the scenario minus internal notes and the client's words."""
        f = self.facts
        parts: list[str] = [self.project, self.situation, f.reason or "", f.request or "", f.next_step or ""]
        parts += f.evidence + f.done + f.remaining + self.boundaries
        parts += [m.name for m in f.milestones] + [o.text for o in self.offers]
        parts += [self.sender.name, self.sender.role or "", self.sender.company or "",
                  self.client.name, self.client.company or ""]
        return "\n".join(p for p in parts if p)

    def all_dates(self) -> list[dt.date]:
        return list(self.facts.dates.values()) + [m.date for m in self.facts.milestones]

    def content_hash(self) -> str:
        """Hash of the content (not the id): an edited scenario hashes differently. Computed once."""
        return self.derived("content_hash", _content_hash)


def _content_hash(scenario: Scenario) -> str:
    payload = scenario.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@cache
def _script_sets() -> tuple[frozenset[str], frozenset[str]]:
    pairs = load_yaml("prompts", "language.yaml")["script_pairs"]
    return frozenset(p[0] for p in pairs), frozenset(p[1] for p in pairs)


def infer_language(text: str) -> Language:
    """English unless the text is mostly Chinese; then traditional when its characters lean that way."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if cjk == 0 or cjk * 2 < latin / 3:
        return "en"
    simplified, traditional = _script_sets()
    s = sum(1 for ch in text if ch in simplified)
    t = sum(1 for ch in text if ch in traditional)
    return "zh-TW" if t > s else "zh-CN"


_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "is not a known field (check its spelling; `pmcomm schema` lists the fields)",
    "date_from_datetime_parsing": "must be an ISO date such as 2027-01-20",
    "date_parsing": "must be an ISO date such as 2027-01-20",
    "date_type": "must be an ISO date such as 2027-01-20",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "string_too_short": "must not be empty",
}


def _path(loc: tuple[Any, ...]) -> str:
    """``offers[0].id``: list positions as indexes, the way a person reads a path."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """", did you mean 'internal_notes'?" for a misspelt field, looked up among the fields at that level."""
    import difflib

    model: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        annotation = getattr(field, "annotation", None)
        inner = getattr(annotation, "__args__", None) or (annotation,)
        model = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _plain(err: dict[str, Any]) -> tuple[str, str]:
    loc = _path(err["loc"])
    kind = err["type"]
    if kind == "literal_error" or kind == "enum":
        expected = err.get("ctx", {}).get("expected", "")
        reason = f"must be one of {expected}; got {err.get('input')!r}"
    elif kind == "value_error":
        # our own model-level messages already carry their field path: "field: reason"
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        if ": " in msg and not loc:
            loc, reason = msg.split(": ", 1)
        else:
            reason = msg
    elif kind == "string_pattern_mismatch" and (loc == "id" or loc.endswith(".id")):
        reason = "must be one line of text: no newlines, tabs or other control characters"
    elif kind == "extra_forbidden":
        reason = _PLAIN[kind] + _did_you_mean(err["loc"])
    else:
        reason = _PLAIN.get(kind, err["msg"][0].lower() + err["msg"][1:])
    return loc or "(scenario)", reason


def parse_scenario(data: Any, *, index: int | str | None = None, for_evaluation: bool = False) -> Scenario:
    """Validate one scenario, raising a :class:`ScenarioError` that names the item and field(s).

    ``for_evaluation``: the scenario of a message to score, not to draft — the rules only drafting needs (a
    reason, the request of a decline, the new date of a delay) are not enforced.
    """
    item_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
    if not isinstance(data, dict):
        raise ScenarioError("a scenario must be a JSON object", index=index, item_id=item_id)
    try:
        return Scenario.model_validate(data, context={"for_evaluation": for_evaluation})
    except RecursionError:
        raise ScenarioError("nested too deeply to be a scenario", index=index, item_id=item_id) from None
    except ValidationError as exc:
        problems = [_plain(e) for e in exc.errors()]
        reason = problems[0][1] if len(problems) == 1 else "; ".join(f"{field}: {why}" for field, why in problems)
        error = ScenarioError(reason, index=index, field=problems[0][0], item_id=item_id)
        error.problems = problems  # type: ignore[attr-defined]
        raise error from None
