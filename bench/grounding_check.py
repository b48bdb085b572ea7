"""How well the answer checker (retrieval/grounding.py) tells supported sentences from altered ones.

A labelled set is built from the documents of the shared question set
(``../shared/qa``): for each question, the chunks of its answer page (as the app
cuts them) are the passages. True sentences are taken from a passage and cited
to it; altered ones are the same sentences with a number changed, with a name
swapped for one from another page of the document, or a sentence taken from
another page, cited to the passage all the same. Paraphrases are true sentences
said in other words: at least 40% of their rarer words swapped for synonyms from
the table below (numbers and names kept), as a model rewording its source would.
Targets (issue 19): at least 90% of altered sentences flagged, at most 10% of true
sentences (paraphrases included) flagged; a typical answer checked in under 50 ms.

Each sentence is checked twice in the same run: by its words alone, then with the
second signal, closeness in meaning (``Closeness``), from the embedder named by
``--embedder``: ``test`` is the Ollama test server's (hashed words and word pairs,
no model: it knows no synonyms, so it can only credit what a paraphrase kept of
its source), ``minilm`` is all-MiniLM-L6-v2 from the benchmark environment.

    .venv/bin/python -m bench.grounding_check [--embedder test|minilm] [--sweep]

``--sweep`` also decides at other margins (the vectors are asked for once): the margin
is tuned on half the documents and its figures are given on the other half.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from allma_desktop.records import GroundingReport
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.documents.service import DocumentService
from allma_desktop.services.retrieval.grounding import (
    CLOSENESS_MARGIN,
    Closeness,
    check_answer,
    closeness,
)
from allma_desktop.services.retrieval.text_terms import stem
from bench.common import PDF_CORPUS, percentile
from bench.qa_set import load_questions

TRUE_KINDS = ("true", "paraphrase")
Embed = Callable[[list[str]], list[list[float]]]

# Synonyms a model rewording a sentence might use, for the general words of the set's
# documents (not their terms of art: a drug or a file format has no synonym).
SYNONYMS = {
    word: other
    for pair in (
        "treatment:therapy evaluation:assessment children:kids studies:trials "
        "infection:disease quality:standard support:backing specifically:particularly "
        "capabilities:abilities storage:keeping general:overall level:degree "
        "applications:uses access:entry common:frequent compared:contrasted "
        "adolescents:teenagers community:local human:people instruction:teaching "
        "compute:calculate memory:recall process:procedure image:picture range:span "
        "languages:tongues health:wellbeing effective:successful study:trial lower:smaller "
        "services:provisions advantages:benefits knowledge:expertise required:needed "
        "available:obtainable output:result understanding:grasp primary:main "
        "screening:testing integrated:combined scale:size participants:subjects "
        "reported:described considerations:factors sharing:pooling preference:liking "
        "significantly:markedly analysis:examination larger:bigger notably:remarkably "
        "coding:programming multiple:several scientific:academic hardware:machines "
        "users:people typically:normally built:constructed addition:extension "
        "version:edition images:pictures standard:normal strategy:plan sizes:dimensions "
        "ensure:guarantee conducted:carried estimated:approximated persons:individuals "
        "infected:afflicted safety:security living:residing adults:grownups "
        "evidence:proof higher:greater pooled:combined supply:provision "
        "management:handling drugs:medicines trained:taught optimize:improve "
        "technologies:techniques series:sequence competitive:rival tuned:adjusted "
        "domains:fields experts:specialists reasoning:logic responses:replies "
        "compare:contrast campaign:drive operating:running introduction:start "
        "functions:routines known:recognised value:worth currently:presently "
        "useful:helpful generated:produced method:technique allow:permit "
        "introduced:brought complex:complicated defined:specified build:construct "
        "smaller:lesser existing:current clean:tidy response:reply blood:serum "
        "detect:spot collected:gathered initial:first positive:reactive "
        "major:chief countries:nations infections:diseases global:worldwide "
        "reduction:decrease chronic:persistent previous:earlier identified:found "
        "sites:locations populations:groups approach:method tests:checks "
        "design:layout quantitative:numeric weight:mass dense:packed parameters:settings "
        "enhancing:improving proprietary:closed traditional:conventional "
        "solutions:answers requirements:needs components:parts layers:tiers "
        "network:web environment:setting optionally:voluntarily download:fetch "
        "generally:broadly mechanism:means shared:common specified:stated amount:quantity "
        "present:current values:amounts colors:colours rendered:drawn create:make "
        "supported:backed color:colour correct:right ability:capacity normal:usual "
        "require:need display:show extra:additional interface:surface "
        "difference:gap returned:given updated:revised natural:innate world:globe "
        "designed:devised supports:backs development:growth platforms:systems "
        "diagnostic:diagnosing sample:specimen manner:way elimination:eradication "
        "mainly:chiefly burden:load baseline:starting diagnosis:detection highly:very "
        "remain:stay effects:impacts recently:lately approved:authorised "
        "therefore:thus observed:seen population:people received:got majority:bulk "
        "failure:breakdown relative:comparative outcomes:results treated:handled "
        "achieved:attained recommended:advised national:countrywide differ:vary "
        "strong:powerful critical:crucial groups:sets comprehensive:complete "
        "areas:regions perform:carry facility:centre established:set screened:tested "
        "increase:rise unique:distinct capacity:ability laboratory:lab patients:sufferers "
        "mobile:portable initiation:start generation:production accuracy:precision "
        "considered:deemed particularly:especially released:published scores:marks "
        "enhance:boost learning:training length:extent diverse:varied assess:judge "
        "implement:apply protocol:procedure prompts:inputs commonly:often "
        "guidance:advice reference:citation transfer:transmission providing:giving "
        "finally:lastly handling:treatment written:authored created:made limit:cap "
        "building:constructing stored:kept produce:yield containing:holding "
        "frequently:often allows:lets equivalent:matching choice:option options:choices "
        "significant:notable effectively:efficiently quickly:rapidly enabled:activated "
        "parts:pieces involves:entails subsequent:later resolution:detail"
    ).split()
    for word, other in [pair.split(":")]
}

SEED = 19
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
# A name inside a sentence: capitalised after a lower-case word (not a sentence's first word).
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}[A-Za-z]*\b")


@dataclass(frozen=True)
class Case:
    kind: str  # "true", "paraphrase", "number", "name", "other page"
    sentence: str
    passage: str
    doc: str = ""

    @property
    def altered(self) -> bool:
        return self.kind not in TRUE_KINDS


def checkable(sentence: str) -> bool:
    """A whole prose sentence: 8 to 60 words, mostly letters (not a table row or a heading)."""
    words = sentence.split()
    letters = sum(ch.isalpha() for ch in sentence)
    return 8 <= len(words) <= 60 and letters > 0.7 * len(sentence.replace(" ", ""))


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if checkable(s.strip())]


def changed_number(sentence: str, passage: str, rng: random.Random) -> str | None:
    numbers = _NUMBER.findall(sentence)
    if not numbers:
        return None
    old = rng.choice(numbers)
    digits = old.replace(",", "").replace(".", "")
    for _ in range(20):
        new = str(int(digits) + rng.choice((1, 2, 3, 5, 7, 10, 13))) if digits.isdigit() else "7"
        if new not in passage:
            return re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", new, sentence, count=1)
    return None


def swapped_name(
    sentence: str, passage: str, names: Sequence[str], rng: random.Random
) -> str | None:
    present = list(_NAME.finditer(sentence))
    others = [n for n in names if n.lower() not in passage.lower()]
    if not present or not others:
        return None
    old = rng.choice(present)
    return sentence[: old.start()] + rng.choice(others) + sentence[old.end() :]


def paraphrased(sentence: str) -> str | None:
    """``sentence`` with its rarer words swapped for synonyms, if at least 40% of them can be."""
    rare = [
        word
        for word in re.findall(r"[A-Za-z]+", sentence)
        if len(word) >= 5 and not word[0].isupper()
    ]
    swappable = [word for word in rare if word.lower() in SYNONYMS]
    if not rare or len(swappable) < 0.4 * len(rare):
        return None
    return re.sub(
        r"\b[a-z]+\b",
        lambda match: SYNONYMS.get(match.group(0), match.group(0)),
        sentence,
    )


def build_cases(chunks_by_doc: dict[str, list[Chunk]], rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    seen: set[tuple[str, int]] = set()
    for question in load_questions():
        key = (question.doc, question.page)
        if key in seen or question.doc not in chunks_by_doc:
            continue
        seen.add(key)
        chunks = chunks_by_doc[question.doc]
        page_chunks = [c for c in chunks if c.page == question.page]
        far_chunks = [c for c in chunks if c.page is not None and abs(c.page - question.page) > 3]
        names = sorted({n for c in far_chunks for n in _NAME.findall(c.text)})
        for chunk in page_chunks:
            for sentence in sentences_of(chunk.text)[:3]:
                cases.append(Case("true", sentence, chunk.text, question.doc))
                reworded = paraphrased(sentence)
                if reworded is not None and {stem(w) for w in reworded.lower().split()} - {
                    stem(w) for w in chunk.text.lower().split()
                }:
                    cases.append(Case("paraphrase", reworded, chunk.text, question.doc))
                number = changed_number(sentence, chunk.text, rng)
                if number is not None:
                    cases.append(Case("number", number, chunk.text, question.doc))
                name = swapped_name(sentence, chunk.text, names, rng)
                if name is not None:
                    cases.append(Case("name", name, chunk.text, question.doc))
                for _ in range(5):
                    other = rng.choice(far_chunks) if far_chunks else None
                    picked = sentences_of(other.text) if other is not None else []
                    if picked:
                        cases.append(
                            Case("other page", rng.choice(picked), chunk.text, question.doc)
                        )
                        break
    return cases


def is_flagged(report: GroundingReport) -> bool:
    return report.checked > 0 and report.supported < report.checked


@dataclass(frozen=True)
class Checked:
    """A case's check by its words, and the embedder's vectors for its doubtful sentences.

    The vectors are asked for once; ``report`` decides with them at any margin, so the
    margin sweep costs no more embedding than one run.
    """

    case: Case
    words: GroundingReport
    plan: Closeness | None
    vectors: list[list[float]]

    @classmethod
    def of(cls, case: Case, embed: Embed | None) -> Checked:
        answer, passages = f"{case.sentence} [1]", {1: case.passage}
        words = check_answer(answer, passages)
        plan = closeness(words, passages) if embed is not None else None
        vectors = embed(plan.texts) if plan is not None and embed is not None else []
        return cls(case, words, plan, vectors)

    def report(self, margin: float = CLOSENESS_MARGIN) -> GroundingReport:
        if self.plan is None:
            return self.words
        return self.plan.apply(self.words, self.vectors, margin)


MARGINS = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2)


def shares(results: Sequence[Checked], margin: float | None) -> tuple[float, float]:
    """(% altered flagged, % true and paraphrased flagged); ``margin`` None is words alone."""
    altered = [
        is_flagged(r.words if margin is None else r.report(margin))
        for r in results
        if r.case.altered
    ]
    true = [
        is_flagged(r.words if margin is None else r.report(margin))
        for r in results
        if not r.case.altered
    ]
    return 100 * sum(altered) / max(1, len(altered)), 100 * sum(true) / max(1, len(true))


def tuned_margin(results: Sequence[Checked]) -> float:
    """The margin that best separates altered from true on ``results``: the largest
    (altered flagged - true flagged); on a tie the larger margin, which credits less."""

    def score(margin: float) -> tuple[float, float]:
        altered, true = shares(results, margin)
        return (round(altered - true, 6), margin)

    return max(MARGINS, key=score)


def sweep(results: Sequence[Checked]) -> None:
    """Tune the margin on half the documents, report it on the other half, and both ways."""
    docs = sorted({r.case.doc for r in results})
    halves = (docs[0::2], docs[1::2])
    print("margin sweep (altered flagged / true flagged), by document halves:")
    print(
        f"  {'margin':>7} "
        + "  ".join(f"{'docs ' + '+'.join(d[:8] for d in h):>30}" for h in halves)
    )
    parts = [[r for r in results if r.case.doc in half] for half in halves]
    for margin in MARGINS:
        cells = []
        for part in parts:
            altered, true = shares(part, margin)
            cells.append(f"{altered:5.1f}% / {true:4.1f}%")
        mark = "  <- CLOSENESS_MARGIN" if margin == CLOSENESS_MARGIN else ""
        print(f"  {margin:7.3f} " + "  ".join(f"{cell:>30}" for cell in cells) + mark)
    for tune, held in ((0, 1), (1, 0)):
        margin = tuned_margin(parts[tune])
        altered, true = shares(parts[held], margin)
        default_altered, default_true = shares(parts[held], CLOSENESS_MARGIN)
        print(
            f"  tuned on half {tune + 1}: margin {margin:.3f}; held-out half {held + 1}: "
            f"altered {altered:.1f}%, true {true:.1f}% "
            f"(at {CLOSENESS_MARGIN}: {default_altered:.1f}%, {default_true:.1f}%)"
        )


def test_embedder() -> Embed:
    from tests.support.ollama_server import embed_text

    return lambda texts: [embed_text(text) for text in texts]


def minilm_embedder() -> Embed:
    from bench.real_models import load_minilm

    model = load_minilm()
    return lambda texts: [list(map(float, v)) for v in model.encode(texts, batch_size=32)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", choices=("test", "minilm"), default="test")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="also try other closeness margins: tuned on half the documents, held out on the rest",
    )
    args = parser.parse_args()
    embed = test_embedder() if args.embedder == "test" else minilm_embedder()
    rng = random.Random(SEED)
    service = DocumentService()
    docs = sorted({q.doc for q in load_questions()})
    chunks_by_doc: dict[str, list[Chunk]] = {}
    for name in docs:
        path = PDF_CORPUS / name
        if not path.exists():
            print(f"missing {path}", file=sys.stderr)
            continue
        chunks_by_doc[name] = service.chunk(service.parse(Path(path)), name)
    cases = build_cases(chunks_by_doc, rng)

    embed_texts: list[int] = []
    embed_ms: list[float] = []

    def timed(texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = embed(texts)
        embed_ms.append((time.perf_counter() - started) * 1000)
        embed_texts.append(len(texts))
        return vectors

    results = [Checked.of(case, timed) for case in cases]
    print(f"labelled set: {len(cases)} sentences from {len(chunks_by_doc)} documents (seed {SEED})")
    print(f"flagged by: {'words':>7} {'+ closeness (' + args.embedder + ')':>24}")
    for kind in sorted({case.kind for case in cases}):
        before = [is_flagged(r.words) for r in results if r.case.kind == kind]
        after = [is_flagged(r.report()) for r in results if r.case.kind == kind]
        print(
            f"  {kind:<11} {len(before):4d} sentences  {100 * sum(before) / len(before):5.1f}%"
            f"  {100 * sum(after) / len(after):14.1f}%"
        )
    altered_words, true_words = shares(results, None)
    altered_share, true_share = shares(results, CLOSENESS_MARGIN)
    print(f"altered flagged: {altered_words:.1f}% -> {altered_share:.1f}% (target >= 90%)")
    print(f"true flagged:    {true_words:.1f}% -> {true_share:.1f}% (target <= 10%)")
    if args.sweep:
        sweep(results)
    if embed_texts:
        print(
            f"embedder asked for {len(embed_texts)} sentences' closeness: "
            f"median {statistics.median(embed_texts):.0f} texts a batch, max {max(embed_texts)}; "
            f"{args.embedder} embedder median {statistics.median(embed_ms):.1f} ms a batch"
        )

    # A typical answer: four sentences citing two of five passages of about 1,000 characters.
    timings = []
    passages_pool = [c.text for cs in chunks_by_doc.values() for c in cs if len(c.text) > 600]
    true_cases = [c for c in cases if c.kind == "true"]
    for _ in range(200):
        picked = rng.sample(true_cases, 4)
        passages = {1: picked[0].passage, 2: picked[2].passage}
        for number in range(3, 6):
            passages[number] = rng.choice(passages_pool)
        answer = " ".join(f"{case.sentence} [{1 if i < 2 else 2}]" for i, case in enumerate(picked))
        started = time.perf_counter()
        check_answer(answer, passages)
        timings.append((time.perf_counter() - started) * 1000)
    print(
        "check time, 4-sentence answer over 5 passages: "
        f"median {statistics.median(timings):.2f} ms, "
        f"p95 {percentile(timings, 0.95):.2f} ms (target < 50 ms)"
    )
    ok = altered_share >= 90 and true_share <= 10
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
