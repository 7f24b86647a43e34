"""The offline drafter: a message a project manager would send, composed from the scenario's own facts.

It needs no key and no network, is deterministic, and is the default when no model is configured. The message
is composed by its purpose, not filled into a form: the news first (the decline, the decision, the reset, the new
date), then the reason with its strongest evidence woven into sentences, the status, the options phrased by how
many there are and whether they combine, the boundaries, an acknowledgement that uses what the client said they
want or fear, and the next step. An email has a subject, paragraphs and a signature; an instant message is a few
short sentences with no labels, lists or signature block. The tone changes the sentences throughout.

``max_chars`` (or the channel's budget) is a hard limit: the drafter picks shorter sentences and drops the least
important optional facts, never a required element or a caveat attached to a date, and lists what it dropped.
When even that does not fit, it says so (:class:`~pmcomm_llm.core.errors.LengthLimitError`) instead of cutting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pmcomm_llm.core.draft import Alternative, DraftContent, PrincipleSentence
from pmcomm_llm.core.errors import LengthLimitError
from pmcomm_llm.core.scenario import Kind, Scenario
from pmcomm_llm.drafting.templates import OfflineTemplates, load_offline
from pmcomm_llm.drafting.wording import Wording
from pmcomm_llm.grounding.text import count_sentences

__all__ = ["OfflineDraft", "compose", "offline_content", "offline_draft"]

_ZH_DONE = r"完成|已|上线|上線|通过|通過|交付|结束|結束|完毕|完畢|就绪|就緒"
_ZH_TIME = r"(?:\d|[今明后後下本这這每]|周[一二三四五六日]|週[一二三四五六日]|星期)"
_RANGE = re.compile(r"(?<![\d-])\d{1,3}\s*(?:to|-|–|~|～|至|到)\s*\d{1,3}(?![\d-])")


@dataclass(slots=True)
class OfflineDraft:
    """The draft, and which optional facts were left out to meet the length limit (field paths)."""

    content: DraftContent
    dropped: list[str] = field(default_factory=list)
    guard: Any = None
    """The guard's report when composing already ran it (the client's words were echoed), so it is not run
    twice; None otherwise."""


@dataclass(slots=True)
class _Keep:
    """How much of each optional fact goes in; the reductions lower these one step at a time."""

    milestones: bool = True
    status: bool = True
    evidence: int = 3
    boundaries: int = 99
    concern: bool = True
    merge: int = 0
    """Chat only: 1 joins the offers into one sentence, 2 also joins a caveat to the news, 3 also joins the
    strongest evidence to the reason."""


@dataclass(frozen=True, slots=True)
class _Pass:
    """One attempt at the draft: its tone, whether to take the shortest sentences, and what it keeps."""

    tone: str
    shortest: bool
    keep: _Keep


# What is given up first when a draft is too long: (what, the field path it drops, how).
_REDUCTIONS: list[tuple[str, str]] = [
    ("milestones", "facts.milestones"),
    ("evidence:2", "facts.evidence[2:]"),
    ("status", "facts.done/facts.remaining"),
    ("evidence:1", "facts.evidence[1:]"),
    ("boundaries:1", "boundaries[1:]"),
    ("concern", "client_message"),
    ("evidence:0", "facts.evidence[0]"),
    ("boundaries:0", "boundaries[0]"),
]


class _Composer:
    def __init__(self, scenario: Scenario, limit: int, max_sentences: int | None, *,
                 echo_client: bool = True) -> None:
        assert scenario.language is not None
        self.s = scenario
        self.t: OfflineTemplates = load_offline(scenario.language)
        self.w = Wording(self.t, scenario)
        self.seed = scenario.content_hash()
        self.im = scenario.channel == "im"
        self.limit = limit
        self.max_sentences = max_sentences
        self.kind = scenario.kind.value
        self.caveats, self.evidence = self._split_evidence()
        self.concern = self.w.concern(scenario.client_message) if echo_client else None
        self.alternatives = [o for o in scenario.offers if o.type == "alternative"]
        self.remedies = [o for o in scenario.offers if o.type != "alternative"]
        self.values = self._values()  # the same for every pass: names, dates, the request
        # A chat message counts sentences too: it joins sentences before it drops a boundary, and it keeps the
        # client's own worry longest.
        self.reductions = _REDUCTIONS if not self.im else [
            ("evidence:1", "facts.evidence[1:]"), ("boundaries:1", "boundaries[1:]"),
            ("merge:1", ""), ("merge:2", ""), ("merge:3", ""), ("evidence:0", "facts.evidence[0]"),
            ("boundaries:0", "boundaries[0]"), ("concern", "client_message")]

    # -- facts ---------------------------------------------------------------------------------------------

    def _split_evidence(self) -> tuple[list[str], list[tuple[int, str]]]:
        """Caveats a delay's date rests on (kept, after the date) and the evidence, strongest first."""
        cues = [c.lower() for c in self.t.locale.get("caveat_cues", ())]
        caveats: list[str] = []
        rest: list[tuple[int, str]] = []
        for i, item in enumerate(self.s.facts.evidence):
            low = item.lower()
            dated = self.s.kind is Kind.delay_notice and bool(self.s.facts.dates)
            if dated and (_RANGE.search(item) or any(c in low for c in cues)):
                caveats.append(item)
            else:
                rest.append((i, item))
        rest.sort(key=lambda x: (not re.search(r"\d", x[1]), x[0]))  # figures are the strongest evidence
        return caveats, rest

    def _news_key(self) -> str:
        if self.s.kind is not Kind.delay_notice:
            return self.kind
        dates = self.s.facts.dates
        if "new_deadline" in dates:
            return "delay_new" if "original_deadline" in dates else "delay_new_only"
        return "delay_confirm"

    def _values(self) -> dict[str, str]:
        s, w, loc = self.s, self.w, self.t.locale
        v: dict[str, str] = {**w.project_forms(s.project), **w.client_forms(s.client.name)}
        v["client_name"] = s.client.name
        v["client_company"] = s.client.company or loc["your_side"]
        for key in ("original_deadline", "new_deadline", "confirm_by"):
            if key in s.facts.dates:
                v[key] = w.date(s.facts.dates[key])
        if s.facts.request:
            request = w.clause(s.facts.request)
            if w.zh:
                # the request quoted inside our quotes: its own quotes become the inner kind
                inner = request.replace("“", "‘").replace("”", "’") if "“" in loc["request_named"] else (
                    request.replace("「", "『").replace("」", "』"))
                v["request"] = loc["request_named"].format(request=inner)
            elif w.starts_with_verb(request):
                v["request"] = loc["request_verb"].format(request=w.lower_first(request, force=True))
            else:
                v["request"] = loc["request_noun"].format(request=w.lower_first(request))
        else:
            v["request"] = loc["request_unnamed"]
        return v

    # -- composition ---------------------------------------------------------------------------------------

    def build(self, tone: str, shortest: bool, keep: _Keep) -> tuple[DraftContent, int]:
        """One draft with these choices; returns it and (for a chat message) its sentence count."""
        p = _Pass(tone, shortest, keep)
        v = self.values
        principles: dict[str, str] = {}
        lead = self._lead(p, v, principles)
        why = self._why(p, principles)
        status = self._status(p)
        offer = self._offers(p, principles)
        ack = self._acknowledgement(p, v)
        principles["win_win"] = ack or lead[0]
        next_step = self._next_step(p)
        body, sentences = self._assemble(p, v, lead, why, status, offer, [x for x in (ack, next_step) if x])
        alternatives, remedies = self.alternatives, self.remedies
        content = DraftContent(
            subject=None if self.im else self._say(p, "subject", self.kind, **v),
            body=body,
            alternatives=[Alternative(offer_id=o.id, text=o.text) for o in alternatives or remedies],
            commitments=[o.text for o in remedies],
            next_step=self.s.facts.next_step or next_step,
            principles=[PrincipleSentence(principle=k, sentence=x) for k, x in principles.items()],  # type: ignore[arg-type]
        )
        return content, sentences

    def _say(self, p: _Pass, path: str, *keys: str, **values: str) -> str:
        """The slot's sentence for this pass: the seeded variant, or the one that comes out shortest."""
        t, w = self.t, self.w
        if p.shortest:
            return min((w.render(x, **values) for x in t.variants(path, *keys, self.s.channel, p.tone)), key=len)
        return w.render(t.pick(path, *keys, self.s.channel, p.tone, seed=self.seed), **values)

    def _lead(self, p: _Pass, v: dict[str, str], principles: dict[str, str]) -> list[str]:
        """The news, then any caveat the new date rests on."""
        w = self.w
        news = self._say(p, "news", self._news_key(), **v)
        if p.shortest and self.im and self.s.kind is Kind.decline_request:
            # only to fit: a chat decline may refer to the request instead of restating it
            news = min([news, *(w.render(x) for x in self.t.variants("news_brief", "im", p.tone))], key=len)
        principles["tone"] = news
        lead = [news]
        for caveat in self.caveats:
            text = self._say(p, "caveat", caveat=w.lower_first(w.clause(caveat)))
            lead.append(self._join(lead.pop(), text) if p.keep.merge >= 2 else text)
        return lead

    def _why(self, p: _Pass, principles: dict[str, str]) -> list[str]:
        """The reason, and the strongest evidence woven in after it."""
        w, reason_text = self.w, self.w.clause(self.s.facts.reason or "")
        reason = self._say(p, "reason", reason=w.lower_first(reason_text), Reason=reason_text)
        principles["transparency"] = reason
        why = [reason]
        wanted = min(p.keep.evidence, self._evidence_room(p.tone))
        if wanted and self.evidence:
            items = [w.clause(e) for _, e in self.evidence[:wanted]]
            labelled = w.labelled(items[0])
            # "期初数据校验：1,420 个差异" reads as "期初数据校验显示，1,420 个差异" on its own, with no lead-in of ours
            items = [w.unlabel(x) for x in items]
            if not labelled:  # after our lead-in "To give you the figures:", "The provider's…" reads "the provider's…"
                items[0] = w.lower_first(items[0])
            text = self._say(p, "evidence_plain" if labelled else "evidence", evidence=w.statements(items))
            # a chat message short of sentences keeps its strongest figure inside the reason's sentence
            why = [self._join(reason, text)] if p.keep.merge >= 3 else why + [text]
            if p.keep.merge >= 3:
                principles["transparency"] = why[0]
        return why

    def _status(self, p: _Pass) -> list[str]:
        """What is done and what remains, and the revised milestones (an email's, not a chat message's)."""
        f, w, t = self.s.facts, self.w, self.t
        out: list[str] = []
        if not self.im and p.keep.status and (f.done or f.remaining):
            # list items inside a sentence lose the capital only a line start gave them (names keep theirs)
            values = {}
            if f.done:
                values["done"] = ("，" if w.zh else "; ").join(w.lower_first(w.clause(x), force=True) for x in f.done)
                if w.zh and not all(re.search(_ZH_DONE, x) for x in f.done):
                    # deliverables, not sentences: "目前已完成需求规格说明书、数据模型设计"
                    values["done"] = self.t.locale["done_nouns"].format(done=w.nouns([w.clause(x) for x in f.done]))
            if f.remaining:
                values["remaining"] = w.nouns([w.lower_first(w.clause(x), force=True) for x in f.remaining])
            which = "both" if f.done and f.remaining else ("done" if f.done else "remaining")
            out.append(self._say(p, f"status.{which}", **values))
        if not self.im and p.keep.milestones and f.milestones and p.tone != "concise":
            items = [t.locale["milestone"].format(name=w.lower_first(w.clause(m.name), force=True),
                                                  date=w.date(m.date)) for m in f.milestones]
            sep = t.locale["clause_sep"] if any(c in m.name for m in f.milestones for c in "，,：:") else (
                t.locale["milestone_sep"])
            joined = sep.join(items) if w.zh else w.join(items, t.locale["and_word"])
            out.append(self._say(p, "milestones", milestones=joined))
        return out

    def _offers(self, p: _Pass, principles: dict[str, str]) -> list[str]:
        """The options by how many there are and whether they combine; remedies as what we will do; the
        boundaries as a sentence."""
        s, w, loc = self.s, self.w, self.t.locale
        alternatives, remedies = self.alternatives, self.remedies
        out: list[str] = []
        if alternatives:
            phrases = [w.verb_phrase(w.clause(o.text)) for o in alternatives]
            if len(phrases) == 1:
                text = self._say(p, "options.one", option=phrases[0])
            elif s.offers_combine:
                text = self._say(p, "options.plan", options=w.join(phrases, loc["and_word"]))
            else:
                counts = loc["counts"]
                count = counts[len(phrases)] if len(phrases) < len(counts) else str(len(phrases))
                text = self._say(p, "options.choice", options=w.enumerate(phrases, loc["or_word"]), count=count,
                                 Count=count[:1].upper() + count[1:])
            out.append(text)
            principles["alternatives"] = text
        if remedies:
            # Chinese states a remedy as written ("我们先协助准备…", "驻场支持从 2 周延长到 3 周"): no lead-in of ours
            joined = w.join([w.clause(o.text) if w.zh else w.verb_phrase(w.clause(o.text)) for o in remedies],
                            loc["and_word"])
            text = self._say(p, "remedies" if alternatives else "remedies_alone", remedies=joined)
            if out and p.keep.merge >= 1:
                text = self._join(out.pop(), text)
                principles["alternatives"] = text
            out.append(text)
            principles.setdefault("alternatives", text)
        if s.boundaries and p.keep.boundaries:
            items = [w.clause(b) for b in s.boundaries[:p.keep.boundaries]]
            items[0] = w.lower_first(items[0])  # after "For clarity on scope:", "Payments are…" reads "payments are…"
            text = self._say(p, "boundaries", boundaries=w.statements(items))
            out.append(text)
            principles["boundaries"] = text
        return out

    def _acknowledgement(self, p: _Pass, v: dict[str, str]) -> str:
        """What the client said they want or fear, acknowledged; else the kind's own acknowledgement (a chat
        message has it in its opening sentence already)."""
        concern = self.concern if p.keep.concern else None
        if concern:
            return self._say(p, f"acknowledge.{concern[0]}", concern=concern[1])
        if self.im:
            return ""
        return self._say(p, "acknowledge.default", self.kind, client_company=v["client_company"])

    def _next_step(self, p: _Pass) -> str:
        w, t, step_text = self.w, self.t, self.s.facts.next_step
        if not step_text:
            return self._say(p, "next_step_default")
        step, noun = w.next_step(w.clause(step_text))
        if w.zh and self.s.client.name in step:  # "把结果发给王经理" is written to 王经理: "发给您"
            step = step.replace(self.s.client.name, "您")
        path = "next_step_noun" if noun and t.has("next_step_noun") else "next_step"
        if w.zh and t.has("next_step_timed") and re.match(_ZH_TIME, step) and "在" not in step[:16]:
            path = "next_step_timed"  # "下一步，我们会在1月8日（周五）下午3点与…召开…": the sentence has a subject
        return self._say(p, path, next_step=step)

    def _assemble(self, p: _Pass, v: dict[str, str], lead: list[str], why: list[str], status: list[str],
                  offer: list[str], closing: list[str]) -> tuple[str, int]:
        """An email in paragraphs with a sign-off and signature; a chat message in at most three lines."""
        t, w, sep = self.t, self.w, self.t.locale["word_sep"]
        greeting = self._say(p, "greeting", **v)
        if self.im:
            ack, next_step = closing[:-1], closing[-1]
            middle = why + offer + ack
            body = "\n".join([greeting, sep.join(lead + middle), sep.join([next_step, self._say(p, "close")])])
            return body, sum(count_sentences(x) for x in lead + middle + [next_step])
        sender = self.s.sender
        role = t.pick("role_company_sep", seed=self.seed).join(x for x in (sender.role, sender.company) if x)
        signature = w.render(t.pick("signature", seed=self.seed), sender_name=sender.name,
                             sender_role_company=role).rstrip()
        paragraphs = [greeting] + [sep.join(x) for x in (lead, why, status, offer, closing) if x]
        return "\n\n".join(paragraphs) + "\n\n" + self._say(p, "close") + t.locale["close_gap"] + signature, 0

    def _evidence_room(self, tone: str) -> int:
        """How many pieces of evidence a message carries: a chat one, a concise email two, an email three."""
        return 1 if self.im else (2 if tone == "concise" else 3)

    def _join(self, first: str, second: str) -> str:
        """Two sentences as one: "…，给您添麻烦了；需要说明，…" / "…instead; we will also…"."""
        if first.endswith(("？", "?")):  # a question stays last: "…we will also X; which do you prefer?"
            first, second = second, first
        head = re.sub(r"[。.!！]+$", "", first)
        if self.w.zh:
            return f"{head}；{second}"
        tail = second if second.startswith("I ") else second[:1].lower() + second[1:]
        return f"{head}; {tail}"

    def fits(self, content: DraftContent, sentences: int) -> bool:
        if len(content.body) > self.limit:
            return False
        return not (self.im and self.max_sentences and sentences > self.max_sentences)

    def compose(self, tone: str) -> OfflineDraft:
        """The fullest draft that fits: the scenario's tone first, then shorter sentences, then the concise tone;
        optional facts are dropped one at a time in the order of :data:`_REDUCTIONS`."""
        attempts = [(tone, False), (tone, True)] + ([("concise", True)] if tone != "concise" else [])
        smallest = None
        for style, shortest in attempts:
            keep = _Keep()
            dropped: list[str] = []
            while True:
                content, sentences = self.build(style, shortest, keep)
                if self.fits(content, sentences):
                    return OfflineDraft(content, dropped + self._left_out(style, keep))
                step = next((r for r in self.reductions if self._applies(r[0], keep)), None)
                if step is None:
                    break
                self._apply(step[0], keep)
                if step[1]:
                    dropped.append(step[1])
            smallest = len(content.body) if smallest is None else min(smallest, len(content.body))
        raise LengthLimitError(
            f"the parts a {self.kind} {self.s.channel} must keep need {smallest} characters; this limit is "
            f"{self.limit}. Raise max_chars to at least {smallest}, or shorten the facts.",
            minimum=smallest or 0, item_id=self.s.id)

    def _left_out(self, tone: str, keep: _Keep) -> list[str]:
        """Facts the channel or tone leaves out whatever the length (an IM carries no status or milestones)."""
        f = self.s.facts
        out = []
        if (self.im or tone == "concise") and f.milestones and keep.milestones:
            out.append("facts.milestones")
        if self.im and (f.done or f.remaining) and keep.status:
            out.append("facts.done/facts.remaining")
        wanted = min(keep.evidence, self._evidence_room(tone))
        if len(self.evidence) > wanted and keep.evidence > wanted:
            out.append(f"facts.evidence[{wanted}:]")
        return out

    def _applies(self, step: str, keep: _Keep) -> bool:
        what, _, n = step.partition(":")
        f, s = self.s.facts, self.s
        if what == "milestones":
            return keep.milestones and bool(f.milestones) and not self.im
        if what == "status":
            return keep.status and bool(f.done or f.remaining) and not self.im
        if what == "evidence":
            return keep.evidence > int(n) and len(self.evidence) > int(n)
        if what == "boundaries":
            return keep.boundaries > int(n) and len(s.boundaries) > int(n)
        if what == "merge":
            if n == "3":
                return keep.merge < 3 and bool(self.evidence) and keep.evidence > 0
            return keep.merge < int(n) and (bool(self.caveats) if n == "2" else bool(s.offers))
        return keep.concern and self.concern is not None

    @staticmethod
    def _apply(step: str, keep: _Keep) -> None:
        what, _, n = step.partition(":")
        if what in ("evidence", "boundaries", "merge"):
            setattr(keep, what, int(n))
        else:
            setattr(keep, what, False)


def compose(scenario: Scenario, limit: int, max_sentences: int | None = None) -> OfflineDraft:
    """The offline draft of ``scenario`` within ``limit`` characters (and, for an IM, ``max_sentences``)."""
    composer = _Composer(scenario, limit, max_sentences)
    draft = composer.compose(scenario.tone)
    if "client_message" not in draft.dropped and composer.concern:
        # The client's words are untrusted: if echoing them trips the guard, acknowledge without them.
        from pmcomm_llm.grounding.guard import check_draft

        report = check_draft(draft.content, scenario)
        if report.passed:
            draft.guard = report
        else:
            draft = _Composer(scenario, limit, max_sentences, echo_client=False).compose(scenario.tone)
            draft.dropped.append("client_message")
    return draft


def offline_content(scenario: Scenario, prompts: Any) -> DraftContent:
    """The offline draft's content, within the scenario's ``max_chars`` or its channel's budget."""
    return offline_draft(scenario, prompts).content


def offline_draft(scenario: Scenario, prompts: Any) -> OfflineDraft:
    assert scenario.language is not None
    channel = prompts.catalogue.channels[scenario.channel]
    limit = scenario.max_chars or prompts.catalogue.max_chars(scenario.channel, scenario.language)
    return compose(scenario, limit, channel.max_sentences)
