"""Finding dates, times, amounts, percentages, discounts, durations and counts in Chinese and English text.

The guard and the evaluation checks both need to know whether a figure in a draft is grounded in the
scenario. Writers move freely between forms (2027-01-20 / 2027年1月20日 / 1月20日 / Jan 20; 1,150,000 /
115万 / ¥1.15 million; 两周 / 2 weeks / 14 days), so every mention is reduced to a comparable value first.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations
from typing import Callable, Iterable, Literal

__all__ = ["Mention", "Grounding", "extract", "chinese_number", "fold"]

MentionKind = Literal["date", "time", "amount", "percent", "discount", "duration", "count"]


@dataclass(frozen=True, slots=True)
class Mention:
    """One quantity found in text. ``value`` depends on ``kind``:

    - date: ``(year | None, month, day | None)``
    - amount: the number after scale words (115万 → 1150000.0)
    - percent: the number (30% → 30.0)
    - duration: ``(days, count, unit)`` — days for comparison, count and unit as written
    - time: ``(hour, minute)`` on a 24-hour clock
    - discount: the share taken off, in percent (打八折 → 20.0, "15% off" → 15.0)
    - count: how many (12 台 → 12.0, "two engineers" → 2.0)
    """

    kind: MentionKind
    value: object
    start: int
    end: int
    text: str
    unit: str | None = None
    """The currency of an amount (``CNY``, ``TWD``, ``USD`` …) when the text names one."""


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "貳": 2, "叁": 3, "參": 3, "肆": 4, "伍": 5,
              "陆": 6, "陸": 6, "柒": 7, "捌": 8, "玖": 9}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_NUM = "零〇一二两兩三四五六七八九十拾百佰千仟半壹贰貳叁參肆伍陆陸柒捌玖"
_CN_NUM_BIG = _CN_NUM + "万萬亿億"


def _small_chinese(text: str) -> float | None:
    """A numeral below 10,000: 十二 → 12, 两百五 → 250, 一千二 → 1200."""
    if not text:
        return 0.0
    if all(ch in _CN_DIGITS for ch in text) and len(text) > 1:  # 二〇二七 read digit by digit
        return float("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, current, last_unit = 0, 0, 0
    for i, ch in enumerate(text):
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
            if i == len(text) - 1 and last_unit >= 100 and i > 0 and text[i - 1] in _CN_UNITS:
                current *= last_unit // 10  # 一千二 → 1200, 两百五 → 250
        elif ch in _CN_UNITS:
            last_unit = _CN_UNITS[ch]
            total += (current or 1) * last_unit
            current = 0
        else:
            return None
    return float(total + current)


def chinese_number(text: str) -> float | None:
    """一 → 1, 十二 → 12, 两百 → 200, 三十万 → 300000, 叁拾万 → 300000, 二〇二七 → 2027, 半 → 0.5; None if
    it is not a plain numeral."""
    if not text:
        return None
    if text == "半":
        return 0.5
    total = 0.0
    rest = text
    for big in ("亿", "億", "万", "萬"):
        if big in rest:
            head, rest = rest.split(big, 1)
            value = _small_chinese(head)
            if value is None:
                return None
            total += (value or 1) * _CN_BIG[big]
            if len(rest) == 1 and rest in _CN_DIGITS and _CN_DIGITS[rest]:  # 一萬八 → 18000, 三万五 → 35000
                return total + _CN_DIGITS[rest] * _CN_BIG[big] / 10
    value = _small_chinese(rest)
    if value is None:
        return None
    return total + value


_FOLD = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                       **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
                       **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
                       "％": "%", "＄": "$", "．": ".", "：": ":", "／": "/", "－": "-", "～": "~", "﹪": "%"})


def fold(text: str) -> str:
    """Full-width digits, letters and signs as ASCII, one character for one: offsets stay true."""
    return text.translate(_FOLD)


_EN_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
               "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
               "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-five": 25,
               "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
               "ninety": 90, "a hundred": 100, "one hundred": 100, "half a": 0.5, "a couple of": 2, "a few": 3,
               "a dozen": 12, "an": 1, "a": 1}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ONES = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_EN_NUMBERS.update({f"{t}-{o}": tv + ov for t, tv in _TENS.items() for o, ov in _ONES.items()})
_EN_NUMBER_WORDS = ("(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-(?:one|two|three|four|five|six|seven|"
                    "eight|nine)|one hundred|a hundred|thirteen|fourteen|fifteen|sixteen|seventeen|"
                    "eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|eleven|twelve|one|two|"
                    "three|four|five|six|seven|eight|nine|ten|a dozen")
_ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split())}
_ORDINALS.update({f"twenty-{w}": 20 + i for w, i in list(_ORDINALS.items())[:9]})
_ORDINALS.update({"thirtieth": 30, "thirty-first": 31})
_ORDINAL_RE = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MONTH_RE = (r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
             r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUM_LED = r"\d(?:\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d*(?:\.\d+)?)"
"""``_NUM`` with its first digit taken out in front.

A pattern whose first step consumes a digit lets ``re`` skip ahead to the next digit in C; one that starts with
a repeat (``\\d+``) or a look-behind is tried at every position, which on a long English draft was most of the
extraction. So the patterns below write ``\\d{1,2}`` as ``\\d\\d?`` and move a look-behind after the first digit
(``(?<![\\d:]\\d)``: the character before the digit just taken). The matches are the same."""

# Order matters: earlier patterns claim their span first, so "2027年1月20日" is one date, not a year
# and a stray number.
_DATE_PATTERNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"(?P<y>\d\d{3})\s*[-/.]\s*(?P<m>\d{1,2})\s*[-/.]\s*(?P<d>\d{1,2})(?!\d)"), "ymd", "ymd_num"),
    (re.compile(rf"(?P<y>\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年\s*(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*"
                rf"(?P<d>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*[日号號]"), "ymd", "nian"),
    (re.compile(rf"(?<!\d)(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*(?P<d>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*[日号號]"),
     "md", "yue"),
    (re.compile(rf"(?P<y>\d\d{{3}})\s*年\s*(?P<m>\d{{1,2}})\s*月(?!\s*\d)"), "ym", "nian"),
    (re.compile(rf"(?P<d>\d(?<!\w\d)\d?)(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_RE}(?:,?\s+(?P<y>\d{{4}}))?\b"),
     "dmy_en", "month"),
    (re.compile(rf"\b(?=[jfmasond]){_MONTH_RE}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>\d{{4}}))?"), "mdy_en", "month"),
    (re.compile(rf"\b(?=[jfmasond]){_MONTH_RE}\s+(?:the\s+)?(?P<o>{_ORDINAL_RE})\b(?:,?\s+(?P<y>\d{{4}}))?"), "mdy_en", "month"),
    (re.compile(rf"\b(?=[tfsne])(?:the\s+)?(?P<o>{_ORDINAL_RE})\s+of\s+{_MONTH_RE}(?:,?\s+(?P<y>\d{{4}}))?"), "dmy_en", "month"),
    (re.compile(rf"\b(?=[jfmasond]){_MONTH_RE}\s+(?P<y>\d{{4}})\b"), "my_en", "month"),
    (re.compile(rf"\b(?=[ebsml])(?:end|beginning|start|middle|mid|early|late)[- ](?:of\s+)?{_MONTH_RE}\b"), "my_en", "month_phrase"),
    (re.compile(r"(?P<a>\d(?<![\d/]\d)\d?)/(?P<b>\d{1,2})/(?P<y>\d{4})(?!\d)"), "slash", "slash"),
    (re.compile(r"(?P<a>\d(?<![\d/.]\d)\d?)/(?P<b>\d{1,2})(?![\d/])"), "slash", "slash"),
    (re.compile(rf"(?<![\d年])(?P<m>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*月\s*(?:份)?\s*(?:底|初|中旬|上旬|下旬|中|末)"), "m", "yue"),
]

# Cheap tests that decide whether a pattern can match at all: most texts skip most patterns.
_MON = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_MONTH_THEN_NUMBER = rf"\b{_MON}[a-z]*\.?,?\s+\d"
_NUMBER_THEN_MONTH = rf"\d(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}"
_HAS_MONTH_NAME = re.compile(f"{_MONTH_THEN_NUMBER}|{_NUMBER_THEN_MONTH}")
_HAS_ORDINAL_DATE = re.compile(rf"\b{_MON}[a-z]*\.?\s+(?:the\s+)?[a-z]+(?:th|st|nd|rd)\b|"
                               rf"(?:th|st|nd|rd)\s+of\s+{_MON}")
_HAS_MONTH_PHRASE = re.compile(rf"\b(?:end|beginning|start|middle|mid|early|late)[- ](?:of\s+)?{_MON}")
_HAS_YMD = re.compile(r"\d\d{3}\s*[-/.]")  # digit-led, so re skips to the digits (see _NUM_LED)
_MONTH_STEMS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EN_UNITS = ("day", "week", "month", "year", "hour", "min", "fortnight")


_ANY_MONTH_STEM = re.compile("|".join(_MONTH_STEMS))
"""``any(stem in low ...)`` as one scan in C: a substring test per stem cost more than the patterns it spared."""
_ZH_UNIT_CHAR = re.compile("[天周週月年时時星日分拜]")
_EN_UNIT_WORD = re.compile("|".join(_EN_UNITS))


def _has_month(low: str) -> bool:
    return _ANY_MONTH_STEM.search(low) is not None and (_HAS_MONTH_NAME.search(low) is not None
                                                    or _HAS_ORDINAL_DATE.search(low) is not None)


# Each takes the lower-cased text. Substring tests first: they cost far less than a regex scan.
_TRIGGERS = {
    "ymd_num": lambda t: ("-" in t or "/" in t or "." in t) and _HAS_YMD.search(t) is not None,
    "nian": lambda t: "年" in t,
    "yue": lambda t: "月" in t,
    "month": _has_month,
    "month_phrase": lambda t: _has_month_phrase(t),
    "slash": lambda t: "/" in t,
    "percent": lambda t: "%" in t or "％" in t or "百分" in t or "percent" in t or "per cent" in t,
    "zh_unit": lambda t: _ZH_UNIT_CHAR.search(t) is not None,
    "en_unit": lambda t: _EN_UNIT_WORD.search(t) is not None,
}


def _has_month_phrase(low: str) -> bool:
    return _ANY_MONTH_STEM.search(low) is not None and _HAS_MONTH_PHRASE.search(low) is not None

_PERCENT_PATTERNS = [
    re.compile(rf"(?P<n>{_NUM_LED})\s*(?:%|％|percent\b|per cent\b|个百分点|個百分點)", re.I),
    re.compile(rf"百分之(?P<cn>[{_CN_NUM}]+|\d+(?:\.\d+)?)"),
    re.compile(rf"\b(?=[otfsena])(?P<w>{_EN_NUMBER_WORDS})[\s-]+(?:percent|per cent)\b", re.I),
    re.compile(r"(?<![一二三四五六七八九十])(?P<c1>[一二两兩三四五六七八九])成(?P<c2>[一二三四五六七八九])?"
               r"(?![本功为為立果熟员員交长長效品不绩績])"),
]
_DISCOUNT_PATTERNS = [
    re.compile(r"(?:打\s*)?(?P<z>[一二三四五六七八九]{1,2}|\d(?:\.\d)?|\d\d)\s*折(?![扣让讓])"),
    re.compile(rf"(?P<n>{_NUM})\s*%\s*(?:off|discount)\b", re.I),
    re.compile(r"半价|半價|half[- ]price", re.I),
]
_TIME_PATTERNS = [
    re.compile(rf"(?P<p>上午|下午|晚上|中午|早上|傍晚|凌晨)?\s*(?P<h>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*(?:点|點|时(?![间間])|時(?![间間]))"
               rf"\s*(?:(?P<half>半)|(?P<mi>\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*分(?![钟鐘]))?"),
    re.compile(r"(?P<h>\d(?<![\d:]\d)\d?)\s*[:：]\s*(?P<mi>\d{2})(?!\d)\s*(?P<ap>a\.?m\.?|p\.?m\.?)?", re.I),
    re.compile(r"(?P<h>\d(?<![\d:.]\d)\d?)\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])", re.I),
    re.compile(r"\b(?=[abfut])(?:at|by|from|until|till|before|after)\s+(?P<h>\d{1,2})(?:\s*o'clock)?(?![\d:/.,%]|\s*(?:%|percent|"
               r"days?|weeks?|months?|years?|hours?|minutes?|working|business|people|engineers?|pages?|[a-z]*s\b))",
               re.I),
    re.compile(r"\b(?P<noon>noon|midday)\b", re.I),
]
_COUNT_PATTERNS = [
    re.compile(rf"(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+|[{_CN_NUM}]{{1,4}})\s*(?P<w>名|位|个人|個人|人(?![民员員天]))"),
    re.compile(rf"(?P<n>\d{{1,3}}(?:,\d{{3}})+|\d+|[{_CN_NUM}]{{2,4}})\s*(?P<w>个|個|台|条|條|则|則|项|項|家|件|套|张|張|间|間|款|种|種|组|組|支|份|筆|笔|批|座|所|次|场|場|頁|页)"),
    re.compile(rf"\b(?=[\dotfsena])(?P<n>\d+|{_EN_NUMBER_WORDS})\s+(?:more\s+|extra\s+|additional\s+|new\s+|senior\s+|full-time\s+)?"
               r"(?P<w>engineers?|developers?|people|staff|consultants?|designers?|testers?|analysts?|specialists?|"
               r"pages?|screens?|stores?|machines?|units?|sites?|features?|devices?|kiosks?|lockers?|workshops?|"
               r"dashboards?|reports?|templates?|modules?|users?|items?|cases?|tickets?)\b", re.I),
]

_TIME_GATES: tuple[Callable[[str], bool], ...] = (
    lambda t: _TIME_WORD.search(t) is not None,
    lambda t: ":" in t or "：" in t,
    lambda t: _AM_PM.search(t) is not None,
    lambda t: True,  # "at 3", "by 10": a search for it costs more than the pattern's own scan
    lambda t: "noon" in t.lower() or "midday" in t.lower(),
)
"""Per time pattern, a test any text it matches passes (cheap beside the pattern's scan of every position)."""
_TIME_WORD = re.compile("点|點|时(?![间間])|時(?![间間])")
_TIME_CUE_CHAR = re.compile("[点點时時:]")
_TIME_CUE = re.compile(r"\d\s*[ap]\.?m|\b(?:at|by|from|until|noon|midday)\b", re.I)
_AM_PM = re.compile(r"\d\s*[ap]\.?m", re.I)
_COUNT_WORDS = (re.compile(rf"[\d{_CN_NUM}]\s*(?:名|位|个人|個人|人(?![民员員天]))"),
                re.compile(rf"[\d{_CN_NUM}]\s*[个個台条條则則项項家件套张張间間款种種组組支份筆笔批座所次场場頁页]"),
                re.compile(r"\s(?:more\s+|extra\s+|additional\s+|new\s+|senior\s+|full-time\s+)?(?:engineers?|"
                           r"developers?|people|staff|consultants?|designers?|testers?|analysts?|specialists?|pages?|"
                           r"screens?|stores?|machines?|units?|sites?|features?|devices?|kiosks?|lockers?|workshops?|"
                           r"dashboards?|reports?|templates?|modules?|users?|items?|cases?|tickets?)\b", re.I))
"""What every match of each count pattern holds: a figure's last character and a measure word, or a space and an
English noun. A text without it is not scanned for that pattern (same flags as the pattern, so the test is exact)."""
_ODD_CASE = re.compile("[ıſİ]")


def _odd_case(text: str) -> bool:
    """Whether ``text`` has a letter that ``re.IGNORECASE`` matches to an ASCII one but ``str.lower`` does not
    lower to it (ı, ſ, İ): a gate that tests the lower-cased text for a word is then not safe, so it is skipped."""
    return not text.isascii() and _ODD_CASE.search(text) is not None


_DURATION_UNITS = {
    "工作日": ("bday", 1), "個工作日": ("bday", 1), "个工作日": ("bday", 1),
    "工作天": ("bday", 1), "個工作天": ("bday", 1), "个工作天": ("bday", 1),
    "天": ("day", 1), "日历天": ("day", 1), "自然日": ("day", 1),
    "周": ("week", 7), "週": ("week", 7), "星期": ("week", 7), "个星期": ("week", 7), "個星期": ("week", 7),
    "礼拜": ("week", 7), "禮拜": ("week", 7), "个礼拜": ("week", 7), "個禮拜": ("week", 7),
    "个半月": ("month", 30), "個半月": ("month", 30),
    "个月": ("month", 30), "個月": ("month", 30), "年": ("year", 365),
    "小时": ("hour", 1 / 24), "小時": ("hour", 1 / 24), "个小时": ("hour", 1 / 24), "個小時": ("hour", 1 / 24),
    "分钟": ("minute", 1 / 1440), "分鐘": ("minute", 1 / 1440), "minute": ("minute", 1 / 1440),
    "min": ("minute", 1 / 1440), "fortnight": ("week", 14),
    "business day": ("bday", 1), "working day": ("bday", 1), "day": ("day", 1), "week": ("week", 7),
    "month": ("month", 30), "year": ("year", 365), "hour": ("hour", 1 / 24),
}
_DURATION_PATTERNS = [
    re.compile(rf"(?<![同某每哪这那這當当])(?P<n>\d+(?:\.\d+)?|[{_CN_NUM}]{{1,4}})\s*(?:多)?\s*(?P<u>个工作日|個工作日|工作日|个工作天|個工作天|工作天|日历天|自然日|"
               rf"个星期|個星期|星期|个礼拜|個禮拜|礼拜|禮拜|个小时|個小時|小时|小時|分钟|分鐘|天|周(?![一二三四五六日末])|週(?![一二三四五六日末])|个半月|個半月|个月|個月|"
               rf"年(?!\s*\d|\s*[{_CN_NUM}]+\s*月))"),
    re.compile(rf"(?<![\w.-])(?=[\daotfesnh])(?P<n>\d+(?:\.\d+)?|{_EN_NUMBER_WORDS}|half a|a couple of|a few)"
               r"[\s-]+(?:more\s+|additional\s+|extra\s+)?"
               r"(?P<u>business days?|working days?|days?|weeks?|months?|years?|hours?|minutes?|mins?)\b"),
    re.compile(r"\b(?=[ao])(?P<n>an?|one)\s+(?P<u>hour|week|month|year|day|fortnight)\b"),
    # "22 design and development days", "thirty-two working person days": describing words between, but no
    # preposition and no other number ("3 options in 2 weeks" is not 3 weeks)
    re.compile(rf"(?<![\w.])(?=[\dotfsena])(?P<n>\d+(?:\.\d+)?|{_EN_NUMBER_WORDS})\s+(?:(?!(?:in|by|within|for|over|after|before|"
               rf"of|per|to|from|and then|or)\b)[a-z][a-z-]*\s+){{1,3}}(?P<u>working days?|business days?|days?|weeks?|"
               rf"months?|hours?)\b"),
]

_CURRENCY_PREFIX = r"(?:US\$|NT\$|HK\$|S\$|A\$|RMB|CNY|USD|EUR|TWD|NTD|HKD|¥|￥|\$|€|£)"
_SCALE = {"万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8, "千": 1e3, "百万": 1e6, "百萬": 1e6, "千万": 1e7,
          "千萬": 1e7, "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9,
          "billion": 1e9}
_CN_AMOUNT_RE = re.compile(
    rf"(?P<cur>NT\$|US\$|HK\$|RMB|¥|￥|\$)?\s*(?P<cn>[{_CN_NUM}][{_CN_NUM_BIG}]+|[一二两兩三四五六七八九十])\s*"
    rf"(?P<suf>元整|元|块钱|块|塊|美元|美金|万元|萬元|人民币|人民幣|台币|台幣|新台币|新台幣)?")
_AMOUNT_RE = re.compile(
    rf"(?=[\dUNHSARCET¥￥$€£])(?P<cur>{_CURRENCY_PREFIX})?\s*(?P<n>{_NUM})\s*"
    rf"(?P<scale>百万|百萬|千万|千萬|万|萬|亿|億|(?i:thousand|million|billion|mn|bn|[kmb])\b)?"
    rf"\s*(?P<suf>元|块|美元|美金|人民币|人民幣|台币|台幣|新台币|新台幣|港币|港幣|欧元|歐元|"
    rf"(?i:dollars?|yuan)\b|(?:RMB|CNY|USD|EUR|TWD|NTD)\b)?"
)
# Numbers that are not facts: ordinals, version numbers, list markers, clause numbers, names with digits.
_NOT_A_FIGURE = re.compile(
    r"(?=[\dA-Z第v周週星\n§sca])(?:第\s*[\d.]+|\b[vV]\d+(?:\.\d+)*|(?:^|\n)\s*\d+[.、)）]\s|"
    r"(?:周|週|星期)[一二三四五六日天]|\b\d+(?i:st|nd|rd|th)\b|(?i:section|clause|§|article|phase|chapter)\s*[\d.]+|"
    r"\d+\s*/\s*7\b|(?<=[A-Za-z])\d[A-Za-z\d]*|"
    r"(?<![A-Za-z$])(?!(?:USD|EUR|RMB|CNY|TWD|NTD|HKD|GBP|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b)"
    r"[A-Z][A-Za-z]+\s+\d+(?![\d.,]*\s*(?:%|k\b|m\b|million|thousand|[a-z]))|(?<![\d.])\d+[A-Za-z]{2,}\d*|\d+(?:\.\d+)+\s*[条條款节節])"
)
_CURRENCY = {"US$": "USD", "NT$": "TWD", "HK$": "HKD", "S$": "SGD", "A$": "AUD", "RMB": "CNY", "CNY": "CNY",
             "USD": "USD", "EUR": "EUR", "TWD": "TWD", "NTD": "TWD", "HKD": "HKD", "¥": "CNY", "￥": "CNY", "$": "USD",
             "€": "EUR", "£": "GBP", "元": None, "元整": None, "块": "CNY", "块钱": "CNY", "塊": "TWD", "美元": "USD",
             "美金": "USD", "人民币": "CNY", "人民幣": "CNY", "台币": "TWD", "台幣": "TWD", "新台币": "TWD",
             "新台幣": "TWD", "港币": "HKD", "港幣": "HKD", "欧元": "EUR", "歐元": "EUR", "dollar": "USD",
             "dollars": "USD", "yuan": "CNY", "万元": None, "萬元": None}


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
    """No span of ``taken`` overlaps [start, end). A plain loop: called for every match, it was a tenth of the
    extraction as a generator under ``all``."""
    for a, b in taken:
        if start < b and end > a:
            return False
    return True


_MONTH_NUMBER = re.compile(_MONTH_THEN_NUMBER)
_CN_DAY = rf"\s*(?:\d{{1,2}}|[{_CN_NUM}]{{1,3}})\s*"
_DATE_GATES: dict[int, re.Pattern[str]] = {
    1: re.compile(f"年{_CN_DAY}月"),  # 2027年1月20日
    2: re.compile(f"月{_CN_DAY}[日号號]"),  # 1月20日
    3: re.compile(r"年\s*\d{1,2}\s*月"),  # 2027年1月
    4: re.compile(_NUMBER_THEN_MONTH),  # "3 march", "3rd of march"
    5: _MONTH_NUMBER,  # "march 3"
    7: re.compile(rf"(?:th|st|nd|rd)\s+of\s+{_MON}"),  # "the third of march": every ordinal ends so
    8: _MONTH_NUMBER,  # "march 2027": the same test, run once for both
    12: re.compile(r"月\s*(?:份)?\s*(?:底|初|中旬|上旬|下旬|中|末)"),  # 1月底
}
"""By index in ``_DATE_PATTERNS``: what every match of that pattern holds, tested on the text the pattern reads once
its trigger has fired. Each starts with a literal, which ``re`` finds in C, while the pattern itself is tried at
every position: a text with 月 or a month name rarely has every form of date."""


def _holds(gate: re.Pattern[str], target: str, seen: dict[str, bool]) -> bool:
    """Whether ``gate`` finds something in ``target``, searched once per text however many patterns it gates."""
    if gate.pattern not in seen:
        seen[gate.pattern] = gate.search(target) is not None
    return seen[gate.pattern]


def _dates(text: str, low: str, taken: list[tuple[int, int]]) -> Iterable[Mention]:
    fired: dict[str, bool] = {}  # five month patterns share the "month" trigger: test it once
    for i, (pattern, form, trigger) in enumerate(_DATE_PATTERNS):
        if trigger not in fired:
            fired[trigger] = _TRIGGERS[trigger](low)
        # English month patterns are written in lower case and run on the lower-cased text
        target = low if form.endswith("_en") else text
        if not fired[trigger] or (i in _DATE_GATES and not _holds(_DATE_GATES[i], target, fired)):
            continue
        for m in pattern.finditer(target):
            if not _free(taken, m.start(), m.end()):
                continue
            g = m.groupdict()
            year = int(_number(g["y"]) or 0) if g.get("y") else None
            if form == "slash":
                a, b = int(g["a"]), int(g["b"])
                if year is None and (a > 12 or b > 31):
                    continue  # 2/26 is a date; 24/7 is not
                # 01/20/2027 or 20/01/2027: whichever is a valid month-day reading; US order first
                month, day = (a, b) if a <= 12 else (b, a)
            elif form in ("dmy_en", "mdy_en", "my_en"):
                day = int(g["d"]) if g.get("d") else (_ORDINALS[g["o"]] if g.get("o") else None)
                month = _MONTHS[g["mon"][:3].lower()]
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


def _scan(original: str) -> list[Mention]:
    text = fold(original)
    taken: list[tuple[int, int]] = []
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII capitals lower-case to two characters; keep offsets true
        low = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)
    found: list[Mention] = list(_dates(text, low, taken))
    found += _range_ends(text, low, found, taken)
    found += _days_alone(text, low, taken)
    if "T" in text:  # the time of an ISO timestamp (2019-04-30T08:56:57.914Z) belongs to its date
        taken += [(m.start(), m.end()) for m in _ISO_TIME.finditer(text)]
    found += _times(text, taken)
    found += _discounts(text, original, low, taken)
    found += _percents(text, original, low, taken)
    found += _durations(text, original, low, taken)
    for m in _NOT_A_FIGURE.finditer(text):
        taken.append((m.start(), m.end()))
    found += _counts(text, original, taken)
    found += _amounts(text, original, taken)
    found.sort(key=lambda x: x.start)
    if text != original:  # report what the writer wrote (１２月５日), not the folded form
        found = [Mention(m.kind, m.value, m.start, m.end, original[m.start:m.end], m.unit) for m in found]
    return found


def _days_alone(text: str, low: str, taken: list[tuple[int, int]]) -> list[Mention]:
    """A day of the month whose month is left unsaid: "by Friday the 15th", "周四（17 日）"."""
    out = []
    for m in _DAY_ALONE_EN.finditer(low) if _THE_NUMBER.search(low) else ():
        if _free(taken, m.start(), m.end()) and 1 <= int(m.group("d")) <= 31:
            taken.append((m.start(), m.end()))
            out.append(Mention("date", (None, None, int(m.group("d"))), m.start(), m.end(), text[m.start():m.end()]))
    for m in _DAY_ALONE.finditer(text) if _DAY_IN_PARENS.search(text) else ():
        if _free(taken, m.start(), m.end()) and 1 <= int(m.group("d")) <= 31:
            taken.append((m.start("d"), m.end()))
            out.append(Mention("date", (None, None, int(m.group("d"))), m.start("d"), m.end(), m.group(0)))
    return out


def _discounts(text: str, original: str, low: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out: list[Mention] = []
    if not ("折" in text or "off" in low or "discount" in low or "半价" in text or "半價" in text or "half" in low):
        return out
    for pattern, needs in zip(_DISCOUNT_PATTERNS, ("折", "%", "")):
        if needs not in text:  # each pattern's own character ("" is in every text)
            continue
        for m in pattern.finditer(text):
            if not _free(taken, m.start(), m.end()):
                continue
            g = m.groupdict()
            if g.get("z"):
                raw = g["z"]
                tenths = float(raw) if raw[0].isdigit() else chinese_number(raw) or 0.0
                if not raw[0].isdigit() and len(raw) == 2:  # 八五折 = 85 %
                    tenths = _CN_DIGITS[raw[0]] + _CN_DIGITS[raw[1]] / 10
                off = round(100 - tenths * (10 if tenths < 10 else 1), 4)
            elif g.get("n"):
                off = float(g["n"].replace(",", ""))
            else:
                off = 50.0
            if 0 < off < 100:
                taken.append((m.start(), m.end()))
                out.append(Mention("discount", off, m.start(), m.end(), original[m.start():m.end()]))
    return out


_PERCENT_GATES: tuple[Callable[[str, str], bool], ...] = (
    lambda t, low: "%" in t or "％" in t or "个百分点" in t or "個百分點" in t or "percent" in low or "per cent" in low,
    lambda t, low: "百分之" in t,
    lambda t, low: "percent" in low or "per cent" in low,
    lambda t, low: "成" in t,
)
"""Per percent pattern, (text, lower-cased text) → whether it can match: 成 alone (完成) lets every Chinese text in.
"percent" has no letter that ``re.IGNORECASE`` folds apart from ``str.lower``, so the test on ``low`` is exact."""


def _percents(text: str, original: str, low: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out: list[Mention] = []
    if not (_TRIGGERS["percent"](low) or "成" in text):
        return out
    for pattern, holds in zip(_PERCENT_PATTERNS, _PERCENT_GATES):
        if not holds(text, low):
            continue
        for m in pattern.finditer(text):
            if not _free(taken, m.start(), m.end()):
                continue
            g = m.groupdict()
            if g.get("c1"):
                n: float | None = _CN_DIGITS[g["c1"]] * 10 + (_CN_DIGITS[g["c2"]] if g.get("c2") else 0)
            else:
                n = _number(g.get("n") or g.get("cn") or g.get("w") or "")
            if n is not None:
                taken.append((m.start(), m.end()))
                out.append(Mention("percent", n, m.start(), m.end(), original[m.start():m.end()]))
    return out


def _durations(text: str, original: str, low: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out: list[Mention] = []
    # The English patterns all end in a unit word after a space or hyphen: one search decides for the three.
    run = {"zh_unit": _TRIGGERS["zh_unit"](low),
           "en_unit": _TRIGGERS["en_unit"](low) and _UNIT_AFTER_SPACE.search(low) is not None}
    for pattern, trigger in zip(_DURATION_PATTERNS, ("zh_unit", "en_unit", "en_unit", "en_unit")):
        if not run[trigger]:
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
            if "半" in unit_key:  # 两个半月 = 2.5 months
                n += 0.5
            taken.append((m.start(), m.end()))
            out.append(Mention("duration", (n * days, n, unit), m.start(), m.end(), original[m.start():m.end()]))
    return out


_DAY_IN_PARENS = re.compile(r"[日号號]\s*[）)]")
"""What every "（17 日）" holds (``_DAY_ALONE``): an English "(ref …)" does not send the text through the pattern."""
_THE_NUMBER = re.compile(r"the\s+\d")
"""What every "Friday the 15th" holds (``_DAY_ALONE_EN``), found by a literal-led search: most texts have none."""
_UNIT_AFTER_SPACE = re.compile(r"[\s-](?:business day|working day|day|week|month|year|hour|min|fortnight)")
"""What every English duration holds: its unit word right after a space or a hyphen ("3 days", "two-week")."""


_DAY_ALONE_EN = re.compile(r"\b(?=[mtwfs])(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?the\s+(?P<d>\d{1,2})(?:st|nd|rd|th)\b"
                           r"(?!\s+of\b)")
_DAY_ALONE = re.compile(r"(?<=[（(])\s*(?P<d>\d{1,2})\s*[日号號]\s*(?=[）)])")
_ISO_TIME = re.compile(r"(?<=\d)T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_RANGE_SEP = r"\s*(?:至|到|~|-|–|—|to|through|until|till|thru)\s*"
_RANGE_END_ZH = re.compile(_RANGE_SEP + r"(?P<d>\d{1,2})\s*[日号號]")
_RANGE_END_EN = re.compile(_RANGE_SEP + rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:[/:]|{_MON}))", re.I)
_RANGE_START_EN = re.compile(rf"(?<![\d/])(?P<d>\d{{1,2}})(?:st|nd|rd|th)?{_RANGE_SEP}$", re.I)


def _range_ends(text: str, low: str, dates: list[Mention], taken: list[tuple[int, int]]) -> list[Mention]:
    """The other end of a date range written once: 6月2日至9日, March 3-14, from 3 to 14 March."""
    out = []
    for m in dates:
        year, month, day = m.value  # type: ignore[misc]
        if day is None:
            continue
        tail = text[m.end:m.end + 12]
        end = _RANGE_END_ZH.match(tail) or _RANGE_END_EN.match(tail)
        if end and _free(taken, m.end + end.start("d"), m.end + end.end("d")):
            d = int(end.group("d"))
            if day < d <= 31:
                a, b = m.end + end.start("d"), m.end + end.end(0)
                taken.append((a, b))
                out.append(Mention("date", (year, month, d), a, b, text[a:b]))
        head = low[max(0, m.start - 10):m.start]
        begin = _RANGE_START_EN.search(head)
        if begin:
            a = m.start - len(head) + begin.start("d")
            d = int(begin.group("d"))
            if _free(taken, a, a + len(begin.group("d"))) and 1 <= d < day:
                taken.append((a, a + len(begin.group("d"))))
                out.append(Mention("date", (year, month, d), a, a + len(begin.group("d")), text[a:a + len(begin.group("d"))]))
    return out


def _times(text: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out = []
    if _TIME_CUE_CHAR.search(text) is None and _TIME_CUE.search(text) is None:
        return out
    odd = _odd_case(text)
    for pattern, gate in zip(_TIME_PATTERNS, _TIME_GATES):
        if not (odd or gate(text)):
            continue
        for m in pattern.finditer(text):
            if not _free(taken, m.start(), m.end()):
                continue
            g = m.groupdict()
            if g.get("noon"):
                hour, minute = 12, 0
            else:
                h = _number(g["h"])
                if h is None:
                    continue
                hour = int(h)
                mi = g.get("mi")
                minute = 30 if g.get("half") else int(_number(mi) or 0) if mi else 0
                period = (g.get("p") or g.get("ap") or "").lower().replace(".", "")
                if period in ("下午", "晚上", "傍晚", "pm") and hour < 12:
                    hour += 12
                if period in ("中午",) and hour < 6:
                    hour += 12
            if not (0 <= hour <= 24 and 0 <= minute < 60):
                continue
            taken.append((m.start(), m.end()))
            out.append(Mention("time", (hour, minute), m.start(), m.end(), text[m.start():m.end()].strip()))
    return out


def _counts(text: str, original: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out = []
    for i, pattern in enumerate(_COUNT_PATTERNS):
        if _COUNT_WORDS[i].search(text) is None:
            continue  # no measure word, no count: most texts have none of any list
        for m in pattern.finditer(text):
            if not _free(taken, m.start(), m.end()):
                continue
            n = _number(m.group("n"))
            if n is None or n <= 0:
                continue
            if i == 1 and n < 10:  # "两个方案", "3 个问题": small counts of things are phrasing, not facts
                continue
            taken.append((m.start(), m.end()))
            out.append(Mention("count", n, m.start(), m.end(), original[m.start():m.end()]))
    return out


_CN_AMOUNT_CUE = re.compile("[万萬亿億元块塊]")


def _amounts(text: str, original: str, taken: list[tuple[int, int]]) -> list[Mention]:
    out = []
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
        stop = end if has_unit else m.end("n")
        currency = _CURRENCY.get(m.group("cur") or "") or _CURRENCY.get((m.group("suf") or "").lower())
        taken.append((start, stop))
        out.append(Mention("amount", value, start, stop, original[start:stop].strip(), currency))
    if _CN_AMOUNT_CUE.search(text) is not None:
        for m in _CN_AMOUNT_RE.finditer(text):
            if not _free(taken, m.start("cn"), m.end("cn")):
                continue
            raw = m.group("cn")
            big = any(c in raw for c in "万萬亿億")
            if not (m.group("suf") or (m.group("cur") and big) or big):
                continue
            n = chinese_number(raw.replace("两", "二").replace("兩", "二"))
            if n is None or n < 1:
                continue
            suf = m.group("suf") or ""
            if suf in ("万元", "萬元"):
                n *= 10_000
            start = m.start("cur") if m.group("cur") else m.start("cn")
            taken.append((start, m.end()))
            currency = _CURRENCY.get(m.group("cur") or "") or _CURRENCY.get(suf)
            out.append(Mention("amount", n, start, m.end(), original[start:m.end()].strip(), currency))
    return out


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
        self.times: set[tuple[int, int]] = set()
        self.discounts: set[float] = set()
        self.duration_counts: set[float] = set()
        self._texts = tuple(texts)
        concrete: list[dt.date] = list(dates)
        for text in self._texts:
            for mention in extract(text):
                self._add(mention, concrete)
        for d in concrete:
            self._add_date(d.year, d.month, d.day)
        self.business_spans: set[float] = set()
        for a, b in combinations(sorted(set(concrete)), 2):
            self.day_spans.add(float(abs((b - a).days)))
            self.business_spans.add(float(_business_days(a, b)))

    @cached_property
    def plain(self) -> set[float]:
        """Every number written in the texts, with or without a unit ("three landing pages" → 3).

        Built on first use: only a count or a bare figure the typed sets do not ground asks."""
        return set().union(*map(_plain_numbers, self._texts))

    @cached_property
    def unit_numbers(self) -> set[tuple[float, str]]:
        """(number, unit) for a number and a time unit in one clause: "22 design and development days".

        Built on first use: only a duration the typed sets do not ground asks, and it reads every clause again."""
        return set().union(*map(_unit_numbers, self._texts))

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
        elif m.kind == "count":
            self.numbers.add(round(float(m.value), 4))  # type: ignore[arg-type]
        elif m.kind == "time":
            self.times.add(m.value)  # type: ignore[arg-type]
        elif m.kind == "discount":
            self.discounts.add(float(m.value))  # type: ignore[arg-type]
        elif m.kind == "duration":
            days, count, unit = m.value  # type: ignore[misc]
            self.durations.add((round(days, 4), "days"))
            self.durations.add((float(count), unit))
            self.duration_counts.add(float(count))

    def grounded(self, m: Mention) -> bool:
        if m.kind == "date":
            year, month, day = m.value  # type: ignore[misc]
            if day is None:
                return (year, month) in self.year_month if year is not None else month in self.months
            if month is None:
                return any(d == day for _, d in self.month_day)
            if year is None:
                return (month, day) in self.month_day
            return (year, month, day) in self.full
        if m.kind == "percent":
            return float(m.value) in self.percents or float(m.value) in self.discounts  # type: ignore[arg-type]
        if m.kind == "count":
            return round(float(m.value), 4) in self.numbers or float(m.value) in self.plain  # type: ignore[arg-type]
        if m.kind == "amount":
            if round(float(m.value), 4) in self.numbers:  # type: ignore[arg-type]
                return True
            # a bare figure ("16 for the core set") may be any number the scenario writes, with any unit
            return m.unit is None and m.text.replace(",", "").replace(".", "").isdigit() and (
                float(m.value) in self.plain or float(m.value) in self.duration_counts)  # type: ignore[arg-type]
        if m.kind == "time":
            return m.value in self.times
        if m.kind == "discount":
            return float(m.value) in self.discounts or float(m.value) in self.percents  # type: ignore[arg-type]
        days, count, unit = m.value  # type: ignore[misc]
        if (float(count), unit) in self.durations or (round(days, 4), "days") in self.durations:
            return True
        if (float(count), unit) in self.unit_numbers:
            return True
        if unit in ("day", "week"):
            return days in self.day_spans
        if unit in ("month", "year"):
            # a month is 28-31 days: "one month later" matches dates 28-31 days apart (per month counted)
            if count != int(count):
                return False  # "两个半月" is an estimate of its own, not a gap between two dates
            return any(abs(span - days) <= 3 * max(1.0, count if unit == "month" else count * 12)
                       for span in self.day_spans)
        if unit == "bday":
            return float(count) in self.business_spans
        return False


_PLAIN_NUMBER = re.compile(rf"(?=[\dotfsena{_CN_NUM}])(?:\d+(?:,\d{{3}})*(?:\.\d+)?|\b(?:{_EN_NUMBER_WORDS})\b|"
                           rf"[{_CN_NUM}]{{1,4}}(?=[名位个個台条條家项項件套张張人组組]))", re.I)


@lru_cache(maxsize=4096)
def _plain_numbers(text: str) -> frozenset[float]:
    """Numbers outside any date, time, duration or percentage: "three landing pages", "40 台".

    Memoised per text, like :func:`extract`: scenarios of one batch share most of their sentences. A text with no
    number is not extracted at all (``_unit_numbers`` asks this of every clause with a time unit)."""
    found = list(_PLAIN_NUMBER.finditer(fold(text)))
    if not found:
        return frozenset()
    out = set()
    spans = [(m.start, m.end) for m in extract(text) if m.kind in ("date", "time", "duration", "percent")]
    for m in found:
        if any(a <= m.start() < b for a, b in spans):
            continue
        n = _number(m.group(0))
        if n is not None:
            out.add(float(n))
    return frozenset(out)


_UNIT_WORDS = {"day": re.compile(r"\bdays?\b|天|日(?!期)"), "bday": re.compile(r"working days?|business days?|工作日|工作天"),
               "week": re.compile(r"\bweeks?\b|周|週|星期|禮拜|礼拜"), "month": re.compile(r"\bmonths?\b|个月|個月"),
               "hour": re.compile(r"\bhours?\b|小时|小時")}
_CLAUSE_SPLIT = re.compile(r"[;；。！？!?\n，、]|,(?!\d)|\.(?!\d)")


@lru_cache(maxsize=4096)
def _unit_numbers(text: str) -> frozenset[tuple[float, str]]:
    """A number and a time unit written in one clause, apart: "22 design and development days" → (22, day)."""
    out: set[tuple[float, str]] = set()
    for clause in _CLAUSE_SPLIT.split(fold(text)):
        low = clause.lower()
        units = [u for u, pattern in _UNIT_WORDS.items() if pattern.search(low)]
        if not units:
            continue
        for n in _plain_numbers(clause):
            out.update((n, u) for u in units)
    return frozenset(out)


def _business_days(a: dt.date, b: dt.date) -> int:
    """Weekdays from ``a`` (exclusive) to ``b`` (inclusive): 2027-01-08 → 2027-01-22 is 10 working days."""
    days = (b - a).days
    weeks, rest = divmod(days, 7)
    extra = sum(1 for i in range(1, rest + 1) if (a + dt.timedelta(days=i)).weekday() < 5)
    return weeks * 5 + extra
