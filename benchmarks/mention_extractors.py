"""Which quantity extractor? Precision / recall / F1 on the labelled mention corpus, plus speed.

    .venv/bin/python benchmarks/mention_extractors.py [--split dev|holdout|both] [--json PATH]

Corpus: ``evals/corpus/mentions/{dev,holdout}.jsonl`` (types date, date_range, time, duration, money, percent,
discount, count; ~20 % hard-negative sentences with no mentions). Adapters were written and every choice in
them made while looking at dev only; holdout is scored with the same code, once.

Scoring. A prediction matches a gold mention when the character spans overlap, the type is equal and the
normalised value is equal (numbers with relative tolerance 1e-6). Each prediction matches at most one gold
mention. Normalisation: dates compare (year, month, day) with ``None == None`` (an adapter must leave the year
empty when the text states none); durations compare the amount (and ``max``) converted to seconds for
minute/hour/day/week, to months for month/year, and workdays as their own unit; money compares amount *and*
currency (a ``null`` predicted currency only equals a ``null`` gold one) — "money amt F1" repeats money
with the currency ignored, and "F1, currency ignored" is the overall F1 under that rule. A gold ``date_range`` matched by nothing is a miss; single ``date``
predictions that overlap it are then not counted as false positives, and each one equal to the range's start
or end earns 0.5 "range partial credit" (reported separately, never added to F1). "in-scope F1" restricts
gold and predictions to the types the adapter can express at all. Hard-negative FP = predictions in the
sentences whose gold list is empty (mentions / sentences hit).

Speed: every sentence of the split, one core (sched_setaffinity), warm (one untimed pass first), min of 3
passes; the memo of today's extractor is cleared before every pass. Import+init time is measured in a fresh
interpreter per candidate (import of the library plus its one-off set-up, e.g. Duckling's time-zone load).

Shared glue (``_number_context``), used by every adapter that reports bare numbers, so no candidate is helped
by private rules: a number followed by % / ％ / percent / per cent / percentage point(s) / 个百分点 is a
percent, and a discount when "off" or "discount" follows; a number followed by 折 is a discount (九 → 10 % off,
85 / 八五 → 15 % off); 成 → percent × 10; a number followed by a Chinese classifier (个, 名, 家, 台, …, not
after 第) or, in English, an integer followed by a lower-case noun (not a unit, not after "Phase", "Windows",
"Section" …) is a count. Anything else is dropped (Duckling) or kept as money of unknown currency (today's
extractor, as the brief maps every ``amount`` to money).

What each adapter can and cannot express
- ``today`` — the extractor before this comparison (pmcomm_llm/quantity.py at commit 7424985, read from git). Expresses date (year/month/day, month-only as day=None), percent,
  duration (units day/workday/week/month/year/hour; no minute — 半小时 is 0.5 hour, which normalises equal to
  30 minutes — and no ``max``: "3到5天" cannot be expressed) and amount. amount with a currency sign, currency
  word or scale word → money with currency null (the extractor does not return the currency); a bare amount
  → count when the shared glue says so, else money(null). Cannot express time (times are deliberately
  skipped), date_range, discount (except "N% off/discount" via the glue), counts below 10 or in Chinese
  numerals, currency.
- ``today+cn2an`` — the same extractor run on text whose Chinese numerals were first rewritten to Arabic digits
  by cn2an (``cn2an.cn2an(run, "smart")`` on each maximal run of numeral characters, not after 第/星期/周/週/
  礼拜/禮拜 so weekday and ordinal guards keep working); spans are mapped back to the original text. Tests
  what cn2an adds as a numeral normaliser in front of our regexes (一百五十万元, 二〇二七年, 四十二个…); it
  also turns 一起/十分 into digits, which is exactly what the hard negatives probe. Same limits as ``today``.
- ``duckling`` — pyduckling-native-phihos (Haskell Duckling), locales ZH_CN / ZH_TW / EN_US, reference time
  2026-12-01 00:00 Asia/Shanghai, dims time, duration, amount-of-money, number, ordinal, without latent
  parses. (There is no "numeral" or "percentage" dimension in Duckling; distance/quantity are not corpus
  types and are not requested.) Overlapping results: the longest span wins, ties by dim order time >
  amount-of-money > duration > ordinal > number, and for the very same span and dim Duckling's first parse.
  time: grain minute/hour → time when the matched text has a clock form (9:30, 3 p.m., 点/點, noon — the same
  rule as for dateparser; drops "now", "at one", "3.11"), plus a date when it carries a calendar anchor (月, /,
  a month name…); grain second ("now") → dropped; grain day → date; grain month → date with day null; week/year grain and anchor-less expressions
  (tomorrow, 下週一) → dropped (the corpus labels calendar dates only); intervals of days → date_range (end =
  Duckling's exclusive end − 1 grain), of hours/minutes → two times; "by X" (interval from the reference
  time) → date X. The year is kept only when the matched text states one. duration → duration (no workday,
  no max). amount-of-money → money (ISO units kept; "$" → USD only when the text has $ or "dollar", since
  Duckling reports 元 as "$"; interval amounts dropped). number → shared glue; ordinal → dropped.
- ``dateparser`` — dateparser.search.search_dates, languages zh / en, RELATIVE_BASE 2026-12-01, future
  preference. Dates and times only: each hit is a time when its text has a clock form (9:30, 3 p.m., 下午3点,
  noon…) and a date when it has a calendar anchor; both when both. The year is kept only when stated. Cannot
  express date_range, duration, money, percent, discount, count. search_dates returns no offsets: hits are
  located left to right with str.find.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "evals/corpus/mentions"
TYPES = ["date", "date_range", "time", "duration", "money", "percent", "discount", "count"]
LANGS = ["zh-CN", "zh-TW", "en"]
REF = dt.datetime(2026, 12, 1)


@dataclass(frozen=True)
class Pred:
    type: str
    start: int
    end: int
    value: dict


# ----------------------------------------------------------------------------------------------- shared glue

_CLASSIFIERS = set("个個名人位家项項次台批期节節份场場块塊条條张張款套轮輪间間件座席本页頁支颗顆把辆輛所栋棟层層门門章篇组組队隊类類种種处處笔筆箱")
_EN_STOP = {"of", "to", "and", "or", "a", "an", "the", "per", "percent", "am", "pm", "a.m", "p.m", "x", "by", "in",
            "on", "at", "is", "are", "was", "for", "from", "with", "minutes", "minute", "hours", "hour", "days", "day",
            "weeks", "week", "months", "month", "years", "year", "million", "thousand", "billion", "k", "m", "bn"}
_EN_LABEL_BEFORE = re.compile(r"(?:phase|step|section|point|page|option|version|model|annex|chapter|clause|item|"
                              r"release|no\.|#|iso|windows|python|kubernetes|mate|usb|level|tier|stage|room|floor)\s*$",
                              re.I)
_PCT_AFTER = re.compile(r"\s*(?:%|％|percent\b|per cent\b|percentage points?\b|个百分点|個百分點)(?P<off>\s*(?:off\b|discount\b))?",
                        re.I)


def _number_context(text: str, start: int, end: int, value: float, lang: str) -> Pred | None:
    """Type a bare number by what follows it (see module docstring). Same rules for every adapter."""
    m = _PCT_AFTER.match(text, end)
    if m:
        if m.group("off"):
            return Pred("discount", start, m.end(), {"percent_off": value})
        return Pred("percent", start, m.end(), {"amount": value})
    rest = text[end:end + 3].lstrip()
    if rest.startswith("折"):
        off = 100 - value * 10 if value < 10 else 100 - value
        return Pred("discount", start, end + 1, {"percent_off": off})
    if rest.startswith("成") and lang != "en" and value <= 10:
        return Pred("percent", start, end + 1, {"amount": value * 10})
    if value != int(value) or value <= 0:
        return None
    before = text[max(0, start - 12):start]
    if lang != "en":
        if rest[:1] in _CLASSIFIERS and not before.rstrip().endswith("第"):
            return Pred("count", start, end, {"amount": value})
        return None
    if _EN_LABEL_BEFORE.search(before) or re.search(r"[A-Za-z]\s*$", before) and re.search(r"[A-Z][\w-]*\s*$", before):
        return None
    nxt = re.match(r"\s+([A-Za-z][A-Za-z-]*)", text[end:])
    if nxt and (nxt.group(1) == "of" or (nxt.group(1).islower() and nxt.group(1) not in _EN_STOP)
                or nxt.group(1).isupper() and len(nxt.group(1)) > 1):
        return Pred("count", start, end, {"amount": value})
    return None


_MONTH_NAME = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_ANCHOR = re.compile(rf"月|\d{{1,2}}\s*/\s*\d{{1,2}}|\d{{4}}\s*-\s*\d{{1,2}}|\b{_MONTH_NAME}", re.I)
_EXPLICIT_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)|民國|民国|[〇零一二三四五六七八九]{4}\s*年")
_CLOCK = re.compile(r"\d{1,2}\s*[:：]\s*\d{2}|\d\s*(?:a\.?m\b\.?|p\.?m\b\.?)|\bnoon\b|\bmidnight\b|[点點时時]|中午|凌晨",
                    re.I)


def _date_value(d: dt.datetime, s: str, grain: str = "day") -> dict:
    return {"year": d.year if _EXPLICIT_YEAR.search(s) else None, "month": d.month,
            "day": d.day if grain == "day" else None}


# ---------------------------------------------------------------------------------------------------- adapters

class Adapter:
    name = ""
    types: frozenset[str] = frozenset()
    init_code = ""  # run in a fresh interpreter to time import + init

    def extract(self, text: str, lang: str) -> list[Pred]:
        raise NotImplementedError

    def reset(self) -> None:
        """Drop memos before a timed pass."""


_AMOUNT_UNIT = re.compile(r"[¥￥$€£元块塊万萬亿億千]|(?:US|NT|HK|RMB|CNY|USD|EUR|TWD|NTD|HKD|dollar|yuan|euro|"
                          r"thousand|million|billion|mn|bn)|\d\s*[kKmMbB]\b", re.I)


BASELINE_COMMIT = "7424985"
"""The extractor as it was before the claim-level grounding (pmcomm_llm/quantity.py), read from git history so
the comparison stays reproducible after that module was replaced."""


def _baseline_module() -> Any:
    import subprocess
    import types

    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE_COMMIT}:pmcomm_llm/quantity.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("pmcomm_baseline_quantity")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, "pmcomm_llm/quantity.py@" + BASELINE_COMMIT, "exec"), module.__dict__)
    return module


def _duration_or_amount(m, s: int, e: int, text: str, lang: str, currency: str | None) -> Pred:
    """A pmcomm Mention of kind duration or amount as a corpus prediction (both extractors share this)."""
    if m.kind == "duration":
        _days, count, unit = m.value
        return Pred("duration", s, e, {"amount": count, "unit": "workday" if unit == "bday" else unit, "max": None})
    if not _AMOUNT_UNIT.search(m.text):
        typed = _number_context(text, s, e, float(m.value), lang)
        if typed is not None:
            return typed
    return Pred("money", s, e, {"amount": m.value, "currency": currency})


class Today(Adapter):
    name = "today"
    types = frozenset({"date", "duration", "money", "percent", "count", "discount"})
    init_code = ("import subprocess, sys, types; m = types.ModuleType('q'); sys.modules['q'] = m; exec(subprocess.run(['git', 'show', "
                 "'7424985:pmcomm_llm/quantity.py'], capture_output=True, text=True).stdout, m.__dict__); "
                 "m.extract('2027年1月20日 115万元 30%')")

    def __init__(self) -> None:
        self._q = _baseline_module()

    def reset(self) -> None:
        self._q._extract.cache_clear()

    def _raw(self, text: str):
        return self._q.extract(text)

    def extract(self, text: str, lang: str) -> list[Pred]:
        return self._map(self._raw(text), text, lang)

    def _map(self, mentions, text: str, lang: str, spans: Callable[[int, int], tuple[int, int]] | None = None
             ) -> list[Pred]:
        out: list[Pred] = []
        for m in mentions:
            s, e = spans(m.start, m.end) if spans else (m.start, m.end)
            if m.kind == "date":
                y, mo, d = m.value
                out.append(Pred("date", s, e, {"year": y, "month": mo, "day": d}))
            elif m.kind == "percent":
                after = re.match(r"\s*(?:off\b|discount\b)", text[e:], re.I)
                out.append(Pred("discount", s, e + after.end(), {"percent_off": m.value}) if after
                           else Pred("percent", s, e, {"amount": m.value}))
            elif m.kind in ("duration", "amount"):
                out.append(_duration_or_amount(m, s, e, text, lang, currency=None))
        return out


_CN_RUN = re.compile(r"[零〇一二两兩三四五六七八九十百千万萬亿億壹贰貳叁參肆伍陆陸柒捌玖拾佰仟]+")
_CN_SKIP_BEFORE = ("第", "星期", "周", "週", "礼拜", "禮拜")


class TodayCn2an(Today):
    name = "today+cn2an"
    init_code = ("import cn2an; cn2an.cn2an('一百五十万', 'smart'); "
                 "import subprocess, sys, types; m = types.ModuleType('q'); sys.modules['q'] = m; exec(subprocess.run(['git', 'show', "
                 "'7424985:pmcomm_llm/quantity.py'], capture_output=True, text=True).stdout, m.__dict__); "
                 "m.extract('2027年1月20日 115万元 30%')")

    def __init__(self) -> None:
        super().__init__()
        import cn2an
        self._cn2an = cn2an.cn2an

    def _normalise(self, text: str) -> tuple[str, list[int], list[int]]:
        pieces: list[str] = []
        starts: list[int] = []  # original start of each new character
        ends: list[int] = []  # original end of each new character
        pos = 0
        for m in _CN_RUN.finditer(text):
            if text[max(0, m.start() - 2):m.start()].endswith(_CN_SKIP_BEFORE):
                continue
            try:
                v = self._cn2an(m.group(0), "smart")
            except Exception:  # noqa: BLE001 - cn2an raises ValueError and others for non-numerals
                continue
            rep = str(int(v)) if float(v) == int(v) else str(v)
            for i in range(pos, m.start()):
                pieces.append(text[i]); starts.append(i); ends.append(i + 1)
            for ch in rep:
                pieces.append(ch); starts.append(m.start()); ends.append(m.end())
            pos = m.end()
        for i in range(pos, len(text)):
            pieces.append(text[i]); starts.append(i); ends.append(i + 1)
        return "".join(pieces), starts, ends

    def extract(self, text: str, lang: str) -> list[Pred]:
        if lang == "en":
            return super().extract(text, lang)
        new, starts, ends = self._normalise(text)
        if new == text:
            return super().extract(text, lang)
        preds = self._map(self._raw(new), new, lang)
        return [Pred(p.type, starts[p.start], ends[max(p.start, p.end - 1)], p.value) for p in preds]


_DUCK_DIM_ORDER = {"time": 0, "amount-of-money": 1, "duration": 2, "ordinal": 3, "number": 4}
_DUCK_CUR = {"USD": "USD", "EUR": "EUR", "GBP": "GBP", "HKD": "HKD", "TWD": "TWD", "NTD": "TWD", "CNY": "CNY",
             "RMB": "CNY"}
_DUCK_DUR = {"second": ("minute", 1 / 60), "minute": ("minute", 1), "hour": ("hour", 1), "day": ("day", 1),
             "week": ("week", 1), "month": ("month", 1), "quarter": ("month", 3), "year": ("year", 1)}
_GRAIN_DELTA = {"day": dt.timedelta(days=1), "hour": dt.timedelta(hours=1), "minute": dt.timedelta(minutes=1)}


def _iso(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s[:19])


class Duckling(Adapter):
    name = "duckling"
    types = frozenset({"date", "date_range", "time", "duration", "money", "percent", "discount", "count"})
    init_code = ("import duckling, datetime as dt; tz = duckling.load_time_zones('/usr/share/zoneinfo'); "
                 "ref = duckling.parse_ref_time(tz, 'Asia/Shanghai', 1795968000); "
                 "l = duckling.parse_lang('ZH'); c = duckling.Context(ref, duckling.parse_locale('ZH_CN', "
                 "duckling.default_locale_lang(l))); d = duckling.parse_dimensions(['time','duration',"
                 "'amount-of-money','number','ordinal']); duckling.parse('4月8日', c, d, False)")

    def __init__(self) -> None:
        import duckling
        self._d = duckling
        tz = duckling.load_time_zones("/usr/share/zoneinfo")
        ts = int(REF.replace(tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
        self._ref = duckling.parse_ref_time(tz, "Asia/Shanghai", ts)
        self._ref_naive = REF
        zh, en = duckling.parse_lang("ZH"), duckling.parse_lang("EN")
        self._ctx = {
            "zh-CN": duckling.Context(self._ref, duckling.parse_locale("ZH_CN", duckling.default_locale_lang(zh))),
            "zh-TW": duckling.Context(self._ref, duckling.parse_locale("ZH_TW", duckling.default_locale_lang(zh))),
            "en": duckling.Context(self._ref, duckling.parse_locale("EN_US", duckling.default_locale_lang(en))),
        }
        self._dims = duckling.parse_dimensions(["time", "duration", "amount-of-money", "number", "ordinal"])

    @staticmethod
    def _body(text: str, r: dict) -> str:
        # start/end are character offsets; body is latin-1-mangled UTF-8 for non-ASCII text
        sl = text[r["start"]:r["end"]]
        if sl:
            return sl
        try:
            return r["body"].encode("latin-1").decode()
        except (UnicodeEncodeError, UnicodeDecodeError):
            return r["body"]

    def raw(self, text: str, lang: str) -> list[dict]:
        return self._d.parse(text, self._ctx[lang], self._dims, False)

    def extract(self, text: str, lang: str) -> list[Pred]:
        results = self.raw(text, lang)
        order = sorted(range(len(results)), key=lambda i: (-(results[i]["end"] - results[i]["start"]),
                                                          _DUCK_DIM_ORDER.get(results[i]["dim"], 9), i))
        kept: list[dict] = []
        for i in order:
            r = results[i]
            if all(r["end"] <= k["start"] or r["start"] >= k["end"] for k in kept):
                kept.append(r)
        kept.sort(key=lambda r: r["start"])
        out: list[Pred] = []
        for r in kept:
            out.extend(self._map(text, r, lang))
        return out

    def _map(self, text: str, r: dict, lang: str) -> list[Pred]:
        s, e, dim, v = r["start"], r["end"], r["dim"], r["value"]
        body = self._body(text, r)
        if dim == "time":
            return self._time(s, e, body, v)
        if dim == "duration":
            unit = _DUCK_DUR.get(v.get("unit"))
            if unit is None:
                return []
            return [Pred("duration", s, e, {"amount": v["value"] * unit[1], "unit": unit[0], "max": None})]
        if dim == "amount-of-money":
            if v.get("type") != "value":
                return []
            unit = v.get("unit")
            cur = _DUCK_CUR.get(unit)
            if unit == "$" and ("$" in body or "dollar" in body.lower()):
                cur = "USD"
            return [Pred("money", s, e, {"amount": v["value"], "currency": cur})]
        if dim == "number":
            if v.get("type") != "value":
                return []
            p = _number_context(text, s, e, float(v["value"]), lang)
            return [p] if p else []
        return []

    def _time(self, s: int, e: int, body: str, v: dict) -> list[Pred]:
        anchor = _ANCHOR.search(body) is not None
        clock = _CLOCK.search(body) is not None
        if v.get("type") == "value":
            d, grain = _iso(v["value"]), v["grain"]
            if grain in ("hour", "minute"):
                out = [Pred("time", s, e, {"hour": d.hour, "minute": d.minute})] if clock else []
                if anchor:
                    out.append(Pred("date", s, e, _date_value(d, body)))
                return out
            if grain in ("day", "month") and anchor:
                return [Pred("date", s, e, _date_value(d, body, grain))]
            return []
        if v.get("type") != "interval":
            return []
        fr, to = v.get("from"), v.get("to")
        if fr and to and _iso(fr["value"]) == self._ref_naive and fr["grain"] == "second":
            fr = None  # "by X": an interval from now
        if fr and to:
            a, grain = _iso(fr["value"]), fr["grain"]
            b = _iso(to["value"]) - _GRAIN_DELTA.get(to["grain"], dt.timedelta(0))
            if grain == "day" and anchor:
                return [Pred("date_range", s, e, {"start": _date_value(a, body), "end": _date_value(b, body)})]
            if grain in ("hour", "minute"):
                out = [Pred("time", s, e, {"hour": a.hour, "minute": a.minute}),
                       Pred("time", s, e, {"hour": b.hour, "minute": b.minute})] if clock else []
                if anchor:
                    out.append(Pred("date", s, e, _date_value(a, body)))
                return out
            return []
        one = to or fr
        if one and anchor:
            return [Pred("date", s, e, _date_value(_iso(one["value"]), body))]
        return []


class DateParser(Adapter):
    name = "dateparser"
    types = frozenset({"date", "time"})
    init_code = ("from dateparser.search import search_dates; import datetime as dt; "
                 "search_dates('4月8日上午9:30', languages=['zh'], settings={'RELATIVE_BASE': dt.datetime(2026,12,1)}); "
                 "search_dates('on June 30 at 9 a.m.', languages=['en'], settings={'RELATIVE_BASE': dt.datetime(2026,12,1)})")

    def __init__(self) -> None:
        from dateparser.search import search_dates
        self._search = search_dates
        self._settings = {"RELATIVE_BASE": REF, "PREFER_DATES_FROM": "future"}

    def extract(self, text: str, lang: str) -> list[Pred]:
        hits = self._search(text, languages=["en" if lang == "en" else "zh"], settings=self._settings) or []
        out: list[Pred] = []
        cursor = 0
        for sub, d in hits:
            s = text.find(sub, cursor)
            if s < 0:
                s = text.find(sub)
                if s < 0:
                    continue
            e = s + len(sub)
            cursor = e
            if _CLOCK.search(sub):
                out.append(Pred("time", s, e, {"hour": d.hour, "minute": d.minute}))
            if _ANCHOR.search(sub):
                has_day = bool(re.search(r"[日号號]|\d\s*/\s*\d|\d{4}\s*-\s*\d|\d(?:st|nd|rd|th)?\s+" + _MONTH_NAME
                                         + r"|" + _MONTH_NAME + r"\s+\d", sub, re.I))
                out.append(Pred("date", s, e, _date_value(d, sub, "day" if has_day else "month")))
        return out


class Pmcomm(Adapter):
    """The extractor the guard uses now (pmcomm_llm.grounding.quantities): native times, ranges (as two dates),
    counts, discounts, currencies and Chinese numerals; no shared typing rule needed."""

    name = "pmcomm"
    types = frozenset({"date", "time", "duration", "money", "percent", "count", "discount"})
    init_code = "from pmcomm_llm.grounding.quantities import extract; extract('2027年1月20日 115万元 30%')"

    def __init__(self) -> None:
        from pmcomm_llm.grounding import quantities
        self._q = quantities

    def reset(self) -> None:
        self._q._extract.cache_clear()

    def extract(self, text: str, lang: str) -> list[Pred]:
        out: list[Pred] = []
        for m in self._q.extract(text):
            s, e = m.start, m.end
            if m.kind == "date":
                y, mo, d = m.value
                out.append(Pred("date", s, e, {"year": y, "month": mo, "day": d}))
            elif m.kind == "time":
                out.append(Pred("time", s, e, {"hour": m.value[0], "minute": m.value[1]}))
            elif m.kind == "percent":
                out.append(Pred("percent", s, e, {"amount": m.value}))
            elif m.kind == "discount":
                out.append(Pred("discount", s, e, {"percent_off": m.value}))
            elif m.kind == "count":
                out.append(Pred("count", s, e, {"amount": m.value}))
            elif m.kind in ("duration", "amount"):
                out.append(_duration_or_amount(m, s, e, text, lang, currency=m.unit))
        return out


ADAPTERS: dict[str, type[Adapter]] = {"pmcomm": Pmcomm, "today": Today, "today+cn2an": TodayCn2an, "duckling": Duckling,
                                      "dateparser": DateParser}


# ------------------------------------------------------------------------------------------------------ scoring

_DUR_NORM = {"minute": ("s", 60), "hour": ("s", 3600), "day": ("s", 86400), "week": ("s", 604800),
             "month": ("mo", 1), "year": ("mo", 12), "workday": ("wd", 1)}


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)


def _date_eq(a: dict, b: dict) -> bool:
    return all((a.get(k) is None and b.get(k) is None) or (a.get(k) is not None and b.get(k) is not None
               and int(a[k]) == int(b[k])) for k in ("year", "month", "day"))


def value_equal(t: str, gold: dict, pred: dict, ignore_currency: bool = False) -> bool:
    try:
        if t == "date":
            return _date_eq(gold, pred)
        if t == "date_range":
            return _date_eq(gold["start"], pred["start"]) and _date_eq(gold["end"], pred["end"])
        if t == "time":
            return int(gold["hour"]) == int(pred["hour"]) and int(gold["minute"]) == int(pred["minute"])
        if t == "duration":
            (fg, kg), (fp, kp) = _DUR_NORM[gold["unit"]], _DUR_NORM[pred["unit"]]
            if fg != fp:
                return False
            gmax = gold.get("max") * kg if gold.get("max") is not None else None
            pmax = pred.get("max") * kp if pred.get("max") is not None else None
            return _close(gold["amount"] * kg, pred["amount"] * kp) and _close(gmax, pmax)
        if t == "money":
            return _close(gold["amount"], pred["amount"]) and (ignore_currency or gold["currency"] == pred["currency"])
        if t == "percent" or t == "count":
            return _close(gold["amount"], pred["amount"])
        if t == "discount":
            return _close(gold["percent_off"], pred["percent_off"])
    except (KeyError, TypeError, ValueError):
        return False
    return False


def _span(text: str, gold: dict, used: set[int]) -> tuple[int, int]:
    start = 0
    while True:
        i = text.find(gold["text"], start)
        if i < 0:
            i = text.find(gold["text"])
            return i, i + len(gold["text"])
        if i not in used:
            used.add(i)
            return i, i + len(gold["text"])
        start = i + 1


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class Tally:
    def __init__(self) -> None:
        self.tp: Counter = Counter()
        self.fp: Counter = Counter()
        self.fn: Counter = Counter()
        self.lang_tp: Counter = Counter()
        self.lang_fp: Counter = Counter()
        self.lang_fn: Counter = Counter()
        self.scope = Counter()  # tp/fp/fn restricted to the adapter's expressible types
        self.range_credit = 0.0
        self.ranges = 0
        self.neg_fp = 0
        self.neg_sent_hit = 0
        self.neg_sents = 0
        self.money_amt = Counter()
        self.miss_reason: Counter = Counter()  # (gold type, reason)
        self.miss_examples: dict[tuple[str, str], list[str]] = defaultdict(list)


def score(rows: list[dict], preds: list[list[Pred]], types: frozenset[str], ignore_currency: bool = False) -> Tally:
    t = Tally()
    for row, ps in zip(rows, preds):
        text, lang = row["text"], row["language"]
        used: set[int] = set()
        golds = [(g, _span(text, g, used)) for g in row["mentions"]]
        if not golds:
            t.neg_sents += 1
            t.neg_fp += len(ps)
            t.neg_sent_hit += bool(ps)
        matched_p: set[int] = set()
        unmatched_g = []
        for g, gs in golds:
            hit = next((i for i, p in enumerate(ps) if i not in matched_p and p.type == g["type"]
                        and _overlap(gs, (p.start, p.end)) and value_equal(g["type"], g["value"], p.value, ignore_currency)), None)
            if hit is None:
                unmatched_g.append((g, gs))
            else:
                matched_p.add(hit)
                t.tp[g["type"]] += 1
                t.lang_tp[lang] += 1
        absorbed: set[int] = set()
        for g, gs in unmatched_g:
            t.fn[g["type"]] += 1
            t.lang_fn[lang] += 1
            over = [i for i, p in enumerate(ps) if i not in matched_p and _overlap(gs, (p.start, p.end))]
            if g["type"] == "date_range":
                t.ranges += 1
                inside = [i for i in over if ps[i].type == "date"]
                absorbed.update(inside)
                for end in ("start", "end"):
                    if any(_date_eq(g["value"][end], ps[i].value) for i in inside):
                        t.range_credit += 0.5
            if any(ps[i].type == g["type"] for i in over):
                reason = "wrong value"
            elif over:
                reason = "wrong type (" + "/".join(sorted({ps[i].type for i in over})) + ")"
            else:
                reason = "not found"
            key = (g["type"], reason)
            t.miss_reason[key] += 1
            if len(t.miss_examples[key]) < 4:
                t.miss_examples[key].append(g["text"])
        for g, gs in golds:
            if g["type"] == "date_range" and all(g is not ug for ug, _ in unmatched_g):
                t.ranges += 1
                t.range_credit += 1.0
        for i, p in enumerate(ps):
            if i not in matched_p and i not in absorbed:
                t.fp[p.type] += 1
                t.lang_fp[lang] += 1
        # in-scope counts
        for g, gs in golds:
            if g["type"] in types:
                ok = any(i in matched_p and ps[i].type == g["type"] and _overlap(gs, (ps[i].start, ps[i].end))
                         for i in range(len(ps)))
                t.scope["tp" if ok else "fn"] += 1
        t.scope["fp"] += sum(1 for i, p in enumerate(ps) if i not in matched_p and i not in absorbed)
        # money with the currency ignored
        mp = [i for i, p in enumerate(ps) if p.type == "money"]
        taken: set[int] = set()
        for g, gs in golds:
            if g["type"] != "money":
                continue
            hit = next((i for i in mp if i not in taken and _overlap(gs, (ps[i].start, ps[i].end))
                        and value_equal("money", g["value"], ps[i].value, ignore_currency=True)), None)
            if hit is None:
                t.money_amt["fn"] += 1
            else:
                taken.add(hit)
                t.money_amt["tp"] += 1
        t.money_amt["fp"] += len(mp) - len(taken)
    return t


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


# ------------------------------------------------------------------------------------------------------- timing

def _pin_one_core() -> None:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass


def time_passes(adapter: Adapter, rows: list[dict], passes: int = 3) -> float:
    """Seconds for one pass over ``rows``, warm, min of ``passes``."""
    for r in rows:
        adapter.extract(r["text"], r["language"])
    best = math.inf
    for _ in range(passes):
        adapter.reset()
        start = time.perf_counter()
        for r in rows:
            adapter.extract(r["text"], r["language"])
        best = min(best, time.perf_counter() - start)
    return best


def init_time(name: str) -> float:
    code = f"import time; _t = time.perf_counter(); {ADAPTERS[name].init_code}; print(time.perf_counter() - _t)"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = [subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, env=env,
                          cwd=ROOT, check=True) for _ in range(2)]
    return min(float(r.stdout.strip().splitlines()[-1]) for r in res)  # second run has a warm page cache


# ------------------------------------------------------------------------------------------------------ reports

def load(split: str) -> list[dict]:
    with open(CORPUS / f"{split}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def evaluate_split(split: str, adapters: dict[str, Adapter], inits: dict[str, float]) -> dict:
    rows = load(split)
    out: dict = {"split": split, "sentences": len(rows),
                 "gold": dict(Counter(m["type"] for r in rows for m in r["mentions"])), "candidates": {}}
    for name, ad in adapters.items():
        ad.reset()
        preds = [ad.extract(r["text"], r["language"]) for r in rows]
        t = score(rows, preds, ad.types)
        t_amt = score(rows, preds, ad.types, ignore_currency=True)
        secs = time_passes(ad, rows)
        tp, fp, fn = sum(t.tp.values()), sum(t.fp.values()), sum(t.fn.values())
        p, r, f = prf(tp, fp, fn)
        c = {
            "precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn,
            "f1_currency_ignored": prf(sum(t_amt.tp.values()), sum(t_amt.fp.values()), sum(t_amt.fn.values()))[2],
            "in_scope_f1": prf(t.scope["tp"], t.scope["fp"], t.scope["fn"])[2], "types": sorted(ad.types),
            "range_partial_credit": t.range_credit / t.ranges if t.ranges else None,
            "money_amount_only_f1": prf(t.money_amt["tp"], t.money_amt["fp"], t.money_amt["fn"])[2],
            "hard_negative_fp": t.neg_fp, "hard_negative_sentences_hit": t.neg_sent_hit,
            "hard_negative_sentences": t.neg_sents,
            "sentences_per_s": len(rows) / secs, "us_per_sentence": secs / len(rows) * 1e6,
            "import_init_s": inits.get(name),
            "per_type": {ty: dict(zip(("precision", "recall", "f1"), prf(t.tp[ty], t.fp[ty], t.fn[ty])),
                                  tp=t.tp[ty], fp=t.fp[ty], fn=t.fn[ty]) for ty in TYPES},
            "per_language": {lg: dict(zip(("precision", "recall", "f1"),
                                          prf(t.lang_tp[lg], t.lang_fp[lg], t.lang_fn[lg]))) for lg in LANGS},
            "misses": [{"type": k[0], "reason": k[1], "n": n, "examples": t.miss_examples[k]}
                       for k, n in t.miss_reason.most_common()],
        }
        out["candidates"][name] = c
    return out


def markdown(res: dict) -> str:
    names = list(res["candidates"])
    cs = res["candidates"]
    lines = [f"### Split: {res['split']} ({res['sentences']} sentences; gold "
             + ", ".join(f"{t} {res['gold'].get(t, 0)}" for t in TYPES) + ")", "",
             "| candidate | P | R | F1 | F1, currency ignored | in-scope F1 | money amt F1 | range partial | hard-neg FP (ment./sent.) "
             "| sent/s | µs/sent | import+init s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        c = cs[n]
        rp = "—" if c["range_partial_credit"] is None else f"{c['range_partial_credit']:.2f}"
        ii = "—" if c["import_init_s"] is None else f"{c['import_init_s']:.2f}"
        lines.append(f"| {n} | {c['precision']:.3f} | {c['recall']:.3f} | **{c['f1']:.3f}** | {c['f1_currency_ignored']:.3f} | {c['in_scope_f1']:.3f} "
                     f"| {c['money_amount_only_f1']:.3f} | {rp} | {c['hard_negative_fp']} / "
                     f"{c['hard_negative_sentences_hit']} of {c['hard_negative_sentences']} "
                     f"| {c['sentences_per_s']:,.0f} | {c['us_per_sentence']:,.0f} | {ii} |")
    lines += ["", "F1 per type (P/R):", "", "| type | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for ty in TYPES:
        cells = []
        for n in names:
            d = cs[n]["per_type"][ty]
            cells.append("—" if d["tp"] + d["fp"] == 0 and ty not in cs[n]["types"]
                         else f"{d['f1']:.2f} ({d['precision']:.2f}/{d['recall']:.2f})")
        lines.append(f"| {ty} | " + " | ".join(cells) + " |")
    lines += ["", "F1 per language (P/R):", "", "| language | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for lg in LANGS:
        lines.append(f"| {lg} | " + " | ".join(f"{cs[n]['per_language'][lg]['f1']:.2f} "
                                               f"({cs[n]['per_language'][lg]['precision']:.2f}/"
                                               f"{cs[n]['per_language'][lg]['recall']:.2f})" for n in names) + " |")
    misses = cs.get("today", {}).get("misses", [])[:8]
    if misses:
        lines += ["", "Most frequent misses of `today`:", ""]
        for m in misses:
            lines.append(f"- {m['type']} — {m['reason']}: {m['n']} (e.g. " + ", ".join(m["examples"]) + ")")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=["dev", "holdout", "both"], default="both")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--candidates", default=",".join(ADAPTERS), help="comma-separated subset")
    ap.add_argument("--no-init-timing", action="store_true")
    args = ap.parse_args()
    names = [n for n in args.candidates.split(",") if n]
    inits = {} if args.no_init_timing else {n: init_time(n) for n in names}
    _pin_one_core()
    import warnings
    warnings.filterwarnings("ignore")
    adapters = {n: ADAPTERS[n]() for n in names}
    splits = ["dev", "holdout"] if args.split == "both" else [args.split]
    results = []
    for sp in splits:
        res = evaluate_split(sp, adapters, inits)
        results.append(res)
        print(markdown(res))
        print()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"reference_time": REF.isoformat(), "splits": results}, indent=2,
                                        ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
