"""Claim-level grounding: every clause of a draft judged against what the scenario says, not every number.

A draft is split into sentences and clauses. Each figure in it (date, time, amount, percentage, discount,
duration, count) is grounded only when the scenario's trusted facts state the same figure *for a compatible
thing*; each promise clause is matched to one specific offer, by content and figures. What comes out is a list
of :class:`Finding` objects, each with the clause that carries it and, where one exists, the supporting source.

Sources of truth:

* **trusted** — ``facts``, ``offers``, ``boundaries``, ``project``, ``situation``, people: they ground a draft;
* **untrusted** — ``client_message``: its figures may be quoted back as the client's ("you mentioned …"), never
  asserted as ours or promised;
* **secret** — ``internal_notes``: a figure found only there is a leak (reported by the leak check, once).

Only offers authorise a promise. A boundary that forbids something ("refunds are not available") authorises
nothing, and an offer that merely contains a promise word authorises only what it says, with its own figures.
Severity is policy in the rubric data (``grounding:`` in ``evals/rubric.yaml``), not code: a proposed call's time
or length is a non-blocking *logistics* finding the PM confirms, not a re-ask.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pmcomm_llm.core.resources import load_yaml
from pmcomm_llm.grounding.messages import PLACEHOLDERS, Message, message, messages_catalogue
from pmcomm_llm.grounding.quantities import Grounding, Mention, extract
from pmcomm_llm.grounding.text import MultiTerms, Terms, clauses_of, features, sentences_of

if TYPE_CHECKING:
    from pmcomm_llm.core.scenario import Scenario

__all__ = ["KINDS", "Analysis", "Finding", "analyse", "promise_lexicon", "severity_policy", "stated_publicly"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One claim the scenario does not support, with the clause it sits in and what would have supported it."""

    check: str
    """The check that reports it when blocking: ``fabricated_fact`` or ``unauthorized_commitment``."""
    kind: str
    """What is wrong: ``figure``, ``client_figure``, ``wrong_thing``, ``new_date``, ``promise``,
    ``promise_figure``, ``promise_whole``, ``logistics``."""
    start: int
    end: int
    text: str
    clause: str
    message: str
    """``note`` in the scenario's language (``evals/messages.yaml``)."""
    source: str = ""
    """The scenario text that grounds the figure for another thing, or the offer the promise went beyond."""
    blocking: bool = True
    """By the rubric's ``grounding:`` policy for ``kind``: blocking findings fail the draft and are re-asked;
    advisory ones are shown to the PM."""
    note: Message | None = field(default=None, compare=False)
    """What is wrong, before it is put in a language: the checks quote it, in English for the re-ask."""

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "kind": self.kind, "text": self.text, "span": [self.start, self.end],
                "clause": self.clause, "message": self.message, "source": self.source, "blocking": self.blocking}


@dataclass(slots=True)
class Analysis:
    findings: list[Finding] = field(default_factory=list)

    def of(self, check: str) -> list[Finding]:
        """The blocking findings ``check`` reports."""
        return [f for f in self.findings if f.check == check and f.blocking]

    def advisory(self) -> list[Finding]:
        return [f for f in self.findings if not f.blocking]


Severity = Literal["blocking", "advisory"]
KINDS = ("figure", "client_figure", "wrong_thing", "new_date", "promise", "promise_figure", "promise_whole",
         "logistics")


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: dict[str, Severity]

    @field_validator("severity")
    @classmethod
    def _every_kind(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        unknown = sorted(set(value) - set(KINDS))
        missing = sorted(set(KINDS) - set(value))
        if unknown or missing:
            raise ValueError(f"grounding.severity must name each finding kind once ({', '.join(KINDS)}); "
                             + (f"unknown: {', '.join(unknown)}; " if unknown else "")
                             + (f"missing: {', '.join(missing)}" if missing else ""))
        return value


@cache
def severity_policy() -> dict[str, Severity]:
    """``grounding.severity`` of ``evals/rubric.yaml``: which findings block a draft. Data, not code."""
    from pmcomm_llm.core.errors import PromptError

    try:
        return _Policy.model_validate(load_yaml("evals", "rubric.yaml").get("grounding") or {}).severity
    except ValidationError as exc:
        raise PromptError(f"evals/rubric.yaml: grounding: {exc.errors()[0]['msg']}") from None


# --- lexicons -----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Cues:
    reported: Terms
    restated: Terms
    money_topics: dict[str, Terms]
    new_date: Terms
    meeting: Terms
    whole: Terms
    more_than: Terms
    nearly: Terms
    hedged: Terms
    accepting: Terms


def _terms(node: dict[str, list[str]]) -> Terms:
    return Terms.of(node.get("en", []), node.get("zh", []))


@cache
def _cues() -> _Cues:
    d = load_yaml("evals", "lexicons/grounding.yaml")
    return _Cues(_terms(d["reported_client"]), _terms(d["restated"]),
                 {k: _terms(v) for k, v in d["money_topics"].items()}, _terms(d["new_date"]), _terms(d["meeting"]),
                 _terms(d["whole"]), _terms(d["more_than"]), _terms(d["nearly"]), _terms(d["hedged"]),
                 _terms(d["accepting"]))


@dataclass(frozen=True, slots=True)
class PromiseLexicon:
    groups: dict[str, Terms]
    exceptions: Terms
    negation: re.Pattern[str]
    others: Terms
    first_person: Terms


@cache
def promise_lexicon() -> PromiseLexicon:
    data = load_yaml("evals", "lexicons/commitments.yaml")
    groups = {name: Terms.of(terms.get("en", []), terms.get("zh", [])) for name, terms in data["groups"].items()}
    neg_en = "|".join(re.escape(n) for n in data["negations"]["en"])
    neg_zh = "|".join(re.escape(n) for n in data["negations"]["zh"])
    negation = re.compile(rf"(?:{neg_en})|(?:{neg_zh})", re.I)
    return PromiseLexicon(groups, Terms.of(data["exceptions"]), negation, _terms(data["others"]),
                          _terms(data["first_person"]))


@cache
def _scanner() -> MultiTerms:
    """Every cue and promise lexicon, walked in one pass per draft."""
    cues, lex = _cues(), promise_lexicon()
    lexicons = {"reported": cues.reported, "meeting": cues.meeting, "hedged": cues.hedged, "restated": cues.restated,
                "accepting": cues.accepting, "first_person": lex.first_person, "others": lex.others,
                "whole": cues.whole, "more_than": cues.more_than, "nearly": cues.nearly, "new_date": cues.new_date,
                "exceptions": lex.exceptions}
    lexicons.update({f"topic:{t}": terms for t, terms in cues.money_topics.items()})
    lexicons.update({f"group:{g}": terms for g, terms in lex.groups.items()})
    return MultiTerms(lexicons)


def preload() -> None:
    severity_policy()
    _cues()
    promise_lexicon()
    _scanner()
    _topic_scanner()
    _group_scanner()
    messages_catalogue()
    _check_group_labels()


def _check_group_labels() -> None:
    """Every promise group of the lexicon is named in ``evals/messages.yaml`` (``promise_group``), so a group added
    to the lexicon fails before a run, not when its first finding is rendered."""
    from pmcomm_llm.core.errors import PromptError

    named = {key.split(".", 1)[1] for key in PLACEHOLDERS if key.startswith("promise_group.")}
    unnamed = sorted(set(promise_lexicon().groups) - named)
    if unnamed:
        raise PromptError(f"evals/lexicons/commitments.yaml has promise group(s) {', '.join(unnamed)} that "
                          "evals/messages.yaml (promise_group) and grounding/messages.py (PLACEHOLDERS) do not name")


def _finding(check: str, kind: str, start: int, end: int, text: str, clause: str, note: Message,
             source: str = "") -> Finding:
    """A finding whose ``message`` is filled in, in the scenario's language, once the analysis is done."""
    return Finding(check, kind, start, end, text, clause, "", source, note=note)


# --- the scenario side --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Offer:
    id: str
    text: str
    groups: frozenset[str]
    own: frozenset[str]
    mentions: tuple[Mention, ...]
    whole: bool


@cache
def _topic_scanner() -> MultiTerms:
    return MultiTerms(dict(_cues().money_topics))


@cache
def _group_scanner() -> MultiTerms:
    return MultiTerms(dict(promise_lexicon().groups))


def _labels_found(scanner: MultiTerms, text: str) -> frozenset[str]:
    """The lexicons of ``scanner`` that occur in ``text``: one Aho-Corasick pass, not one scan per term."""
    return frozenset(label for label, hits in scanner.scan(text.lower()).items() if hits)


@lru_cache(maxsize=8192)
def _money_topics(text: str) -> frozenset[str]:
    return _labels_found(_topic_scanner(), text)


def _promise_groups(text: str) -> frozenset[str]:
    return _labels_found(_group_scanner(), text) | (
        {"discount"} if any(m.kind == "discount" for m in extract(text)) else set())


class _Sources:
    """What the scenario states, for the draft's claims to be judged against; computed once per scenario.

    Only ``grounding`` (the trusted figures) is needed for nearly every draft. The rest serves questions only some
    drafts raise — a figure the trusted facts do not give (``client``, ``secret``), a sum given for a money topic
    (``clauses``), a promise (``offers``, ``restatable``) — and is built on first use: on a scenario seen once, as
    in a batch, building it all up front was most of the guard's CPU. It keeps the scenario's parts it reads
    later, not the scenario: the scenario keeps it (``Scenario.derived``), and a cycle would outlive the item.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._facts = scenario.facts
        self._situation = scenario.situation
        self._offers = tuple(scenario.offers)
        self._boundaries = tuple(scenario.boundaries)
        self._notes = tuple(scenario.internal_notes)
        self._client_message = scenario.client_message
        self._trusted = _trusted_sentences(scenario)
        self.grounding = Grounding(self._trusted, scenario.all_dates())
        f = scenario.facts
        new = {(d.month, d.day) for k, d in f.dates.items() if k in ("new_deadline", "confirm_by")}
        new |= {(m.date.month, m.date.day) for m in f.milestones}
        self.new_dates: frozenset[tuple[int, int]] = frozenset(new)
        self.other_dates: frozenset[tuple[int, int]] = frozenset({(d.month, d.day) for d in f.dates.values()} - new)

    @cached_property
    def client(self) -> Grounding:
        """The figures of ``client_message``: quotable as the client's, never ours."""
        return Grounding([self._client_message] if self._client_message else [])

    @cached_property
    def secret(self) -> Grounding:
        """The figures of ``internal_notes``: the leak check reports them."""
        return Grounding(self._notes)

    @cached_property
    def clauses(self) -> tuple[tuple[str, tuple[Mention, ...], frozenset[str]], ...]:
        """Every trusted clause with its figures and money topics (what a figure is given *for*)."""
        return tuple((c, tuple(extract(c)), _money_topics(c)) for sentence in self._trusted
                     for _, _, c in clauses_of(sentence))

    @cached_property
    def restatable(self) -> tuple[frozenset[str], ...]:
        """The content of each boundary and each stated fact (reason, evidence, done, remaining, request): a
        sentence that restates one ("a test case for contactless refunds failed") is not a new promise."""
        f = self._facts
        return tuple(features(t) for t in [*self._boundaries, f.reason or "", *f.evidence, *f.done, *f.remaining,
                                           f.request or ""] if t)

    @cached_property
    def offers(self) -> tuple[_Offer, ...]:
        """Each offer with the promise groups it authorises, its own words and its figures."""
        f = self._facts
        context = features("\n".join([self._situation, f.reason or "", f.request or "", *f.evidence,
                                      *self._boundaries]))
        whole_terms = _cues().whole
        return tuple(_Offer(o.id, o.text, _promise_groups(o.text), frozenset(_offer_own(context, o.text)),
                            tuple(extract(o.text)), whole_terms.find(o.text.lower()) is not None)
                     for o in self._offers)


def _trusted_sentences(scenario: Scenario) -> list[str]:
    """The sentences of every trusted field: facts, offers, boundaries, project, situation (dates as text)."""
    f = scenario.facts
    texts = [scenario.project, scenario.situation, f.reason or "", f.request or "", f.next_step or "",
             *f.evidence, *f.done, *f.remaining]
    texts += [f"{k.replace('_', ' ')} {d.isoformat()}" for k, d in f.dates.items()]
    texts += [f"{m.name} {m.date.isoformat()}" for m in f.milestones]
    texts += [o.text for o in scenario.offers] + list(scenario.boundaries)
    return [sentence for text in texts if text for _s, _e, sentence in sentences_of(text)]


def _sources(scenario: Scenario) -> _Sources:
    return _Sources(scenario)


def stated_publicly(scenario: Scenario, m: Mention) -> bool:
    """Whether the scenario states ``m`` anywhere but its internal notes (trusted facts or the client's words)."""
    src: _Sources = scenario.derived("claim_sources", _sources)
    return src.grounding.grounded(m) or src.client.grounded(m)


def _offer_own(context: frozenset[str], text: str) -> set[str]:
    """An offer's own words: what it shares with the rest of the scenario (``context``) says little about which
    offer it is."""
    own = set(features(text))
    distinct = own - context
    return distinct if len(distinct) >= 3 else own


# --- the draft side -----------------------------------------------------------------------------------------

def analyse(text: str, scenario: Scenario) -> Analysis:
    """Every finding for ``text`` (a draft's subject and body) against ``scenario``; memoised per scenario."""
    memo: dict[str, Analysis] = scenario.derived("claims_memo", lambda _s: {})
    found = memo.get(text)
    if found is None:
        if len(memo) > 64:
            memo.clear()
        found = memo[text] = _analyse(_Draft(text), scenario.derived("claim_sources", _sources), scenario)
    return found


class _Draft:
    """One draft read once: its figures, sentences, clauses and where each cue occurs.

    Every later question ("is this clause reported speech?", "is there a meeting word near this time?") is a
    lookup in these positions, not another scan of the text.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.low = low = text.lower()
        self.mentions = extract(text)
        self.sentences = sentences_of(text)
        self.clauses = clauses_of(text)
        hits = _scanner().scan(low)
        self.hits = hits

        def starts(label: str) -> list[int]:
            return [a for a, _ in hits[label]]

        self.reported = starts("reported")
        self.meeting = starts("meeting")
        self.hedged = starts("hedged")
        self.restated = starts("restated")
        self.accepting = starts("accepting")
        self.first_person = starts("first_person")
        self.others = starts("others")
        self.whole = starts("whole")
        self.more_than = hits["more_than"]
        self.nearly = hits["nearly"]
        self.new_date = hits["new_date"]
        self.topics = {t: starts(f"topic:{t}") for t in _cues().money_topics}

    def sentence(self, pos: int) -> tuple[int, int, str]:
        return _containing(self.sentences, pos)

    def clause(self, pos: int) -> tuple[int, int, str]:
        return _containing(self.clauses, pos)

    def topics_in(self, start: int, end: int) -> frozenset[str]:
        return frozenset(t for t, at in self.topics.items() if _any_in(at, start, end))

    def mentions_in(self, start: int, end: int) -> list[Mention]:
        return [m for m in self.mentions if start <= m.start < end]


def _any_in(positions: list[int], start: int, end: int) -> bool:
    i = bisect_left(positions, start)
    return i < len(positions) and positions[i] < end


def _near(hits: list[tuple[int, int]], start: int, end: int, before: int, after: int) -> bool:
    return any(start - before <= a and b <= end + after for a, b in hits)


def _analyse(d: _Draft, src: _Sources, scenario: Scenario) -> Analysis:
    out = Analysis()
    text = d.text
    promise_spans = _promises(d, src, out)
    lex = promise_lexicon()
    delay = scenario.kind.value == "delay_notice"
    for m in d.mentions:
        s_start, s_end, s_text = d.sentence(m.start)
        previous = d.sentence(s_start - 1)[0] if s_start else s_start
        earlier = d.sentence(previous - 1)[0] if previous else previous  # "…on a call. An hour should do."
        hedged = _any_in(d.hedged, s_start, s_end)  # "1/20 也要等到货才能判断" follows the quote
        reported = _any_in(d.reported, previous if hedged else s_start, s_end)
        in_promise = any(a <= m.start < b for a, b in promise_spans)
        c_start, c_end, clause = d.clause(m.start)
        if src.grounding.grounded(m):
            wrong = _wrong_thing(m, d.topics_in(c_start, c_end), src)
            if wrong is not None and not reported:
                out.findings.append(_finding("fabricated_fact", "wrong_thing", m.start, m.end, m.text, s_text.strip(),
                                             message("fabricated_fact.wrong_thing", figure=m.text, source=wrong),
                                             wrong))
            elif m.kind == "date" and delay and _misdated(m, d, src):
                out.findings.append(_finding("fabricated_fact", "new_date", m.start, m.end, m.text, s_text.strip(),
                                             message("fabricated_fact.new_date", figure=m.text)))
            continue
        if src.secret.grounded(m):
            continue  # a figure from the internal notes: the leak check reports it, once
        if _bounded(m, d, src):
            continue  # "超出预算六成以上" for 65 %, "nearly 50 days" for 48
        if src.client.grounded(m):
            if reported or in_promise or lex.negation.search(clause.lower()):
                continue  # quoted back as the client's, refused ("无法保证 1/20"), or an unauthorised promise
            out.findings.append(_finding("fabricated_fact", "client_figure", m.start, m.end, m.text, s_text.strip(),
                                         message("fabricated_fact.client_figure", figure=m.text)))
            continue
        if _logistics(m, earlier, s_end, d.meeting):
            out.findings.append(_finding("fabricated_fact", "logistics", m.start, m.end, m.text, s_text.strip(),
                                         message("fabricated_fact.logistics", figure=m.text)))
            continue
        if in_promise and m.kind in ("discount", "count", "duration", "amount", "percent"):
            continue  # the promise itself is the finding ("打八折", "two more engineers", "一年内都不收钱")
        out.findings.append(_finding("fabricated_fact", "figure", m.start, m.end, m.text, s_text.strip(),
                                     message("fabricated_fact.figure", figure=m.text)))
    wrong = [(f.start, f.end) for f in out.findings if f.kind == "wrong_thing"]
    if wrong:  # the refund given as the budget's figure is one defect: a fabricated figure, reported once
        out.findings = [f for f in out.findings if not (f.kind == "promise_figure" and any(
            a <= f.start < b or f.start <= a < f.end or (f.clause and text[a:b] in f.clause) for a, b in wrong))]
    policy = severity_policy()
    language = scenario.language
    out.findings = [replace(f, blocking=policy[f.kind] == "blocking",
                            message=f.note.render(language) if f.note is not None else f.message)
                    for f in out.findings]
    return out


def _bounded(m: Mention, d: _Draft, src: _Sources) -> bool:
    """A figure written as a bound ("more than 60%", "将近 50 天") that a nearby scenario figure satisfies."""
    if m.kind not in ("percent", "amount", "count"):
        return False
    value = float(m.value)  # type: ignore[arg-type]
    pool = src.grounding.percents if m.kind == "percent" else src.grounding.numbers
    if _near(d.more_than, m.start, m.end, 12, 4):
        return any(value <= v <= value * 1.15 for v in pool)
    if _near(d.nearly, m.start, m.end, 12, 4):
        return any(value * 0.95 <= v <= value * 1.05 for v in pool)
    return False


def _containing(spans: list[tuple[int, int, str]], pos: int) -> tuple[int, int, str]:
    i = bisect_left(spans, (pos + 1,)) - 1
    if 0 <= i < len(spans) and spans[i][0] <= pos < spans[i][1]:
        return spans[i]
    return pos, pos + 1, ""


def _logistics(m: Mention, start: int, end: int, meeting_at: list[int]) -> bool:
    if m.kind == "time":
        return True  # a time of day in a client message is when something is proposed to happen
    if m.kind == "duration":
        _days, _count, unit = m.value  # type: ignore[misc]
        return unit in ("minute", "hour") and _any_in(meeting_at, start, end)
    return False


def _wrong_thing(m: Mention, topics: frozenset[str], src: _Sources) -> str | None:
    """A sum grounded by value but given for another thing: the refund stated as the budget's figure.

    Both sides are read at clause level: "约需 96 万元和 5 个月，相对 180 万元的合同金额" gives 96 万 for the cost,
    180 万 for the contract.
    """
    if m.kind not in ("amount", "percent") or not topics:
        return None
    holders = [(c, t) for c, mentions, t in src.clauses if any(_same(m, x) for x in mentions)]
    if not holders or any(t & topics or not t for _, t in holders):
        return None
    return holders[0][0].strip()


def _same(a: Mention, b: Mention) -> bool:
    if a.kind in ("amount", "percent", "count") and b.kind in ("amount", "percent", "count"):
        return round(float(a.value), 4) == round(float(b.value), 4)  # type: ignore[arg-type]
    return a.kind == b.kind and a.value == b.value


def _misdated(m: Mention, d: _Draft, src: _Sources) -> bool:
    """A scenario date (the old deadline) written right after "new date" / 改为 / moved to."""
    _year, month, day = m.value  # type: ignore[misc]
    if day is None or not src.new_dates or (month, day) in src.new_dates or (month, day) not in src.other_dates:
        return False
    cue_ends = [b for a, b in d.new_date if m.start - 14 <= a and b <= m.start]
    if not cue_ends:
        return False
    return not any(x.kind == "date" and max(cue_ends) <= x.start < m.start for x in d.mentions)


# --- promises -----------------------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[;!?。；！？\n，、：]|(?<!\d)[.,:]|[.,:](?!\d)")


def _promises(d: _Draft, src: _Sources, out: Analysis) -> list[tuple[int, int]]:
    """Find promise clauses, match each to one offer; record the unmatched ones. Returns the promise spans."""
    lex = promise_lexicon()
    low, text = d.low, d.text
    masked = d.hits["exceptions"]
    spans: list[tuple[int, int]] = []
    hits: list[tuple[int, int, str]] = []
    for group in lex.groups:
        for start, end in d.hits[f"group:{group}"]:
            if not any(a <= start < b for a, b in masked):
                hits.append((start, end, group))
    hits += [(m.start, m.end, "discount") for m in d.mentions if m.kind == "discount"]
    hits.sort()
    seen_sentences: set[int] = set()
    for start, end, group in hits:
        s_start, s_end, sentence = d.sentence(start)
        clause_start = s_start + max((x.end() for x in _CLAUSE_BREAK.finditer(sentence[:start - s_start])),
                                     default=0)
        if _negated(low[clause_start:start], lex) or _negated_after(low, end):
            continue  # "we cannot offer a refund", "这个我们没办法保证", "退款不予办理"
        c_start, c_end, whole_clause = d.clause(start)
        accepted = _any_in(d.accepting, s_start, s_end)  # "就按您说的赔 10%": the demand, granted
        ours = _any_in(d.first_person, c_start, c_end)  # "剩下的我去申请也一起退": our promise
        if _any_in(d.reported, max(c_start, start - 8), start):
            continue  # "您问的退款", "the refund you asked for": the client's request named, not our promise
        restated = _any_in(d.restated, c_start, c_end) or (_any_in(d.restated, s_start, s_end) and not ours)
        if restated or (_any_in(d.reported, s_start, s_end) and not accepted and not ours):
            continue  # a contract's terms restated, the client's request quoted back
        if _any_in(d.others, clause_start, end) and not _any_in(d.first_person, clause_start, end):
            continue  # someone else's promise, reported
        if _restates_fact(whole_clause, src):
            continue  # "Discounts are not available on this engagement": a boundary or a fact, restated
        spans.append((s_start, s_end))
        if s_start in seen_sentences:
            continue
        verdict = _match_offer(group, sentence, whole_clause, d.mentions_in(c_start, c_end),
                               _any_in(d.whole, c_start, c_end), src)
        if verdict is None:
            continue
        seen_sentences.add(s_start)
        kind, note, offer = verdict
        out.findings.append(_finding("unauthorized_commitment", kind, start, end, text[start:end], sentence.strip(),
                                     note, offer))
    return spans


_NOT_NEGATION = re.compile(r"不过|不過|不仅|不僅|不但|不管|不论|不論|不久|不断|不斷|不错|不錯|不少|不只|大不了|不妨|"
                           r"不好意思|不便|不知|不如|不光")


def _negated(before: str, lex: PromiseLexicon) -> bool:
    """A refusal word shortly before the promise word, in its clause ("cannot offer", 无法提供, 不能保证)."""
    cleaned = _NOT_NEGATION.sub("", before)
    tail = cleaned[-30:] if cleaned.isascii() else cleaned[-12:]
    return lex.negation.search(tail) is not None


_REFUSED_AFTER = re.compile(r"^\w*\s*(?:不予|不能|无法|無法|恕不|不在|不可|is not|isn't|are not|aren't|won't be|"
                            r"will not be|cannot|not available|unavailable|not offered|not included)|没办法|沒辦法|做不到|办不到|辦不到|不可能|不行|无法|無法|isn't possible|"
                            r"not possible|isn't something|is not something|can't offer|cannot offer|not able to")


def _restates_fact(clause: str, src: _Sources) -> bool:
    """The clause says again what a boundary or fact says: most of the fact is in it, or (for a clause of some
    substance) nearly all of it is in the fact ("contactless refund failed" from the reason)."""
    feats = features(clause)
    return any(b and (len(b & feats) / len(b) >= 0.6 or (len(feats) >= 3 and len(feats & b) / len(feats) >= 0.8))
               for b in src.restatable)


def _negated_after(low: str, end: int) -> bool:
    """A refusal written after the promise word, in its clause: 退款不予办理, 全退这个确实没办法."""
    after = _CLAUSE_BREAK.split(low[end:end + 24], maxsplit=1)[0]
    return _REFUSED_AFTER.search(after) is not None


def _match_offer(group: str, sentence: str, clause: str, mentions: list[Mention], whole: bool,
                 src: _Sources) -> tuple[str, Message, str] | None:
    """``mentions`` and ``whole`` are the promise clause's: a long sentence may also quote the client's figure."""
    """None when one offer covers the promise; else (kind, what is wrong, the offer it went beyond or "")."""
    feats = features(sentence)
    best: tuple[float, _Offer] | None = None
    for offer in src.offers:
        if group not in offer.groups:
            continue  # an offer authorises only what it promises: a refund offer does not cover a discount
        overlap = len(offer.own & feats) / len(offer.own) if offer.own else 0.0
        if best is None or overlap > best[0]:
            best = (overlap, offer)
    if best is None and group == "compensation":
        # "作为补偿，驻场支持延长到 3 周": the compensation is whichever offer the sentence names
        for offer in src.offers:
            overlap = len(offer.own & feats) / len(offer.own) if offer.own else 0.0
            if overlap >= 0.5 and (best is None or overlap > best[0]):
                best = (overlap, offer)
    if best is not None and best[0] < 0.2 and len(_content(sentence, feats)) >= 2:
        best = None  # "maintenance next year is on the house": its own object, not the free support offered
    if best is None:
        return ("promise", message("unauthorized_commitment.promise", group=message(f"promise_group.{group}")), "")
    offer = best[1]
    if group in _MONEY_GROUPS and _FRACTION.search(clause) and any(
            x.kind == "amount" for x in offer.mentions) and not any(
            x.kind in ("percent", "discount") for x in offer.mentions):
        return ("promise_figure", message("unauthorized_commitment.promise_share", offer=offer.text), offer.text)
    figures = [m for m in mentions if m.kind in ("amount", "percent", "discount")
               or (m.kind in ("duration", "count") and not src.grounding.grounded(m))]
    for m in figures:
        same_kind = [x for x in offer.mentions if x.kind == m.kind or {x.kind, m.kind} <= {"amount", "count"}]
        if same_kind and not any(_same(m, x) or _close_duration(m, x) for x in same_kind):
            return ("promise_figure", message("unauthorized_commitment.promise_figure", figure=m.text,
                                              offer=offer.text), offer.text)
    if not offer.whole and whole and offer.mentions:
        return ("promise_whole", message("unauthorized_commitment.promise_whole", offer=offer.text), offer.text)
    return None


_MONEY_GROUPS = frozenset({"refund", "discount", "compensation", "waiver", "penalty"})
_FRACTION = re.compile(r"一半|半数|半數|\bhalf\b|\d+(?:\.\d+)?\s*%|百分之|[一二三四五六七八九]成")


def _content(sentence: str, feats: frozenset[str]) -> set[str]:
    """What a promise sentence names beyond the promise words: its object ("maintenance next year")."""
    lex = promise_lexicon()
    low = sentence.lower()
    promise_words = set()
    for terms in lex.groups.values():
        for a, b in terms.spans(low):
            promise_words |= features(low[a:b])
    return {f for f in feats - promise_words if not f[0].isdigit()}


def _close_duration(a: Mention, b: Mention) -> bool:
    if a.kind != "duration" or b.kind != "duration":
        return False
    return abs(a.value[0] - b.value[0]) < 1e-6  # type: ignore[index]
