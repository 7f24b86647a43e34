"""Text primitives the grounding and the checks share: sentences, clauses, content features, lexicon search.

Kept apart from the checks so the grounding (which the checks use) imports nothing of theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Terms", "clauses_of", "count_sentences", "features", "sentences_of"]

_SENTENCE = re.compile(r"(?:[^。！？!?;；\n.]+|\.(?=[^\s\"'”’)]))+[。！？!?;；.]?[\"'”’)]?|\n|\.")
_CLAUSE = re.compile(r"(?:[^。！？!?;；\n，,、：:]+|(?<=\d)[,:](?=\d))+[。！？!?;；，,、：:]?")
"""A comma or colon between digits (NT$680,000, 10:30) does not end a clause. Runs of ordinary characters are
taken whole (``[^…]+``), not one character per turn of the group: the same matches, in a fraction of the time."""
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_EN_STOP = frozenset("""a an the and or but of to in on at for with by from as is are was were be been it its this that
these those we our us you your they their not no will would can could should may might has have had do does did so
if than then there which who what when all any more most some such only also very just about into over after before
because due""".split())
_WORDS = re.compile(r"[a-z][a-z\-']{2,}|\d+(?:[.,]\d+)?")
_ABBREVIATION = re.compile(r"(?:\b(?:mr|ms|mrs|dr|st|no|vs|etc|e\.g|i\.e|approx|inc|ltd|co)|\d)\.$", re.I)


@lru_cache(maxsize=8192)
def sentences_of(text: str) -> list[tuple[int, int, str]]:
    """Sentences (and lines) as (start, end, text); "Dr. Shah" and "v2.3" do not end one."""
    out: list[tuple[int, int, str]] = []
    for m in _SENTENCE.finditer(text):
        if not m.group(0).strip():
            continue
        out.append((m.start(), m.end(), m.group(0)))
    merged: list[tuple[int, int, str]] = []
    for start, end, sentence in out:
        if merged and merged[-1][1] == start and _abbreviated(merged[-1][2]):
            a, _, t = merged.pop()
            merged.append((a, end, t + sentence))
        else:
            merged.append((start, end, sentence))
    return merged


def _abbreviated(sentence: str) -> bool:
    r"""Whether ``sentence`` ends in an abbreviation's full stop ("Dr.", "e.g.") or a digit's ("v2.").

    Only its last ten characters are searched: every match of ``_ABBREVIATION`` ends at the end and is at most
    seven characters long, so ten keep the character before it, which ``\b`` reads."""
    tail = sentence.rstrip()[-10:]
    return tail.endswith(".") and _ABBREVIATION.search(tail) is not None


@lru_cache(maxsize=8192)
def clauses_of(text: str) -> list[tuple[int, int, str]]:
    """Clauses: sentences cut again at commas, enumeration commas and colons."""
    out = []
    for start, _end, sentence in sentences_of(text):
        out += [(start + m.start(), start + m.end(), m.group(0)) for m in _CLAUSE.finditer(sentence)
                if m.group(0).strip()]
    return out


@lru_cache(maxsize=8192)
def features(text: str) -> frozenset[str]:
    """Chinese character bigrams and English content words: what "the same content" is measured in."""
    low = text.lower()
    feats = {w.rstrip("s") for w in _WORDS.findall(low) if w not in _EN_STOP}
    for run in _CJK_RUN.findall(low):
        feats.update(map(str.__add__, run, run[1:]))  # each pair of neighbours, paired in C
    return frozenset(feats)


@lru_cache(maxsize=256)
def _charset(low: str) -> frozenset[str]:
    return frozenset(low)


@dataclass(frozen=True, slots=True)
class Terms:
    """A lexicon, searched with ``str.find`` per term: far faster than one big regex alternation in CPython.

    English terms that start with a letter must start a word ("you" does not match "layout").
    """

    terms: tuple[tuple[str, bool], ...]

    @classmethod
    def of(cls, *lists: list[str]) -> Terms:
        words = sorted({t.lower() for lst in lists for t in lst}, key=len, reverse=True)
        return cls(tuple((t, t[0].isascii() and t[0].isalnum()) for t in words))

    def _hits(self, low: str, first_only: bool) -> list[tuple[int, int]]:
        hits = []
        present = _charset(low)
        for term, word_start in self.terms:
            if term[0] not in present:  # most terms cannot occur: skip them without scanning
                continue
            i = low.find(term)
            while i >= 0:
                if not word_start or i == 0 or not (low[i - 1].isascii() and low[i - 1].isalnum()):
                    hits.append((i, i + len(term)))
                    if first_only:
                        break
                i = low.find(term, i + 1)
        return hits

    def find(self, low: str) -> tuple[int, int] | None:
        """The earliest occurrence, as (start, end), or None."""
        hits = self._hits(low, True)
        return min(hits) if hits else None

    def spans(self, low: str) -> list[tuple[int, int]]:
        """Every occurrence, as (start, end)."""
        return self._hits(low, False)

    def starts(self, low: str) -> list[int]:
        """Where the terms occur, sorted: one scan of the text, then sentences look up their share."""
        return sorted(a for a, _ in self._hits(low, False))


class MultiTerms:
    """Many named lexicons searched in one pass over a text, with an Aho-Corasick automaton (pyahocorasick).

    ``Terms`` scans the text once per term; a draft read by a dozen lexicons of hundreds of terms each is far
    cheaper to walk once. English terms that start with a letter must start a word, as in ``Terms``.
    """

    def __init__(self, lexicons: dict[str, Terms]) -> None:
        import ahocorasick

        entries: dict[str, list[tuple[str, bool]]] = {}
        for label, terms in lexicons.items():
            for term, word_start in terms.terms:
                entries.setdefault(term, []).append((label, word_start))
        automaton = ahocorasick.Automaton()
        for term, labels in entries.items():  # split once here, not per hit: the labels any start serves, and
            free = tuple(label for label, word_start in labels if not word_start)  # those that need a word start
            bound = tuple(label for label, word_start in labels if word_start)
            automaton.add_word(term, (len(term), free, bound))
        automaton.make_automaton()
        self.automaton = automaton
        self.labels = tuple(lexicons)

    def scan(self, low: str) -> dict[str, list[tuple[int, int]]]:
        """label → sorted (start, end) of every occurrence."""
        found: dict[str, list[tuple[int, int]]] = {label: [] for label in self.labels}
        if not low:
            return found
        for last, (length, free, bound) in self.automaton.iter(low):
            start = last - length + 1
            span = (start, last + 1)
            for label in free:
                found[label].append(span)
            if bound and (start == 0 or not (low[start - 1].isascii() and low[start - 1].isalnum())):
                for label in bound:
                    found[label].append(span)
        for hits in found.values():
            if len(hits) > 1:
                hits.sort()
        return found


_TERMINAL = re.compile(r"[。！？!?]+|\.(?=\s|$)")


def count_sentences(text: str) -> int:
    """Sentence ends in ``text`` (。！？!? and a full stop before a space or the end; "1.86" is not one)."""
    return len(_TERMINAL.findall(text))
