"""Finding dates, amounts, percentages and durations in Chinese and English text, normalised.

The guard and the evaluation checks both need to know whether a figure in a draft is grounded in the
scenario. Writers move freely between forms (2027-01-20 / 2027年1月20日 / 1月20日 / Jan 20; 1,150,000 /
115万 / ¥1.15 million; 两周 / 2 weeks / 14 days), so every mention is reduced to a comparable value first.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Iterable, Literal

__all__ = ["Mention", "Grounding", "extract", "chinese_number"]

MentionKind = Literal["date", "amount", "percent", "duration"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One quantity found in text. ``value`` depends on ``kind``:

    - date: ``(year | None, month, day | None)``
    - amount: the number after scale words (115万 → 1150000.0)
    - percent: the number (30% → 30.0)
    - duration: ``(days, count, unit)`` — days for comparison, count and unit as written
    """

    kind: MentionKind
    value: object
    start: int
    end: int
    text: str


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_NUM = "零〇一二两兩三四五六七八九十拾百佰千仟半"


def chinese_number(text: str) -> float | None:
    """一 → 1, 十二 → 12, 二十 → 20, 两百 → 200, 半 → 0.5; None if it is not a plain numeral."""
    if not text:
        return None
    if text == "半":
        return 0.5
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            return None
    return float(total + current)


_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
               "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30,
               "half a": 0.5, "a couple of": 2, "a few": 3}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH_RE = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
             r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"

# Order matters: earlier patterns claim their span first, so "2027年1月20日" is one date, not a year
# and a stray number.
_DATE_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"(?P<y>\d{4})\s*[-/.]\s*(?P<m>\d{1,2})\s*[-/.]\s*(?P<d>\d{1,2})(?!\d)"), "ymd", "ymd_num"),
    (re.compile(rf"(?P<y>\d{{4}})\s*年\s*(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*"
                rf"(?P<d>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*[日号號]"), "ymd", "nian"),
    (re.compile(rf"(?<!\d)(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*(?P<d>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*[日号號]"),
     "md", "yue"),
    (re.compile(rf"(?P<y>\d{{4}})\s*年\s*(?P<m>\d{{1,2}})\s*月(?!\s*\d)"), "ym", "nian"),
    (re.compile(rf"(?<![\w])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}(?:,?\s+(?P<y>\d{{4}}))?\b"),
     "dmy_en", "month"),
    (re.compile(rf"\b{_MONTH_RE}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>\d{{4}}))?"), "mdy_en", "month"),
    (re.compile(rf"\b{_MONTH_RE}\s+(?P<y>\d{{4}})\b"), "my_en", "month"),
    (re.compile(rf"\b(?:end|beginning|start|middle|mid|early|late)[- ](?:of\s+)?{_MONTH_RE}\b"), "my_en", "month_phrase"),
    (re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})(?!\d)"), "slash", "slash"),
    (re.compile(r"(?<![\d/.])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?![\d/])"), "slash", "slash"),
    (re.compile(rf"(?<![\d年])(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*(?:份)?\s*(?:底|初|中旬|上旬|下旬|中|末)"), "m", "yue"),
]

# Cheap tests that decide whether a pattern can match at all: most texts skip most patterns.
_MON = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_HAS_MONTH_NAME = re.compile(rf"\b{_MON}[a-z]*\.?,?\s+\d|\d(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}")
_HAS_MONTH_PHRASE = re.compile(rf"\b(?:end|beginning|start|middle|mid|early|late)[- ](?:of\s+)?{_MON}")
_HAS_YMD = re.compile(r"\d{4}\s*[-/.]")
_MONTH_STEMS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EN_UNITS = ("day", "week", "month", "year", "hour")


def _has_month(low: str) -> bool:
    return any(m in low for m in _MONTH_STEMS) and _HAS_MONTH_NAME.search(low) is not None


# Each takes the lower-cased text. Substring tests first: they cost far less than a regex scan.
_TRIGGERS = {
    "ymd_num": lambda t: ("-" in t or "/" in t or "." in t) and _HAS_YMD.search(t) is not None,
    "nian": lambda t: "年" in t,
    "yue": lambda t: "月" in t,
    "month": _has_month,
    "month_phrase": lambda t: _has_month_phrase(t),
    "slash": lambda t: "/" in t,
    "percent": lambda t: "%" in t or "％" in t or "百分" in t or "percent" in t or "per cent" in t,
    "zh_unit": lambda t: any(c in t for c in "天周週月年时時星日"),
    "en_unit": lambda t: any(u in t for u in _EN_UNITS),
}


def _has_month_phrase(low: str) -> bool:
    return any(m in low for m in _MONTH_STEMS) and _HAS_MONTH_PHRASE.search(low) is not None

_PERCENT_PATTERNS = [
    re.compile(rf"(?P<n>{_NUM})\s*(?:%|％|percent\b|per cent\b|个百分点|個百分點)", re.I),
    re.compile(rf"百分之(?P<cn>[{_CN_NUM}]+|\d+(?:\.\d+)?)"),
]

_DURATION_UNITS = {
    "工作日": ("bday", 1), "個工作日": ("bday", 1), "个工作日": ("bday", 1),
    "工作天": ("bday", 1), "個工作天": ("bday", 1), "个工作天": ("bday", 1),
    "天": ("day", 1), "日历天": ("day", 1), "自然日": ("day", 1),
    "周": ("week", 7), "週": ("week", 7), "星期": ("week", 7), "个星期": ("week", 7), "個星期": ("week", 7),
    "个月": ("month", 30), "個月": ("month", 30), "年": ("year", 365),
    "小时": ("hour", 1 / 24), "小時": ("hour", 1 / 24), "个小时": ("hour", 1 / 24), "個小時": ("hour", 1 / 24),
    "business day": ("bday", 1), "working day": ("bday", 1), "day": ("day", 1), "week": ("week", 7),
    "month": ("month", 30), "year": ("year", 365), "hour": ("hour", 1 / 24),
}
_DURATION_PATTERNS = [
    re.compile(rf"(?<![同某每哪这那這當当])(?P<n>\d+(?:\.\d+)?|[{_CN_NUM}]{{1,4}})\s*(?:多)?\s*(?P<u>个工作日|個工作日|工作日|个工作天|個工作天|工作天|日历天|自然日|"
               rf"个星期|個星期|星期|个小时|個小時|小时|小時|天|周(?![一二三四五六日末])|週(?![一二三四五六日末])|个月|個月|"
               rf"年(?!\s*\d|\s*[{_CN_NUM}]+\s*月))"),
    re.compile(r"(?<![\w.])(?=[\daotfesnh])(?P<n>\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
               r"twenty|thirty|half a|a couple of|a few)[\s-]+(?:more\s+|additional\s+|extra\s+)?"
               r"(?P<u>business days?|working days?|days?|weeks?|months?|years?|hours?)\b"),
]

_CURRENCY_PREFIX = r"(?:US\$|NT\$|HK\$|S\$|A\$|RMB|CNY|USD|EUR|TWD|NTD|HKD|¥|￥|\$|€|£)"
_SCALE = {"万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8, "千": 1e3, "百万": 1e6, "百萬": 1e6, "千万": 1e7,
          "千萬": 1e7, "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
          "billion": 1e9}
_AMOUNT_RE = re.compile(
    rf"(?=[\dUNHSARCET¥￥$€£])(?P<cur>{_CURRENCY_PREFIX})?\s*(?P<n>{_NUM})\s*"
    rf"(?P<scale>百万|百萬|千万|千萬|万|萬|亿|億|(?i:thousand|million|billion|mn|bn|[kmb])\b)?"
    rf"\s*(?P<suf>元|块|美元|美金|人民币|人民幣|台币|台幣|新台币|新台幣|港币|港幣|欧元|歐元|"
    rf"(?i:dollars?|yuan)\b|(?:RMB|CNY|USD|EUR|TWD|NTD)\b)?"
)
# Numbers that are not facts: times of day, ordinals, version numbers and list markers.
_NOT_A_FIGURE = re.compile(
    r"(?=[\d第vV周週星\n])(?:\d{1,2}[:：]\d{2}|第\s*\d+|\b[vV]\d+(?:\.\d+)*|(?:^|\n)\s*\d+[.、)）]\s|"
    r"\d+\s*(?:点|點|(?i:am|pm|a\.m\.|p\.m\.)\b)|(?:周|週|星期)[一二三四五六日天]|\b\d+(?i:st|nd|rd|th)\b|"
    r"(?<=[A-Za-z])\d[A-Za-z\d]*|(?<![\d.])\d+[A-Za-z]{2,}\d*)"
)


def _number(raw: str) -> float | None:
    raw = raw.strip()
    if not raw:
        return None
    if raw[0].isdigit():
        try:
            return float(raw.replace(",", ""))
        except ValueError:
            return None
    low = raw.lower()
    if low in _EN_NUMBERS:
        return float(_EN_NUMBERS[low])
    return chinese_number(raw)


def _free(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(end <= a or start >= b for a, b in taken)


def _dates(text: str, low: str, taken: list[tuple[int, int]]) -> Iterable[Mention]:
    for pattern, form, trigger in _DATE_PATTERNS:
        if not _TRIGGERS[trigger](low):
            continue
        # English month patterns are written in lower case and run on the lower-cased text
        for m in pattern.finditer(low if form.endswith("_en") else text):
            if not _free(taken, m.start(), m.end()):
                continue
            g = m.groupdict()
            year = int(g["y"]) if g.get("y") else None
            if form == "slash":
                a, b = int(g["a"]), int(g["b"])
                if year is None and (a > 12 or b > 31):
                    continue  # 2/26 is a date; 24/7 is not
                # 01/20/2027 or 20/01/2027: whichever is a valid month-day reading; US order first
                month, day = (a, b) if a <= 12 else (b, a)
            elif form in ("dmy_en", "mdy_en", "my_en"):
                month, day = _MONTHS[g["mon"][:3].lower()], (int(g["d"]) if g.get("d") else None)
            else:
                month_n = _number(g["m"])
                day_n = _number(g["d"]) if g.get("d") else None
                if month_n is None:
                    continue
                month, day = int(month_n), (int(day_n) if day_n is not None else None)
            if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
                continue
            taken.append((m.start(), m.end()))
            yield Mention("date", (year, month, day), m.start(), m.end(), text[m.start():m.end()])


@lru_cache(maxsize=4096)
def _extract(text: str) -> tuple[Mention, ...]:
    return tuple(_scan(text))


def extract(text: str) -> list[Mention]:
    """Every date, percentage, duration and figure in ``text``, in order of appearance.

    Memoised: the guard and the evaluation checks look at the same draft text several times.
    """
    return list(_extract(text))


def _scan(text: str) -> list[Mention]:
    taken: list[tuple[int, int]] = []
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII capitals lower-case to two characters; keep offsets true
        low = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    found: list[Mention] = list(_dates(text, low, taken))
    for pattern in _PERCENT_PATTERNS if _TRIGGERS["percent"](low) else ():
        for m in pattern.finditer(text):
            if _free(taken, m.start(), m.end()):
                n = _number(m.group("n") if m.groupdict().get("n") else m.group("cn"))
                if n is not None:
                    taken.append((m.start(), m.end()))
                    found.append(Mention("percent", n, m.start(), m.end(), m.group(0)))
    for pattern, trigger in zip(_DURATION_PATTERNS, ("zh_unit", "en_unit")):
        if not _TRIGGERS[trigger](low):
            continue
        for m in pattern.finditer(text if trigger == "zh_unit" else low):
            if not _free(taken, m.start(), m.end()):
                continue
            n = _number(m.group("n"))
            unit_raw = m.group("u").lower()
            unit_key = unit_raw.rstrip("s") if unit_raw.isascii() else unit_raw
            if n is None or unit_key not in _DURATION_UNITS:
                continue
            if unit_key == "年" and n >= 100:
                continue
            unit, days = _DURATION_UNITS[unit_key]
            taken.append((m.start(), m.end()))
            found.append(Mention("duration", (n * days, n, unit), m.start(), m.end(), text[m.start():m.end()]))
    for m in _NOT_A_FIGURE.finditer(text):
        taken.append((m.start(), m.end()))
    for m in _AMOUNT_RE.finditer(text):
        start, end = m.start("n"), m.end()
        if m.group("cur"):
            start = m.start("cur")
        if not _free(taken, m.start("n"), m.end("n")):
            continue
        n = _number(m.group("n"))
        if n is None:
            continue
        scale = (m.group("scale") or "")
        has_unit = bool(m.group("cur") or m.group("suf") or scale)
        # a bare small integer ("3 options", "两个方案") is not a fact worth grounding; a bare year neither
        if not has_unit and (n < 10 and "." not in m.group("n")):
            continue
        if not has_unit and 1900 <= n <= 2100 and "." not in m.group("n"):
            continue
        value = n * _SCALE.get(scale.lower() if scale.isascii() else scale, 1.0)
        found.append(Mention("amount", value, start, end if (has_unit) else m.end("n"),
                             text[start:end if has_unit else m.end("n")].strip()))
    found.sort(key=lambda x: x.start)
    return found


class Grounding:
    """The quantities a scenario licenses, ready for fast membership tests."""

    def __init__(self, texts: Iterable[str], dates: Iterable[dt.date] = ()) -> None:
        self.full: set[tuple[int, int, int]] = set()
        self.month_day: set[tuple[int, int]] = set()
        self.year_month: set[tuple[int, int]] = set()
        self.months: set[int] = set()
        self.numbers: set[float] = set()
        self.percents: set[float] = set()
        self.durations: set[tuple[float, str]] = set()
        self.day_spans: set[float] = set()
        concrete: list[dt.date] = list(dates)
        for text in texts:
            for mention in extract(text):
                self._add(mention, concrete)
        for d in concrete:
            self._add_date(d.year, d.month, d.day)
        self.business_spans: set[float] = set()
        for a, b in combinations(sorted(set(concrete)), 2):
            self.day_spans.add(float(abs((b - a).days)))
            self.business_spans.add(float(_business_days(a, b)))

    def _add_date(self, year: int | None, month: int, day: int | None) -> None:
        self.months.add(month)
        if day is not None:
            self.month_day.add((month, day))
        if year is not None:
            self.year_month.add((year, month))
            if day is not None:
                self.full.add((year, month, day))

    def _add(self, m: Mention, concrete: list[dt.date]) -> None:
        if m.kind == "date":
            year, month, day = m.value  # type: ignore[misc]
            self._add_date(year, month, day)
            if year is not None and day is not None:
                try:
                    concrete.append(dt.date(year, month, day))
                except ValueError:
                    pass
        elif m.kind == "amount":
            self.numbers.add(round(float(m.value), 4))  # type: ignore[arg-type]
        elif m.kind == "percent":
            self.percents.add(float(m.value))  # type: ignore[arg-type]
            self.numbers.add(float(m.value))  # type: ignore[arg-type]
        elif m.kind == "duration":
            days, count, unit = m.value  # type: ignore[misc]
            self.durations.add((round(days, 4), "days"))
            self.durations.add((float(count), unit))

    def grounded(self, m: Mention) -> bool:
        if m.kind == "date":
            year, month, day = m.value  # type: ignore[misc]
            if day is None:
                return (year, month) in self.year_month if year is not None else month in self.months
            if year is None:
                return (month, day) in self.month_day
            return (year, month, day) in self.full
        if m.kind == "percent":
            return float(m.value) in self.percents  # type: ignore[arg-type]
        if m.kind == "amount":
            return round(float(m.value), 4) in self.numbers  # type: ignore[arg-type]
        days, count, unit = m.value  # type: ignore[misc]
        if (float(count), unit) in self.durations or (round(days, 4), "days") in self.durations:
            return True
        if unit in ("day", "week"):
            return days in self.day_spans
        if unit in ("month", "year"):
            # a month is 28-31 days: "one month later" matches dates 28-31 days apart (per month counted)
            return any(abs(span - days) <= 3 * max(1.0, count if unit == "month" else count * 12)
                       for span in self.day_spans)
        if unit == "bday":
            return float(count) in self.business_spans
        return False


def _business_days(a: dt.date, b: dt.date) -> int:
    """Weekdays from ``a`` (exclusive) to ``b`` (inclusive): 2027-01-08 → 2027-01-22 is 10 working days."""
    days = (b - a).days
    weeks, rest = divmod(days, 7)
    extra = sum(1 for i in range(1, rest + 1) if (a + dt.timedelta(days=i)).weekday() < 5)
    return weeks * 5 + extra
