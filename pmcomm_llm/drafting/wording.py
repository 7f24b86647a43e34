"""Fitting the scenario's own words into our sentences without changing what they say.

English needs the client's name the way an email uses it ("Dear Ms. Whitfield," / "Hi Karen,"), an article
before a common-noun project name, and an option that starts with a verb lowercased after "we can". Every
language needs one date format (ISO dates inside facts are rewritten to it: the same date, read one way) and,
in Chinese, a space where our sentence meets a Latin word. The client's own message is read for what they
want or fear, never for its figures.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pmcomm_llm.drafting.templates import OfflineTemplates

__all__ = ["Wording"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_DATE = re.compile(r"(?<!the )\b((?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day) (?=(?:" + "|".join(_MONTHS) + r") \d)")
_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)? (" + "|".join(_MONTHS) + r")(?: (\d{4}))?\b")
_LABELLED = re.compile(r"^([^：:，,。.;；\n]{2,40})[：:]\s*(\S.*)$", re.S)
_MONTH_DAY = re.compile(r"\b(" + "|".join(_MONTHS) + r") (\d{1,2})(?:st|nd|rd|th)?(?:, (\d{4}))?\b")
_ISO = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_OPEN, _SHUT = "\x1e", "\x1f"
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_END = re.compile(r"[\s。.！!；;，,：:]+$")
_FIGURE = re.compile(r"[0-9０-９]|[零一二两兩三四五六七八九十百千万萬亿億半]\s*(?:个|個|天|周|週|月|年|倍|成|%|百分)")
_LEADING_PHRASE = re.compile(r"^(?:at|on|by|from|after|before|in|during|once|when|until|for)\b[^,]{0,40},\s*",
                             re.I)
_FINITE = re.compile(r"(?<!\bthat )(?<!\bwhich )(?<!\bwho )(?<!\bthey )\b(?:will|would|can|could|shall|is|are|was|were)\b"
                     r"\s+\w+")
"""A main verb: the offer is a whole statement. Not one inside "…the 8 substations that can supply the data"."""
_DETERMINERS = {"a", "an", "the", "our", "your", "their", "its", "this", "that", "these", "those", "all", "both",
                "each", "every", "any", "some", "no", "one", "two", "three", "four", "five", "free", "up",
                "more", "extra", "additional", "further", "priority", "on-site", "onsite", "remote"}
_SENTENCE_STARTERS = {"the", "a", "an", "this", "that", "these", "those", "our", "its", "there", "it", "each",
                      "every", "all", "both", "no", "some", "one", "two", "three", "four", "five", "six", "seven",
                      "eight", "nine", "ten", "with", "without", "after", "before", "since", "because", "integrating",
                      "adding", "building", "moving", "download", "downloads", "forecast", "estimate", "remaining",
                      "about", "around", "over", "under", "only", "most", "many", "several", "nearly", "almost",
                      "roughly", "approximately", "more", "less", "fewer", "half", "none", "every", "each"}


class Wording:
    """The per-scenario word fitting for one language."""

    def __init__(self, t: OfflineTemplates, scenario: Any) -> None:
        self.t = t
        self.lang = t.language
        self.zh = self.lang != "en"
        loc = t.locale
        self.verbs = frozenset(loc.get("verbs", ()))
        self.pronouns = frozenset(loc.get("pronouns", ()))
        self.titles = frozenset(loc.get("titles", ()))
        text = scenario.public_text()
        # Words the scenario writes in lower case somewhere are common words; those capitalised mid-sentence
        # are names, which keep their capital.
        self._lower = {w for w in _WORD.findall(text) if w.islower()}
        # One date format per message; English follows the order the scenario itself writes ("14 May" in a
        # British brief, "May 14" in an American one), month first when it says nothing
        self.day_first = (not self.zh and "date_format_day_first" in loc
                          and len(_DAY_MONTH.findall(text)) > len(_MONTH_DAY.findall(text)))
        self._proper = {m.group(0) for m in re.finditer(r"(?<=[a-z,;] )[A-Z][a-z]+", text)}
        # and the names the scenario gives: its people, companies and project ("Riverton online permits")
        named = [scenario.project, scenario.client.name, scenario.client.company or "", scenario.sender.name,
                 scenario.sender.company or ""]
        self._proper |= {w for name in named for w in _WORD.findall(name) if w[:1].isupper()}

    # -- dates ---------------------------------------------------------------------------------------------

    def date(self, d: dt.date) -> str:
        form = self.t.locale["date_format_day_first" if self.day_first else "date_format"]
        return form.format(year=d.year, month=d.month, day=d.day, month_name=_MONTHS[d.month - 1])

    def dates_in(self, text: str) -> str:
        """ISO dates in a fact, written in the language's one date format ("Friday, January 15, 2027")."""
        def one(m: re.Match[str]) -> str:
            try:
                return self.date(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
            except ValueError:
                return m.group(0)
        out = _ISO.sub(one, text)
        if self.day_first:  # "May 14, 2027" → "14 May 2027"
            return _MONTH_DAY.sub(lambda m: f"{int(m.group(2))} {m.group(1)}" + (f" {m.group(3)}" if m.group(3) else ""),
                                  out)
        if not self.zh:
            # "29 April" / "6 April 2027" → "April 29" / "April 6, 2027": the one English order
            out = _DAY_MONTH.sub(lambda m: f"{m.group(2)} {int(m.group(1))}" + (f", {m.group(3)}" if m.group(3) else ""),
                                 out)
            # "Friday January 15, 2027" → "Friday, January 15, 2027" (but "the Friday January 15 call")
            return _WEEKDAY_DATE.sub(r"\1, ", out)
        # "在 2027-02-01 上架" spaced the ISO date from the Chinese around it; the Chinese date needs no space
        out = re.sub(f"(?<=[{_CJK}]) (?=\\d{{4}}年\\d{{1,2}}月\\d{{1,2}}日)", "", out)
        return re.sub(f"(?<=\\d年)(\\d{{1,2}}月\\d{{1,2}}日) (?=[{_CJK}])", r"\1", out)

    # -- English grammar -----------------------------------------------------------------------------------

    def lower_first(self, text: str, *, force: bool = False) -> str:
        """Lowercase a fact's first word when it is a common word that only a sentence start capitalised."""
        if self.zh:
            return text
        m = _WORD.match(text)
        if not m:
            return text
        word = m.group(0)
        if not (word[0].isupper() and (len(word) == 1 or word[1:].islower())) or word == "I" or word.startswith("I'"):
            return text
        low = word.lower()
        if word in self._proper:
            return text
        if force or low in _SENTENCE_STARTERS or low in self.verbs or low in self._lower:
            return low + text[len(word):]
        return text

    def first_word(self, text: str) -> str:
        m = re.match(r"[A-Za-z']+(?: will)?", text)
        return m.group(0).lower() if m else ""

    def starts_with_verb(self, text: str) -> bool:
        """"Build the pages…" does; "Export of all content…" (a noun before "of") does not."""
        words = text.split()
        return bool(words) and words[0].lower().strip(",") in self.verbs and (len(words) < 2 or words[1] != "of")

    def verb_phrase(self, text: str) -> str:
        """An offer as what follows "we can": "Build the pages…" → "build the pages…", "30 days of support" →
        "provide 30 days of support". In Chinese a leading 我们 goes: our sentence already says who."""
        if self.zh:
            return re.sub(r"^(?:我们|我們|我方)(?:会|會|将|將|可以)?", "", text) or text
        if self.starts_with_verb(text):
            return self.lower_first(text, force=True)
        lead = _LEADING_PHRASE.match(text)
        if lead and self.starts_with_verb(text[lead.end():]):
            return self.lower_first(text, force=True)  # "At go-live, show a link…" is already a verb phrase
        if _FINITE.search(text):  # "The 200 priority tapes will be delivered on time" is a whole statement
            return f"{self.t.locale['clause_verb']} {self.lower_first(text)}"
        noun = self.lower_first(text, force=True)
        head = re.split(r",|\b(?:of|for|to|on|in|at|with|by|from|until|during|before|after)\b", noun)[0].split()
        plural = bool(head) and head[-1].lower().endswith("s") and not head[-1].lower().endswith("ss")
        if self.first_word(noun) == "no":  # "No charge for baking" → "make sure there is no charge for baking"
            return f"{self.t.locale['clause_verb']} there is {noun}"
        first = self.first_word(noun)
        # "Full refund of the fee" → "provide a full refund of the fee"; "30 days of support", "weekly reports"
        # and names need no article
        if (noun[:1].islower() and first not in _DETERMINERS and not first.endswith("s") and not plural
                and not noun[:1].isdigit()):
            noun = ("an " if noun[:1] in "aeiou" else "a ") + noun
        return f"{self.t.locale['noun_verb']} {noun}"

    def next_step(self, text: str) -> tuple[str, bool]:
        """The next step fitted after "Next,"; the flag says it is a noun phrase (a meeting, not an action)."""
        if self.zh:
            return text, False
        first = self.first_word(text)
        if first in self.pronouns or first.split(" ")[0] in self.pronouns:
            return (text if text.startswith("I") else self.lower_first(text, force=True)), False
        if first.split(" ")[0] in {"if", "when", "once", "after", "before", "as", "on", "by", "until", "from"}:
            return self.lower_first(text, force=True), False  # "Next, if the option works for you, confirm …"
        if self.starts_with_verb(text):
            return "please " + self.lower_first(text, force=True), False
        return self.lower_first(text), True

    def client_forms(self, name: str) -> dict[str, str]:
        """``client_formal`` ("Ms. Whitfield", or the full name without a title) and ``client_first``."""
        if self.zh:
            return {"client_formal": name, "client_first": name}
        words = name.split()
        title = words[0] if words and words[0].rstrip(".").lower() in self.titles else None
        rest = words[1:] if title else words
        if not rest:
            return {"client_formal": name, "client_first": name}
        # With a title, "Dear Ms. Whitfield,"; without one we cannot guess it, and "Dear Karen," reads better
        # than a full name.
        formal = f"{title} {rest[-1]}" if title else rest[0]
        first = rest[0] if (not title or len(rest) > 1) else formal
        return {"client_formal": formal, "client_first": first}

    def project_forms(self, project: str) -> dict[str, str]:
        """``the_project`` / ``The_project``: "the Customer 360 data platform", but "Project Atlas"."""
        if self.zh:
            return {"project": project, "the_project": project, "The_project": project}
        words = _WORD.findall(project)
        small = {"of", "and", "for", "to", "in", "on", "at", "by", "with", "the", "a", "an"}
        head = re.split(r"\s[–—(-]|\(", project)[0].split()
        if project.lower().startswith("the "):
            the = project[0].lower() + project[1:]
        elif head and head[-1].lower() in self.t.locale.get("common_heads", ()):
            the = "the " + project  # "the Substation Monitoring Platform – Phase 2", but "Project Atlas"
        elif any(w.islower() and w not in small for w in words):
            tokens = project.split()
            # "Online appointment booking portal" was capitalised only to start the name; "Customer 360 data
            # platform" and "StrideFit app" carry a name in front
            sentence_case = (len(tokens) > 1 and tokens[0][:1].isupper() and tokens[0][1:].islower()
                             and tokens[1][:1].islower() and all(not t[:1].isupper() for t in tokens[1:]))
            the = "the " + (tokens[0].lower() + project[len(tokens[0]):] if sentence_case else project)
        else:
            the = project
        return {"project": project, "the_project": the, "The_project": the[0].upper() + the[1:]}

    # -- lists and sentences -------------------------------------------------------------------------------

    def clause(self, text: str) -> str:
        """A fact without its closing punctuation, its ISO dates in our format."""
        return self.dates_in(_END.sub("", text.strip()))

    def join(self, items: list[str], word: str) -> str:
        """"a, b and c" / "a、b和c"; items that hold commas themselves are set apart with semicolons."""
        if len(items) <= 1:
            return "".join(items)
        if self.zh:
            return self.t.locale["clause_sep"].join(items)
        if any("," in x for x in items):
            return "; ".join(items[:-1]) + f"; {word} " + items[-1] if len(items) > 2 else f"{items[0]}, {word} {items[1]}"
        return ", ".join(items[:-1]) + ("," if len(items) > 2 else "") + f" {word} " + items[-1]

    def labelled(self, item: str) -> bool:
        return _LABELLED.match(item) is not None and (not self.zh or len(_LABELLED.match(item).group(1)) <= 12)

    def unlabel(self, item: str) -> str:
        """"期初数据校验：1,420 个差异" → "期初数据校验显示，1,420 个差异" (Chinese); English keeps its label."""
        m = _LABELLED.match(item)
        if not m or not self.zh:
            return item
        loc = self.t.locale
        label = m.group(1).strip()
        joiner = loc["label_value_joiner"] if label.endswith(tuple(loc.get("label_value_ends", ()))) else (
            loc["label_joiner"])
        return f"{label}{joiner}{m.group(2)}"

    def statements(self, items: list[str]) -> str:
        """Whole statements (evidence, boundaries): "A；B" / "A. B" (each keeps its own capital)."""
        return ("；" if self.zh else ". ").join(items)

    def nouns(self, items: list[str]) -> str:
        """Items of a list (what is done, what remains): "A、B" / "A; B"."""
        return (self.t.locale["list_sep"] if self.zh else "; ").join(items)

    def enumerate(self, items: list[str], word: str) -> str:
        """Alternatives as a real choice: "一是A；二是B" / "build A, or add B"."""
        ordinals = self.t.locale.get("ordinals") or []
        if self.zh and ordinals:
            # "二是 2.0 按原计划…": a Latin word or a figure after our ordinal is spaced, as in the writer's text
            return self.t.locale["clause_sep"].join(
                f"{ordinals[i]}{' ' if re.match('[A-Za-z0-9]', x) else ''}{x}" for i, x in enumerate(items))
        return self.join(items, word)

    def render(self, template: str, **values: Any) -> str:
        """``template`` with ``values``; in Chinese, a space where our text meets a Latin word in a value."""
        if not self.zh:
            return template.format(**values)
        # after our own colon, a value's colons become commas: "方案：分阶段目标：…" reads as one label too many
        values = {k: v.replace("：", "，") if isinstance(v, str) and f"：{{{k}}}" in template else v
                  for k, v in values.items()}
        marked = {k: f"{_OPEN}{v}{_SHUT}" if isinstance(v, str) else v for k, v in values.items()}
        out = template.format(**marked)
        out = re.sub(f"(?<=[{_CJK}]){_OPEN}(?=[A-Za-z]|\\d+ )", " ", out)  # "确认 ERP", "在 5 月 21 日" (as you spaced it)
        out = re.sub(f"(?<=[A-Za-z0-9]){_SHUT}(?=[{_CJK}])", " ", out)  # "App 1.0 新增需求"
        return out.replace(_OPEN, "").replace(_SHUT, "")

    # -- the client's own words ----------------------------------------------------------------------------

    def concern(self, message: str | None) -> tuple[str, str] | None:
        """What ``client_message`` says the client wants or fears, as ("want" | "worry", clause), or None.

        The message is untrusted: a clause with a figure, a date or an instruction is never repeated."""
        if not message:
            return None
        cues: dict[str, list[str]] = self.t.tree.get("acknowledge", {}).get("cues", {})
        low = message.lower()
        found: list[tuple[int, str, str]] = []
        for category, words in cues.items():
            for word in words:
                for m in re.finditer(re.escape(word.lower()), low):
                    found.append((m.end(), category, word))
        for end, category, _ in sorted(found):
            stop = re.search(r"[，,。.！!？?；;：:\n]|\b(?:full stop|or else|otherwise)\b|不然|否则|否則", message[end:])
            clause = message[end:end + (stop.start() if stop else len(message) - end)].strip()
            if not self._repeatable(clause):
                continue
            return category, self._second_person(clause)
        return None

    def _repeatable(self, clause: str) -> bool:
        if _FIGURE.search(clause) or re.search(r"ignore|instruction|prompt|system|忽略|指令|提示", clause, re.I):
            return False
        # a pronoun whose noun stayed in the client's message ("tell them this is on track") reads as a riddle
        if re.search(r"\b(?:them|they|it|he|she|him|her)\b|他们|他們|她们|她們|它", clause, re.I):
            return False
        if self.zh:
            return 2 <= len(clause) <= 24
        words = clause.split()
        return 2 <= len(words) <= 12

    def _second_person(self, clause: str) -> str:
        if self.zh:
            return re.sub(r"我们|我們|咱们|咱們", "贵方" if self.lang == "zh-CN" else "貴方", clause).replace("我", "您")
        swaps = {"we": "you", "our": "your", "us": "you", "i": "you", "my": "your", "me": "you", "ours": "yours",
                 "we're": "you're", "i'm": "you're"}
        return re.sub(r"\b(?:we're|i'm|we|our|us|i|my|me|ours)\b",
                      lambda m: swaps[m.group(0).lower()], clause, flags=re.I)
