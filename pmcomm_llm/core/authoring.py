"""Writing scenarios by hand: the JSON Schema editors complete against, and commented YAML templates.

Both read one data file, ``prompts/scenario_fields.yaml``: what each field means, in English, simplified and
traditional Chinese. The template of ``pmcomm new KIND`` is a complete, valid scenario of that kind, language and
channel (from the scenarios shipped in ``evals/corpus/``) with each field explained above it, so a PM edits
working text instead of starting from an empty file.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from pmcomm_llm.core.errors import PromptError, ScenarioError
from pmcomm_llm.core.resources import data_dir, load_model
from pmcomm_llm.core.scenario import Kind, Scenario

__all__ = ["SCHEMA_ID", "scenario_schema", "scenario_template"]

SCHEMA_ID = "https://pmcomm-llm.dev/schema/scenario.json"
"""The ``$id`` the published schema carries (editors key their associations on the file, not on this URL)."""

_LANGUAGES = ("en", "zh-CN", "zh-TW")


class _Texts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    en: str
    zh_CN: str
    zh_TW: str

    def __init__(self, **data: Any) -> None:
        super().__init__(**{k.replace("-", "_"): v for k, v in data.items()})

    def of(self, language: str) -> str:
        return getattr(self, language.replace("-", "_"))


class _FieldDocs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    header: _Texts
    fields: dict[str, _Texts]


@cache
def _docs() -> _FieldDocs:
    docs = load_model("prompts", "scenario_fields.yaml", _FieldDocs)
    top = set(Scenario.model_fields)
    unknown = sorted(p for p in docs.fields if p.split(".")[0] not in top)
    if unknown:
        raise PromptError(f"prompts/scenario_fields.yaml describes fields a scenario does not have: {unknown}")
    return docs


def scenario_schema() -> dict[str, Any]:
    """The scenario JSON Schema with a description on every documented field, an ``$id`` and the rules the
    validator enforces beyond types (stated in the descriptions)."""
    schema = Scenario.model_json_schema()
    docs = _docs().fields
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["description"] = ("One hard client message to draft. Rules beyond the types: facts.reason is required; "
                             "a decline_request needs facts.request; a delay_notice needs facts.dates.new_deadline "
                             "or facts.dates.confirm_by; offer ids are unique; a text field holds at most 20,000 "
                             "characters and a scenario 100,000.")
    defs = schema.get("$defs", {})
    for path, texts in docs.items():
        head, _, rest = path.partition(".")
        target = schema["properties"].get(head)
        if target is not None and rest:
            ref = (target.get("$ref") or "").rsplit("/", 1)[-1] or next(
                (a.get("$ref", "").rsplit("/", 1)[-1] for a in target.get("anyOf", []) if "$ref" in a), "")
            target = defs.get(ref, {}).get("properties", {}).get(rest)
        if target is not None:
            target["description"] = texts.en
    return schema


def _example(kind: Kind, language: str, channel: str) -> dict[str, Any]:
    scenarios = json.loads((data_dir("evals") / "corpus" / "scenarios.json").read_text(encoding="utf-8"))
    match = [s for s in scenarios if s["kind"] == kind.value and s.get("language") == language
             and s.get("channel", "email") == channel]
    if not match:  # pragma: no cover - the corpus covers every kind × language × channel
        raise PromptError(f"no template for {kind.value} / {language} / {channel}")
    example = dict(match[0])
    example["id"] = f"my-{kind.value.replace('_', '-')}"
    return example


def scenario_template(kind: str, language: str = "zh-CN", channel: str = "email") -> str:
    """A commented YAML scenario of ``kind`` that validates as it is: edit the values, keep the shape."""
    try:
        kind_ = Kind(kind)
    except ValueError:
        raise ScenarioError(f"must be one of {', '.join(k.value for k in Kind)}; got {kind!r}", field="kind") from None
    if language not in _LANGUAGES:
        raise ScenarioError(f"must be one of {', '.join(_LANGUAGES)}; got {language!r}", field="language")
    if channel not in ("email", "im"):
        raise ScenarioError(f"must be email or im; got {channel!r}", field="channel")
    docs = _docs()
    example = _example(kind_, language, channel)
    # editors with YAML support (VS Code's) check and complete the file against the schema beside it:
    # `pmcomm schema > scenario.schema.json`
    lines = [f"# {docs.header.of(language)}", "# yaml-language-server: $schema=./scenario.schema.json", ""]
    for key, value in example.items():
        note = docs.fields.get(key)
        if note is not None:
            lines.append(f"# {note.of(language)}")
        dumped = yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=100)
        lines.append(dumped.rstrip("\n"))
        lines.append("")
    return "\n".join(lines)
