"""The evaluation's deterministic checks: tone, completeness and shape, beside the safety checks of the guard.

The safety checks (:mod:`pmcomm_llm.grounding.checks`) are the same functions the drafting guard runs; the
rubric scores drafts with all of them. Lexicons are data in ``evals/lexicons/``.
All checks understand simplified and traditional Chinese and English.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache, lru_cache

from pmcomm_llm.core.resources import load_yaml
from pmcomm_llm.core.scenario import Scenario
from pmcomm_llm.grounding.checks import (
    SAFETY_CHECKS,
    Candidate,
    CheckFn,
    CheckResult,
    _ok,
    check_result,
    fabricated_fact,
    grounding_notes,
    internal_leak,
    unauthorized_commitment,
    unknown_offer,
)
from pmcomm_llm.grounding.checks import preload as preload_safety
from pmcomm_llm.grounding.messages import message
from pmcomm_llm.grounding.quantities import extract
from pmcomm_llm.grounding.text import MultiTerms, count_sentences
from pmcomm_llm.grounding.text import Terms as _Terms
from pmcomm_llm.grounding.text import features as _features
from pmcomm_llm.grounding.text import sentences_of as _sentences

__all__ = ["CHECKS", "Candidate", "CheckResult", "SAFETY_CHECKS", "coverage", "preload"]

# --- tone and completeness (the evaluation rubric) ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _ToneLexicon:
    blame_standalone: _Terms
    blame_agents: _Terms
    blame_faults: _Terms
    blame_counterfactual: tuple[re.Pattern[str], ...]
    blame_emphatic: _Terms
    blame_ownership: _Terms
    blunt: _Terms
    empathy: _Terms
    action: _Terms
    time: _Terms
    channel: _Terms
    vague: _Terms
    greeting: _Terms
    closing: _Terms


@cache
def _tone() -> _ToneLexicon:
    d = load_yaml("evals", "lexicons/tone.yaml")

    def both(node: dict[str, list[str]]) -> _Terms:
        return _Terms.of(node.get("en", []), node.get("zh", []))

    ns = d["next_step"]
    b = d["blame"]
    counterfactual = tuple(re.compile(p, re.I) for p in b["counterfactual"]["en"] + b["counterfactual"]["zh"])
    return _ToneLexicon(both(b["standalone"]), both(b["agents"]), both(b["faults"]), counterfactual,
                        both(b["emphatic"]), both(b["ownership"]), both(d["blunt"]),
                        both(d["empathy"]), both(ns["action"]), both(ns["time"]), both(ns["channel"]),
                        both(ns["vague"]), both(d["greeting"]), both(d["closing"]))


def coverage(source: str, text_features: frozenset[str] | set[str]) -> float:
    """How much of ``source`` (its bigrams and content words) the text carries, 0..1."""
    feats = _features(source)
    return len(feats & text_features) / len(feats) if feats else 1.0


def _text_features(candidate: Candidate) -> frozenset[str]:
    return _features(candidate.text)


REASON_COVERAGE = 0.30
NEXT_STEP_FROM = 0.5
OFFER_COVERAGE = 0.45


def missing_reason(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """The scenario's reason must reach the client (transparency), in any wording that keeps its content."""
    reason = scenario.facts.reason or ""
    cov = coverage(reason, _text_features(candidate))
    if cov >= REASON_COVERAGE:
        return CheckResult("missing_reason", True, 1.0, f"reason coverage {cov:.0%}", "")
    return check_result("missing_reason", False, round(cov / REASON_COVERAGE, 3), f"missing: {reason}",
                        message("missing_reason.fail", coverage=f"{cov:.0%}"), scenario)


def _offer_features(scenario: Scenario) -> dict[str, set[str]]:
    """Each offer's own words: what it shares with the rest of the scenario says nothing about the offer."""
    f = scenario.facts
    context = _features("\n".join([scenario.situation, f.reason or "", f.request or "", *f.evidence, *f.done,
                                   *f.remaining, *scenario.boundaries]))
    asked = _features(f.request or "")
    out = {}
    for o in scenario.offers:
        own = set(_features(o.text))
        distinct = own - context
        if len(distinct) < 3:  # an offer that restates the request's object: what it adds is what differs
            distinct = own - asked
        out[o.id] = distinct if len(distinct) >= 3 else own
    return out


def _offers_put(candidate: Candidate, scenario: Scenario) -> list[tuple[str, float]]:
    feats = _text_features(candidate)
    per_offer: dict[str, set[str]] = scenario.derived("offer_features", _offer_features)
    return [(oid, len(own & feats) / len(own) if own else 1.0) for oid, own in per_offer.items()]


def missing_alternative(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """At least one of the scenario's offers is put to the client as an option."""
    if not scenario.offers:
        return _ok("missing_alternative", message("missing_alternative.no_offers"), scenario)
    scored = _offers_put(candidate, scenario)
    best_id, best = max(scored, key=lambda x: x[1])
    if best >= OFFER_COVERAGE:
        return CheckResult("missing_alternative", True, 1.0, f"offer {best_id} ({best:.0%})", "")
    return check_result("missing_alternative", False, round(best / OFFER_COVERAGE, 3),
                        "missing: " + "; ".join(o.text for o in scenario.offers),
                        message("missing_alternative.fail"), scenario)


def missing_new_date(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """A delay notice states the new date, or the date by which it will be confirmed."""
    dates = scenario.facts.dates
    target = dates.get("new_deadline") or dates.get("confirm_by")
    if target is None:  # only an evaluation gets here: drafting requires one of the two dates
        return check_result("missing_new_date", False, 0.0, "missing: the new date",
                            message("missing_new_date.no_date"), scenario)
    for m in extract(candidate.text):
        if m.kind != "date":
            continue
        year, month, day = m.value  # type: ignore[misc]
        if day == target.day and month in (None, target.month) and year in (None, target.year):
            return CheckResult("missing_new_date", True, 1.0, m.text, "", [(m.start, m.end)])
    return check_result("missing_new_date", False, 0.0, f"missing: {target.isoformat()}",
                        message("missing_new_date.fail", date=target.isoformat()), scenario)


def _within(positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(positions, start)
    return i < len(positions) and positions[i] < end


_TONE_LABELS = ("blame_standalone", "blame_agents", "blame_faults", "blame_emphatic", "blame_ownership", "blunt",
                "empathy", "action", "time", "channel", "vague")


@cache
def _tone_scanner() -> MultiTerms:
    lex = _tone()
    return MultiTerms({label: getattr(lex, label) for label in _TONE_LABELS})


@lru_cache(maxsize=512)
def _tone_hits(low: str) -> dict[str, list[tuple[int, int]]]:
    """Every tone lexicon's occurrences in ``low``, found in one pass (the checks ask about the same text)."""
    return _tone_scanner().scan(low)


def _starts(low: str, label: str) -> list[int]:
    return [a for a, _ in _tone_hits(low)[label]]


def _agents(scenario: Scenario) -> _Terms:
    """The parties a sentence can blame: the lexicon's, plus this scenario's client, its company and the people
    and firms named in the internal notes (a vendor, a colleague)."""
    company = scenario.client.company or ""
    names = [company, *company.split()[:1], *(w for w in re.findall(r"[A-Z][a-zA-Z]{2,}", " ".join(
        scenario.internal_notes)))]
    return _Terms.of([n for n in names if n and n.lower() not in ("our", "the", "we")])


def blame(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """No sentence makes the client, a named person or a third party the cause of the problem.

    Read per sentence as structure: another party together with a fault predicate, a counterfactual ("had the
    data arrived on time, we would not be here", 若贵司早…就不会), or an emphatic frame ("frankly", 说白了)
    pointing at another party. A sentence in which we own the problem is not blame.
    """
    lex = _tone()
    text = candidate.text
    low = text.lower()
    extra: _Terms = scenario.derived("blame_agents", _agents)
    alone = _starts(low, "blame_standalone")
    agents = sorted(_starts(low, "blame_agents") + extra.starts(low))
    if not alone and not agents:
        return _ok("blame")
    faults = _starts(low, "blame_faults")
    emphatic = _starts(low, "blame_emphatic")
    owned = _starts(low, "blame_ownership")
    for start, end, sentence in _sentences(text):
        if _within(owned, start, end):
            continue
        has_agent = _within(agents, start, end)
        why = None
        if _within(alone, start, end):
            why = "hindsight"
        elif has_agent and _within(faults, start, end):
            why = "other_party"
        elif has_agent and _within(emphatic, start, end):
            why = "pointing"
        elif _within(emphatic, start, end) and _within(faults, start, end):
            why = "emphatic"
        elif any(p.search(sentence.lower()) for p in lex.blame_counterfactual):
            why = "counterfactual"
        if why:
            return check_result("blame", False, 0.0, sentence.strip(),
                                message("blame.fail", why=message(f"blame.{why}")), scenario, [(start, end)])
    return _ok("blame")


def blunt_refusal(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """A bare negative with no option next to it."""
    low = candidate.text.lower()
    hits = _tone_hits(low)["blunt"]
    hit = min(hits) if hits else None
    if hit is None or missing_alternative(candidate, scenario).passed:
        return _ok("blunt_refusal")
    return check_result("blunt_refusal", False, 0.0, candidate.text[hit[0]:hit[1]],
                        message("blunt_refusal.fail"), scenario, [hit])


def _closing_start(candidate: Candidate) -> int:
    """Where the sign-off begins in ``candidate.text``: the trailing short lines ("谢谢！梁晨", "Kind regards,",
    "敬祝 / 商祺"). Thanks there ("辛苦了", "thank you for your trust") are a courtesy, not an acknowledgement of
    the client's position."""
    text = candidate.text
    lines = [m for m in re.finditer(r"[^\n]+", text) if m.group(0).strip()]
    stop = len(text)
    for m in reversed(lines[1:]):
        line = m.group(0).strip()
        if len(line) > (40 if line.isascii() else 20):
            break
        stop = m.start()
    return stop


def missing_empathy(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """The message acknowledges the client's position or disappointment (before its sign-off)."""
    low = candidate.text.lower()
    stop = _closing_start(candidate)
    hits = [h for h in _tone_hits(low)["empathy"] if h[0] < stop]
    if hits:
        hit = min(hits)
        return CheckResult("missing_empathy", True, 1.0, candidate.text[hit[0]:hit[1]], "", [hit])
    return check_result("missing_empathy", False, 0.0, "missing: an acknowledgement of the client's position",
                        message("missing_empathy.fail"), scenario)


def missing_next_step(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """A concrete next step: an action with a time (or date) or a channel, not just "let me know"."""
    text = candidate.text
    low = text.lower()
    times = sorted(_starts(low, "time") + [m.start for m in extract(text) if m.kind in ("date", "time")])
    channels = _starts(low, "channel")
    actions = _starts(low, "action")
    vague = _starts(low, "vague")
    # a next step closes the message: look in its second half, where follow-ups are proposed
    half = len(text) * NEXT_STEP_FROM
    for start, end, sentence in _sentences(text):
        if end < half or _within(vague, start, end):
            continue
        has_time = _within(times, start, end)
        has_channel = _within(channels, start, end)
        # "a call on Friday at 10" needs no verb; "we will confirm by Friday" needs no channel
        if (has_time and has_channel) or (_within(actions, start, end) and (has_time or has_channel)):
            return CheckResult("missing_next_step", True, 1.0, sentence.strip(), "", [(start, end)])
    return check_result("missing_next_step", False, 0.0, "missing: a follow-up with a time or a channel",
                        message("missing_next_step.fail"), scenario)


def _limit(candidate: Candidate, scenario: Scenario) -> int:
    from pmcomm_llm.prompting.prompts import load_prompts

    return scenario.max_chars or load_prompts().catalogue.max_chars(scenario.channel, scenario.language or "en")


_TITLE_HELLO = re.compile(r"^\s*[\u4e00-\u9fff]{1,6}好(?:[～~，,！!。\s]|\W|$)")
"""A title and 好 opening a Chinese message: 協理好🙏, 林經理好, 李总好～."""


def missing_greeting(candidate: Candidate, scenario: Scenario) -> CheckResult:
    first = next((line for line in candidate.body.splitlines() if line.strip()), "")[:80]
    low = first.lower()
    if (_tone().greeting.find(low) or scenario.client.name.lower() in low
            or _TITLE_HELLO.match(first) is not None):
        return CheckResult("missing_greeting", True, 1.0, first, "")
    return check_result("missing_greeting", False, 0.0, "missing: a greeting", message("missing_greeting.fail"),
                        scenario)


def missing_close(candidate: Candidate, scenario: Scenario) -> CheckResult:
    lines = [line for line in candidate.body.splitlines() if line.strip()]
    tail = "\n".join(lines[-3:])
    low = tail.lower()
    if _tone().closing.find(low) or scenario.sender.name.lower() in low:
        return CheckResult("missing_close", True, 1.0, tail, "")
    return check_result("missing_close", False, 0.0, "missing: a sign-off", message("missing_close.fail"), scenario)


def missing_subject(candidate: Candidate, scenario: Scenario) -> CheckResult:
    if scenario.channel != "email" or (candidate.subject and candidate.subject.strip()):
        return _ok("missing_subject")
    return check_result("missing_subject", False, 0.0, "missing: subject", message("missing_subject.fail"), scenario)


def too_long(candidate: Candidate, scenario: Scenario) -> CheckResult:
    limit = _limit(candidate, scenario)
    n = len(candidate.body)
    if n <= limit:
        return CheckResult("too_long", True, 1.0, f"{n}/{limit} characters", "")
    return check_result("too_long", False, round(limit / n, 3), f"{n}/{limit} characters",
                        message("too_long.fail", length=str(n), channel=message(f"channel.{scenario.channel}"),
                                limit=str(limit)), scenario)


# --- shape: a message, not a form ----------------------------------------------------------------------------

_LABEL = re.compile(r"^[ \t]*(?:[-*•·]\s*)?(?P<label>[^\n:：,，。.!?！？]{1,24})[:：]", re.M)
"""A line that opens with a short label and a colon: 主要原因是：, 具体依据：, Next step:, Option 1:."""
_BULLET = re.compile(r"^[ \t]*(?:[-*•·●▪◦]|\d{1,2}[.)](?=\s)|\d{1,2}、|[（(]\d{1,2}[)）]|[一二三四五六七八九十][、.])\s*\S",
                     re.M)
_HEADER = re.compile(r"^[ \t]{0,3}(?:#{1,6}\s|\*\*[^*\n]{1,40}\*\*[:：]?\s*$|【[^】\n]{1,20}】\s*$)", re.M)
FORM_LABEL_LINES = 4
"""An email with this many heading labels (主要原因是：, 下一步：, For clarity:) reads as a filled-in form. Set on
the corpus dev sets, where 14 of 204 hand-written emails reach it; evals/corpus/README.md has the holdout."""


@cache
def _choice_terms() -> _Terms:
    d = load_yaml("evals", "lexicons/shape.yaml")["choice"]
    return _Terms.of(d.get("en", []), d.get("zh", []))


def _labels(body: str) -> list[re.Match[str]]:
    """Label lines after the first (the greeting may end in a colon: 何总，您好：)."""
    first_end = body.find("\n")
    out = []
    for m in _LABEL.finditer(body):
        label = m.group("label").strip()
        if m.start() <= first_end or first_end < 0 or not label:
            continue
        if label.isascii() and len(label.split()) > 4:
            continue
        if not label.isascii() and len(label) > 12:
            continue
        out.append(m)
    return out


def _im_sentences(body: str) -> int:
    """Sentences of a chat message, not counting a greeting line or a short closing thanks."""
    lines = [line for line in body.splitlines() if line.strip()]
    n = count_sentences(body)
    if lines and len(lines[0]) <= 24 and count_sentences(lines[0]) == 1:
        n -= 1
    last = re.split(r"(?<=[。！？!?.])\s*", lines[-1].strip()) if lines else []
    last = [x for x in last if x]
    if last and len(last[-1]) <= (16 if last[-1].isascii() else 8) and _tone().closing.find(last[-1].lower()):
        n -= 1
    return max(n, 0)


def message_shape(candidate: Candidate, scenario: Scenario) -> CheckResult:
    """A message, not a form: an instant message has no labels, headers or bullet lists and stays within its
    sentence budget; an email is not a skeleton of label lines; and a single option (or options that go
    together) is not put to the client as a choice."""
    from pmcomm_llm.prompting.prompts import load_prompts

    body = candidate.body
    offset = len(candidate.text) - len(body)
    problems: list[str] = []
    spans: list[tuple[int, int]] = []
    labels = _labels(body)
    if scenario.channel == "im":
        budget = load_prompts().catalogue.channels["im"].max_sentences
        shapes = [("a label line", labels), ("a bullet list", list(_BULLET.finditer(body))),
                  ("a header", list(_HEADER.finditer(body)))]
        for what, found in shapes:
            if found:
                problems.append(f"{what} ({found[0].group(0).strip()[:30]!r})")
                spans += [(offset + m.start(), offset + m.end()) for m in found]
        n = _im_sentences(body)
        if budget and n > budget:
            problems.append(f"{n} sentences where a chat message has {budget}")
    else:
        # a heading label is short and holds no figure: "2027-01-15：" or "期初数据校验：" introduce content
        heads = [m for m in labels if not re.search(r"\d", m.group("label"))
                 and len(m.group("label").split() if m.group("label").isascii() else m.group("label").strip()) <= (
                     3 if m.group("label").isascii() else 6)]
        if len(heads) >= FORM_LABEL_LINES:
            problems.append(f"{len(heads)} label lines ({', '.join(repr(m.group('label').strip()) for m in heads[:3])})"
                            " make it read as a form")
            spans += [(offset + m.start(), offset + m.end()) for m in heads]
    choices = sum(1 for o in scenario.offers if o.type == "alternative")
    if choices < 2 or scenario.offers_combine:
        hit = _choice_terms().find(candidate.text.lower())
        if hit:
            what = "one option" if choices == 1 else ("options that go together" if choices else "no option")
            problems.append(f"asks the client to choose ({candidate.text[hit[0]:hit[1]]!r}) with {what} to choose")
            spans.append(hit)
    if not problems:
        return _ok("message_shape")
    return check_result("message_shape", False, 0.0, "; ".join(problems), message("message_shape.fail"), scenario,
                        sorted(spans))


CHECKS: dict[str, CheckFn] = {
    "fabricated_fact": fabricated_fact,
    "internal_leak": internal_leak,
    "unauthorized_commitment": unauthorized_commitment,
    "unknown_offer": unknown_offer,
    "grounding_notes": grounding_notes,
    "blame": blame,
    "blunt_refusal": blunt_refusal,
    "missing_reason": missing_reason,
    "missing_alternative": missing_alternative,
    "missing_new_date": missing_new_date,
    "missing_next_step": missing_next_step,
    "missing_empathy": missing_empathy,
    "missing_greeting": missing_greeting,
    "missing_close": missing_close,
    "missing_subject": missing_subject,
    "too_long": too_long,
    "message_shape": message_shape,
}
"""Every deterministic check by its public id (the rubric's vocabulary)."""


def preload() -> None:
    """Load every lexicon the checks use now, not lazily inside a worker (where a full file table or a
    read error would fail one item at random instead of stopping the run before it starts)."""
    preload_safety()  # evals/messages.yaml too
    _tone_scanner()
    _choice_terms()
