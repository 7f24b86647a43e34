"""The guard's speed-ups change no verdict: the gated and rewritten patterns find what the plain ones found.

Each case below was extracted by the patterns before they were gated (a cheap test of what every match holds
decides whether a pattern runs) and rewritten to consume their first digit (so ``re`` can skip ahead in C). The
lexicon and memo changes are held to the slower forms they replace. ``benchmarks/guard_verdicts.py`` compares
every labelled draft's verdict byte for byte; these pin the edges that corpus may not reach.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pmcomm_llm.grounding.checks import _concepts_in, _leak_concepts
from pmcomm_llm.grounding.quantities import Grounding, extract
from pmcomm_llm.grounding.text import MultiTerms, Terms, features, sentences_of

CASES = [
    ("Two engineers join on March 3rd; the third of march is a holiday, and 4 June works at 10:30 am.",
     [("count", 2.0, 0, 13, "Two engineers"), ("date", (None, 3, 3), 22, 31, "March 3rd"),
      ("date", (None, 3, 3), 33, 51, "the third of march"), ("date", (None, 6, 4), 70, 76, "4 June"),
      ("time", (10, 30), 86, 95, "10:30 am.")]),
    ("We meet at 3pm, or by 5, or at noon; 15% off for twenty-five percent of the units (2 pages).",
     [("time", (15, 0), 11, 14, "3pm"), ("time", (12, 0), 31, 35, "noon"), ("discount", 15.0, 37, 44, "15% off"),
      ("percent", 25.0, 49, 68, "twenty-five percent"), ("count", 2.0, 83, 90, "2 pages")]),
    ("Friday the 15th, then 3/14 and 12/31/2027, about 3 working days or a two-week sprint.",
     [("date", (None, None, 15), 0, 15, "Friday the 15th"), ("date", (None, 3, 14), 22, 26, "3/14"),
      ("date", (2027, 12, 31), 31, 41, "12/31/2027"), ("duration", (3.0, 3.0, "bday"), 49, 63, "3 working days"),
      ("duration", (14.0, 2.0, "week"), 69, 77, "two-week")]),
    ("2027年1月20日上线，1月底前完成，3点开会，下午3点半复盘，两名工程师，12台设备，打八折，百分之三十，七成，已完成。",
     [("date", (2027, 1, 20), 0, 10, "2027年1月20日"), ("date", (None, 1, None), 13, 16, "1月底"),
      ("time", (3, 0), 20, 22, "3点"), ("time", (15, 30), 25, 30, "下午3点半"), ("count", 2.0, 33, 35, "两名"),
      ("count", 12.0, 39, 42, "12台"), ("discount", 20.0, 45, 48, "打八折"), ("percent", 30.0, 49, 54, "百分之三十"),
      ("percent", 70, 55, 57, "七成")]),
    ("周四（17 日）确认，2027年3月，预计 5 个工作日，约需 96 万元。",
     [("date", (None, None, 17), 3, 7, "17 日"), ("date", (2027, 3, None), 11, 18, "2027年3月"),
      ("duration", (5.0, 5.0, "bday"), 22, 28, "5 个工作日"), ("amount", 960000.0, 32, 37, "96 万元")]),
    # ı, ſ and İ match i and s under re.IGNORECASE but do not lower-case to them: a gate that tests the
    # lower-cased text for "midday" must not keep the pattern from running
    ("ſix engineers, ſeven ſites, at mıdday, İn 3 days.",
     [("time", (12, 0), 31, 37, "mıdday"), ("duration", (3.0, 3.0, "day"), 42, 48, "3 days")]),
    # 成 (完成) and 时 (时间) alone no longer send a text through the percent and time patterns: same findings
    ("完成了 12 个模块，时间紧，七成", [("count", 12.0, 4, 8, "12 个"), ("percent", 70, 15, 17, "七成")]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extraction_is_what_the_ungated_patterns_found(text, expected):
    assert [(m.kind, m.value, m.start, m.end, m.text) for m in extract(text)] == expected


def test_an_abbreviation_or_a_version_does_not_end_a_sentence():
    text = "Dr. Shah reviewed v2.3. e.g. the fix. Then it shipped."
    assert [(a, b) for a, b, _ in sentences_of(text)] == [(0, 37), (37, 54)]


def test_features_pair_each_chinese_character_with_the_next():
    assert features("延期三天 delays") == frozenset({"延期", "期三", "三天", "delay"})


def test_plain_and_unit_numbers_ground_on_first_use():
    g = Grounding(["22 design and development days", "three landing pages"], [dt.date(2027, 1, 20)])
    assert g.grounded(extract("22 days")[0])  # a number and a unit apart in one clause
    assert g.grounded(extract("3 pages")[0])  # a number written as a word
    assert not g.grounded(extract("23 days")[0])


def test_one_pass_finds_the_concepts_each_lexicon_finds():
    concepts = _leak_concepts()
    texts = ["our senior engineer resigned last week", "核心开发已离职，项目组人手不足", "the team is on track", ""]
    for text in texts:
        low = text.lower()
        assert _concepts_in(low) == frozenset(n for n, terms in concepts.items() if terms.find(low) is not None)


def test_multi_terms_keeps_the_word_start_rule():
    scanner = MultiTerms({"you": Terms.of(["you"]), "款": Terms.of(["退款"])})
    found = scanner.scan("layout: you, 您的退款 and you")
    assert found == {"you": [(8, 11), (22, 25)], "款": [(15, 17)]}
