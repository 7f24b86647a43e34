"""The offline drafter: a complete, principled message from templates and the scenario's own facts.

It needs no key and no network, is deterministic, and is the default when no model is configured. It writes
only what the scenario states (its facts, dates, offers and boundaries), so it passes the guard by
construction; the tests hold it to that for every kind × language × channel.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from pmcomm_llm.draft import Alternative, DraftContent, PrincipleSentence
from pmcomm_llm.prompts import OfflineTemplates, PromptSet, render_strict
from pmcomm_llm.scenario import Kind, Scenario

__all__ = ["offline_content", "announce_offline", "silence_offline_notice"]

_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")
_announced = False


def silence_offline_notice() -> None:
    """``--quiet``: the one-time "drafting offline" notice is not printed in this process."""
    global _announced
    _announced = True


def announce_offline() -> None:
    """Say once per process, on stderr, that drafts are offline and how to use a model instead."""
    global _announced
    if not _announced:
        _announced = True
        print("pmcomm: drafting offline (deterministic templates, no model). To draft with a model, set "
              "OPENAI_API_KEY (and OPENAI_BASE_URL for another OpenAI-compatible server) or pass "
              "--backend openai.", file=sys.stderr)


def _date(t: OfflineTemplates, d: dt.date) -> str:
    return render_strict(t.date_format, year=d.year, month=d.month, day=d.day, month_name=_MONTH_NAMES[d.month - 1])


def _strip_end(text: str) -> str:
    return text.rstrip("。.！!；; ")


def _sections(s: Scenario, t: OfflineTemplates, *, brief: bool) -> tuple[list[tuple[str, str, bool]], dict[str, str]]:
    """The message as (name, text, optional) sections in order, plus the sentence carrying each principle."""
    f = s.facts
    kind = s.kind
    v: dict[str, Any] = {"project": s.project, "client_name": s.client.name, "request": _strip_end(f.request or ""),
                         "sender_name": s.sender.name}
    out: list[tuple[str, str, bool]] = []
    principles: dict[str, str] = {}

    im = t.im if s.channel == "im" else None
    out.append(("greeting", render_strict(im.greeting if im else t.greeting[s.tone], **v), False))
    original = f.dates.get("original_deadline")
    if im:
        opening = render_strict(im.opening[kind], **v)
    elif original and kind in t.opening_with_original:
        opening = render_strict(t.opening_with_original[kind], original_deadline=_date(t, original), **v)
    else:
        opening = render_strict(t.opening[kind], **v)
    out.append(("opening", opening, False))
    principles["tone"] = opening

    reason = render_strict(t.reason, reason=f.reason)
    out.append(("reason", reason, False))
    principles["transparency"] = reason
    if f.evidence:
        items = f.evidence[:1] if brief else f.evidence
        out.append(("evidence", "\n".join([t.evidence_intro] + [render_strict(t.item, text=e) for e in items]), True))

    if kind is Kind.delay_notice or f.done or f.remaining:
        if f.done and not brief:
            out.append(("done", "\n".join([t.done_intro] + [render_strict(t.item, text=x) for x in f.done]), True))
        if f.remaining and not brief:
            out.append(("remaining", "\n".join([t.remaining_intro] + [render_strict(t.item, text=x)
                                                                     for x in f.remaining]), True))
    if "new_deadline" in f.dates:
        out.append(("new_date", render_strict(t.new_date, new_deadline=_date(t, f.dates["new_deadline"])), False))
    elif "confirm_by" in f.dates:
        out.append(("new_date", render_strict(t.confirm_by, confirm_by=_date(t, f.dates["confirm_by"])), False))
    if f.milestones and not brief:
        lines = [t.milestones_intro] + [render_strict(t.milestone, name=m.name, date=_date(t, m.date))
                                        for m in f.milestones]
        out.append(("milestones", "\n".join(lines), True))

    options = [o for o in s.offers if o.type == "alternative"] or list(s.offers)
    remedies = [o for o in s.offers if o.type != "alternative" and o not in options]
    if options:
        intro = t.options_intro_one if len(options) == 1 else t.options_intro_many
        lines = [intro] + [render_strict(t.option, n=i + 1, text=_strip_end(o.text)) for i, o in enumerate(options)]
        lines.append(im.options_close if im else t.options_close)
        out.append(("options", "\n".join(lines), False))
        principles["alternatives"] = lines[1]
    if remedies:
        out.append(("remedies", "\n".join([t.remedies_intro] + [render_strict(t.item, text=_strip_end(o.text))
                                                               for o in remedies]), brief))
    if s.boundaries:
        items = s.boundaries[:1] if brief else s.boundaries
        text = "\n".join([t.boundaries_intro] + [render_strict(t.item, text=b) for b in items])
        out.append(("boundaries", text, True))
        principles["boundaries"] = render_strict(t.item, text=items[0])

    acknowledge = im.acknowledge[kind] if im else t.acknowledge[kind]
    out.append(("acknowledge", acknowledge, False))
    principles["win_win"] = acknowledge
    next_step = (render_strict(t.next_step, next_step=_strip_end(f.next_step)) if f.next_step
                 else t.next_step_default[s.channel])
    out.append(("next_step", next_step, False))

    sep = t.role_company_sep
    role_company = sep.join(x for x in (s.sender.role, s.sender.company) if x)
    signature = render_strict(t.signature, sender_name=s.sender.name, sender_role_company=role_company).rstrip()
    close = (render_strict(t.close["im"], sender_name=s.sender.name) if s.channel == "im"
             else render_strict(t.close["email"][s.tone], signature=signature))
    out.append(("close", close, False))
    return out, principles


def offline_content(scenario: Scenario, prompts: PromptSet) -> DraftContent:
    """Compose the draft. Optional sections are dropped, last first, until the length limit holds."""
    assert scenario.language is not None
    t = prompts.offline[scenario.language]
    limit = scenario.max_chars or prompts.catalogue.max_chars(scenario.channel, scenario.language)
    brief = scenario.channel == "im"
    sections, principles = _sections(scenario, t, brief=brief)
    joiner = "\n" if brief else "\n\n"
    body = joiner.join(text for _, text, _ in sections)
    optional = [name for name, _, opt in sections if opt]
    while len(body) > limit and optional:
        drop = optional.pop()
        sections = [sec for sec in sections if sec[0] != drop]
        body = joiner.join(text for _, text, _ in sections)
    if "boundaries" not in {name for name, _, _ in sections}:
        principles.pop("boundaries", None)

    options = [o for o in scenario.offers if o.type == "alternative"] or list(scenario.offers)
    kept = {name for name, _, _ in sections}
    commitments = [o.text for o in scenario.offers if o.type != "alternative"
                   and ("remedies" in kept or o in options)]
    f = scenario.facts
    next_step = f.next_step or t.next_step_default[scenario.channel]
    subject = None if scenario.channel == "im" else render_strict(t.subject[scenario.kind], project=scenario.project)
    return DraftContent(
        subject=subject,
        body=body,
        alternatives=[Alternative(offer_id=o.id, text=o.text) for o in options],
        commitments=commitments,
        next_step=next_step,
        principles=[PrincipleSentence(principle=k, sentence=v) for k, v in principles.items()],  # type: ignore[arg-type]
    )
