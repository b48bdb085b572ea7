"""Checking an answer against the passages it cites, sentence by sentence.

A sentence that cites ``[n]`` is supported when passage n (or, for ``[1, 3]``, one
of them taken together) holds what the sentence claims that a model could get
wrong: every number, every name (a capitalised word that is not the first of
the sentence), and most of its rarer words (content words of five letters or
more that are not among the commonest English words). Words are compared
stemmed and lower-cased, numbers with their thousands separators removed.

An answer that cites nothing at all (a small model's answer, from the one
passage it was given) is checked sentence by sentence against all of its sources.

Numbers in the answer that appear in none of the sources are listed too: an
invented figure is the costliest mistake a document assistant makes. A figure
written with letters ("72B", "40x30", "3rd") is one word, found only whole: its
digits alone are no evidence ("40x37" is not "50x37" because a page holds both).

When the app adds its own quote of a source after the model's text (an answer that
carries nothing of its source, ``prompting.fallback_quote``), ``quoted_from`` says
where that quote begins: it is the source's own words under the app's label ("From
the source (guide.pdf, page 4) [1]: ..."), so nothing of it is checked, and its
citation does not make the model's uncited sentences go unchecked.

Plain Python over the answer and a handful of passages: well under a millisecond
per sentence, so the check never holds up a finished answer.

A second signal, closeness in meaning, settles the sentences that the words alone
would flag only for their rarer words (a paraphrase says "rose" where its passage says
"increased"): ``closeness`` plans one batch for the embedder (those sentences and the
sentences of the passages they cite), and ``Closeness.apply`` accepts a sentence that
is closer to one of its passage's sentences than those sentences are to one another.
Numbers and names stay hard requirements: a changed figure or a swapped name reads
as close as the truth to an embedder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from allma_desktop.records import GroundingReport, SentenceCheck
from allma_desktop.services.retrieval.text_terms import STOPWORDS, stem

# A rare word must be found in at least this share of the cited passage's words;
# numbers and names must all be found. Chosen on bench/grounding_check.py's labelled set.
RARE_WORD_SHARE = 0.6
RARE_WORD_MIN_LENGTH = 5
# Sentences this short (after citations are taken out) say too little to check.
MIN_CHECKED_WORDS = 3


_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# A sentence ends at . ! ? (and any closing quote or bracket), before white space that is
# not followed by a citation (``… in 1998. [2]`` keeps its citation), or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?!\[\d)|\n+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")
_MARKUP = re.compile(r"[*_`#>|]+")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
# A figure written with letters: digits first, then a letter ("72B", "40x30", "1.5B", "3rd").
_FIGURE = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*[^\W\d_]\w*")
_FIGURE_OR_NUMBER = re.compile(f"{_FIGURE.pattern}|{_NUMBER.pattern}")
# "30 mg" on the page is "30mg" in an answer: the page's figures are also read glued.
_DIGIT_SPACE_LETTER = re.compile(r"(?<=\d) (?=[^\W\d_])")
# A thousands separator: a comma or a (thin, no-break) space before exactly three digits
# that do not go on as a decimal ("399 000", "12,500"; not "646 151,646").
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0 ](?=\d{3}(?![\d]|[.,]\d))")
_WORD = re.compile(r"[^\W\d_]+")

# The commonest English words beyond the stopwords: words any answer uses whatever its
# source, so finding or missing them says nothing about where a sentence came from.
COMMON_WORDS = frozenset(
    (
        "about above according across actually after again against along already also "
        "although always among another answer answers anything around based because become "
        "becomes before being below best better between both called cannot case cases "
        "certain change changes clear clearly could different does doing during each early "
        "either enough especially every example first following found further given going "
        "great group however important include included includes including information "
        "instead large later least less like likely little long made main make makes many "
        "means might more most much must necessary need needed needs never number numbers "
        "often only order other others overall part particular people place point possible "
        "provide provided provides question rather really related result results right same "
        "second several should show shown shows similar since small some something source "
        "sources specific state states still such system systems take than that their there "
        "these thing things think third those though three through time times together "
        "total under until used uses using usually various very well what when where whether "
        "which while whole within without would years document documents mentioned "
        "described describes stated states according text passage section page pages "
        # How a model frames its answer ("Therefore, the correct answer is 150."): words
        # of reasoning, not of the source (seen in SmolLM2's answers, bench/grounding_answers).
        "therefore thus hence correct incorrect conclusion "
    ).split()
)


@dataclass(frozen=True)
class _Claims:
    numbers: tuple[str, ...]
    figures: tuple[str, ...]  # digits and letters in one word, as written
    names: tuple[str, ...]
    rare: tuple[str, ...]
    words: int


class _Passage:
    """What a passage holds, in the forms the claims are compared in."""

    def __init__(self, text: str) -> None:
        flat = _flat(text)
        self.numbers = frozenset(_normal_number(n) for n in _NUMBER.findall(flat))
        self.figures = frozenset(
            figure.lower()
            for form in (flat, _DIGIT_SPACE_LETTER.sub("", flat))
            for figure in _FIGURE.findall(form)
        )
        self.terms = frozenset(stem(word) for word in _words(text))

    def merged(self, other: _Passage) -> _Passage:
        both = _Passage("")
        both.numbers = self.numbers | other.numbers
        both.figures = self.figures | other.figures
        both.terms = self.terms | other.terms
        return both

    def holds(self, figure_or_number: str) -> bool:
        if _FIGURE.fullmatch(figure_or_number):
            return figure_or_number.lower() in self.figures
        return _normal_number(figure_or_number) in self.numbers


def check_answer(
    answer: str, passages: Mapping[int, str], *, quoted_from: int | None = None
) -> GroundingReport:
    """Check each sentence of ``answer`` against the passages it cites (``{number: text}``).

    Sentences citing no known passage are not checked (unless the answer cites none
    at all, see the module docstring); numbers are looked for in every passage.
    ``answer[quoted_from:]`` is the app's quote of a source, not checked (see above).
    """
    model_text = answer if quoted_from is None else answer[:quoted_from]
    if not model_text.strip() or not passages:
        return GroundingReport()
    read = {number: _Passage(text) for number, text in passages.items()}
    spans = list(_sentences(model_text))
    cites_any = any(_cited(answer[start:end]) & read.keys() for start, end in spans)
    everything = _union(read.values())
    checks: list[SentenceCheck] = []
    for start, end in spans:
        sentence = answer[start:end]
        cited = sorted(_cited(sentence) & read.keys())
        implicit = False
        if not cited:
            if cites_any:
                continue
            cited, implicit = sorted(read), True
        claims = _claims(sentence)
        if claims.words < MIN_CHECKED_WORDS and not claims.numbers and not claims.figures:
            continue
        passage = _union(read[number] for number in cited)
        missing = _missing(claims, passage)
        checks.append(
            SentenceCheck(
                start=start,
                end=end,
                text=sentence.strip(),
                cited=tuple(cited),
                supported=not missing,
                missing=missing,
                implicit=implicit,
            )
        )
    invented = tuple(
        dict.fromkeys(
            match.group(0)
            for match in _FIGURE_OR_NUMBER.finditer(_without_citations(_flat(model_text)))
            if not everything.holds(match.group(0))
        )
    )
    return GroundingReport(tuple(checks), invented)


def _missing(claims: _Claims, passage: _Passage) -> tuple[str, ...]:
    missing = [n for n in claims.numbers if not passage.holds(n)]
    missing += [figure for figure in claims.figures if not passage.holds(figure)]
    missing += [name for name in claims.names if stem(name.lower()) not in passage.terms]
    if claims.rare:
        absent = [word for word in claims.rare if stem(word.lower()) not in passage.terms]
        if len(claims.rare) - len(absent) < RARE_WORD_SHARE * len(claims.rare):
            missing += [word for word in absent if word not in missing]
    return tuple(dict.fromkeys(missing))


def _claims(sentence: str) -> _Claims:
    text = _LIST_MARKER.sub("", _MARKUP.sub(" ", _without_citations(sentence))).strip()
    numbers = tuple(dict.fromkeys(_NUMBER.findall(_flat(text))))
    figures = tuple(dict.fromkeys(_FIGURE.findall(_flat(text))))
    names: list[str] = []
    rare: list[str] = []
    words = 0
    # A figure's letters are part of the figure ("72B" holds no name "B").
    for match in _WORD.finditer(_FIGURE.sub(lambda m: " " * len(m.group(0)), text)):
        word = match.group(0)
        lower = word.lower()
        if lower in STOPWORDS:
            continue
        words += 1
        # Capitalised inside the sentence (not as its first character): a name or a term.
        if word[0].isupper() and match.start() > 0:
            if word not in names:
                names.append(word)
        elif len(word) >= RARE_WORD_MIN_LENGTH and lower not in COMMON_WORDS and lower not in rare:
            rare.append(lower)
    return _Claims(numbers, figures, tuple(names), tuple(rare), words)


def answer_sentences(answer: str) -> list[str]:
    """The sentences of an answer as the check reads them, each with its citations."""
    return [answer[start:end] for start, end in _sentences(answer)]


def _sentences(answer: str) -> Iterable[tuple[int, int]]:
    """(start, end) of each sentence, white space trimmed, empty ones skipped."""
    start = 0
    for match in _SENTENCE_END.finditer(answer):
        yield from _trimmed(answer, start, match.start())
        start = match.end()
    yield from _trimmed(answer, start, len(answer))


def _trimmed(text: str, start: int, end: int) -> Iterable[tuple[int, int]]:
    piece = text[start:end]
    stripped = piece.strip()
    if stripped:
        offset = start + (len(piece) - len(piece.lstrip()))
        yield offset, offset + len(stripped)


def _cited(sentence: str) -> set[int]:
    return {
        int(part) for match in _CITATION.finditer(sentence) for part in match.group(1).split(",")
    }


def _without_citations(text: str) -> str:
    return _CITATION.sub(" ", text)


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _flat(text: str) -> str:
    """Thousands separators out ("12,500" -> "12500"), so both sides compare alike."""
    return _THOUSANDS.sub("", text)


def _normal_number(raw: str) -> str:
    number = _THOUSANDS.sub("", raw).replace(",", ".")
    if "." in number:
        number = number.rstrip("0").rstrip(".") or "0"
    return number.lstrip("0") or "0"


def _union(passages: Iterable[_Passage]) -> _Passage:
    result = _Passage("")
    for passage in passages:
        result = result.merged(passage)
    return result


# --- The second signal: closeness in meaning -----------------------------------------

# What one answer may cost the embedder: this many of its sentences, each passage cut to
# this many sentences (a typical answer asks for a few dozen short texts, one request).
MAX_CLOSE_SENTENCES = 8
MAX_PASSAGE_SENTENCES = 12
# A passage's sentences compared with one another give the closeness of "same page, other
# claim"; a sentence is close in meaning when it beats the closest such pair by this much.
# Too few pairs to know the page's own closeness: no decision, the words stand.
CLOSENESS_MARGIN = 0.05
MIN_BACKGROUND_PAIRS = 3
_PASSAGE_SENTENCE_MIN_WORDS = 4


@dataclass(frozen=True)
class Closeness:
    """One embedder batch for an answer's check, and how its vectors decide.

    ``texts`` are the sentences asked about (those flagged only for their rarer words),
    then the sentences of the passages they cite; ``apply`` takes their vectors, in
    that order, and returns the report with those sentences decided.
    """

    sentences: tuple[SentenceCheck, ...]
    passages: Mapping[int, tuple[str, ...]]

    @property
    def texts(self) -> list[str]:
        asked = [_plain(check.text) for check in self.sentences]
        return asked + [text for number in sorted(self.passages) for text in self.passages[number]]

    def apply(
        self,
        report: GroundingReport,
        vectors: Sequence[Sequence[float]],
        margin: float = CLOSENESS_MARGIN,
    ) -> GroundingReport:
        if len(vectors) != len(self.texts):
            raise ValueError(f"{len(vectors)} vectors for {len(self.texts)} texts")
        units = [_unit(vector) for vector in vectors]
        asked = dict(zip((c.start for c in self.sentences), units, strict=False))
        passage_units: dict[int, list[list[float]]] = {}
        at = len(self.sentences)
        for number in sorted(self.passages):
            count = len(self.passages[number])
            passage_units[number] = units[at : at + count]
            at += count
        decided: list[SentenceCheck] = []
        for check in report.sentences:
            vector = asked.get(check.start)
            if vector is None:
                decided.append(check)
                continue
            pool = [v for number in check.cited for v in passage_units.get(number, ())]
            decided.append(_decided(check, vector, pool, margin))
        return replace(report, sentences=tuple(decided))


def closeness(report: GroundingReport, passages: Mapping[int, str]) -> Closeness | None:
    """The embedder batch that would settle ``report``'s doubtful sentences, or None.

    A sentence is doubtful when it is flagged, and every number and name it holds was
    found in its passage: only rarer words were missing.
    """
    doubtful: list[SentenceCheck] = []
    for check in report.sentences:
        if check.supported or len(doubtful) >= MAX_CLOSE_SENTENCES:
            continue
        claims = _claims(check.text)
        hard = {*claims.numbers, *claims.figures, *claims.names}
        if any(item in hard for item in check.missing):
            continue
        doubtful.append(check)
    if not doubtful:
        return None
    cited = sorted({number for check in doubtful for number in check.cited} & passages.keys())
    split = {number: tuple(passage_sentences(passages[number])) for number in cited}
    return Closeness(tuple(doubtful), {n: texts for n, texts in split.items() if texts})


def passage_sentences(text: str) -> list[str]:
    """A passage's sentences of a few words or more, at most ``MAX_PASSAGE_SENTENCES``."""
    flat = " ".join(text.split())
    found = [
        flat[start:end]
        for start, end in _sentences(flat)
        if len(_WORD.findall(flat[start:end])) >= _PASSAGE_SENTENCE_MIN_WORDS
    ]
    return found[:MAX_PASSAGE_SENTENCES]


def _decided(
    check: SentenceCheck, vector: list[float], pool: list[list[float]], margin: float
) -> SentenceCheck:
    if not pool:
        return check
    best = max(_dot(vector, other) for other in pool)
    pairs = [_dot(a, b) for i, a in enumerate(pool) for b in pool[i + 1 :]]
    close = len(pairs) >= MIN_BACKGROUND_PAIRS and best >= max(pairs) + margin
    return replace(check, closeness=round(best, 3), supported=close, close_in_meaning=close)


def _plain(sentence: str) -> str:
    """The sentence as words: no citations, no Markdown, no space before its stop."""
    text = _LIST_MARKER.sub("", _MARKUP.sub(" ", _CITATION.sub("", sentence)))
    return re.sub(r"\s+(?=[.,;:!?])", "", " ".join(text.split()))


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=False))
