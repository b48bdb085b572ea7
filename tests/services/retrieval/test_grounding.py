"""The answer checker: supported sentences pass, altered ones are flagged with what is missing."""

from __future__ import annotations

import time

import pytest

from allma_desktop.records import GroundingReport
from allma_desktop.services.retrieval.grounding import (
    MAX_CLOSE_SENTENCES,
    check_answer,
    closeness,
    passage_sentences,
)

PASSAGE_ONE = (
    "The Hamburg plant opened in 1998 and employs 2,400 people. Its furnaces recycle "
    "aluminium scrap into billets for the automotive industry, about 310,000 tonnes a year."
)
PASSAGE_TWO = (
    "Maintenance windows are scheduled every sixth week. During a window the cold rolling "
    "mill is inspected by engineers from Linz, and lubricants are replaced."
)
PASSAGES = {1: PASSAGE_ONE, 2: PASSAGE_TWO}


def test_sentences_taken_from_their_passages_are_supported() -> None:
    answer = (
        "The Hamburg plant opened in 1998 and employs 2,400 people [1]. "
        "The cold rolling mill is inspected by engineers from Linz [2]."
    )
    report = check_answer(answer, PASSAGES)
    assert (report.checked, report.supported) == (2, 2)
    assert report.unsupported_numbers == ()
    assert report.summary == "2 of 2 sentences supported by their sources"


def test_a_changed_number_is_flagged_and_named() -> None:
    report = check_answer(
        "The Hamburg plant opened in 1997 and employs 2,400 people [1].", PASSAGES
    )
    assert report.supported == 0
    assert report.sentences[0].missing == ("1997",)
    assert report.unsupported_numbers == ("1997",)
    assert "1997" in report.sentences[0].note


def test_a_swapped_name_is_flagged() -> None:
    report = check_answer(
        "The cold rolling mill is inspected by engineers from Graz [2].", PASSAGES
    )
    assert report.supported == 0
    assert report.sentences[0].missing == ("Graz",)
    assert report.unsupported_numbers == ()  # no number involved


def test_a_sentence_from_another_passage_is_flagged() -> None:
    # True of passage 2, but cited to passage 1.
    report = check_answer(
        "Maintenance windows are scheduled every sixth week, and lubricants are replaced [1].",
        PASSAGES,
    )
    assert report.supported == 0
    assert {"maintenance", "lubricants"} <= set(report.sentences[0].missing)


def test_numbers_compare_without_thousands_separators() -> None:
    report = check_answer(
        "The furnaces recycle 310000 tonnes of aluminium scrap a year [1].", PASSAGES
    )
    assert report.supported == 1


def test_a_sentence_citing_two_sources_may_draw_on_both() -> None:
    answer = "The Hamburg plant, opened in 1998, is inspected by engineers from Linz [1, 2]."
    report = check_answer(answer, PASSAGES)
    assert report.supported == 1
    assert report.sentences[0].cited == (1, 2)


def test_sentences_without_a_citation_are_not_checked_when_others_cite() -> None:
    answer = "Here is what I found. The Hamburg plant opened in 1998 [1]."
    report = check_answer(answer, PASSAGES)
    assert report.checked == 1
    assert answer[report.sentences[0].start : report.sentences[0].end].startswith("The Hamburg")


def test_an_answer_that_cites_nothing_is_checked_against_all_its_sources() -> None:
    report = check_answer("The plant employs 2,400 people. It opened in 2003.", {1: PASSAGE_ONE})
    assert [s.supported for s in report.sentences] == [True, False]
    assert all(s.implicit for s in report.sentences)
    assert report.unsupported_numbers == ("2003",)


def test_a_citation_after_the_full_stop_belongs_to_its_sentence() -> None:
    report = check_answer("Maintenance windows are scheduled every sixth week. [2]", PASSAGES)
    assert report.checked == 1 and report.supported == 1


def test_no_sources_means_no_check() -> None:
    assert check_answer("Anything at all [1].", {}) == GroundingReport()
    assert check_answer("", PASSAGES).summary == ""


def test_per_source_counts_the_sentences_citing_each_source() -> None:
    answer = (
        "The Hamburg plant opened in 1998 [1]. It employs 9,999 people [1]. "
        "Engineers from Linz inspect the cold rolling mill [2]."
    )
    report = check_answer(answer, PASSAGES)
    assert report.per_source() == {1: (1, 2), 2: (1, 1)}


def test_a_report_survives_a_round_trip_through_its_dict() -> None:
    report = check_answer(
        "The Hamburg plant opened in 1997 [1]. Linz engineers inspect it [2].", PASSAGES
    )
    assert GroundingReport.from_dict(report.as_dict()) == report


def test_a_typical_answer_is_checked_well_under_50_ms() -> None:
    passages = {n: (PASSAGE_ONE + " " + PASSAGE_TWO) * 3 for n in range(1, 6)}
    answer = " ".join(
        f"The Hamburg plant opened in 1998 and employs 2,400 people [{n}]." for n in range(1, 6)
    )
    check_answer(answer, passages)  # warm the stemmer and the regular expressions
    started = time.perf_counter()
    for _ in range(10):
        check_answer(answer, passages)
    assert (time.perf_counter() - started) / 10 < 0.05


# --- closeness in meaning (the second signal) -----------------------------------------


def _embed(texts: list[str]) -> list[list[float]]:
    from tests.support.ollama_server import embed_text

    return [embed_text(text) for text in texts]


def test_only_sentences_missing_rarer_words_are_sent_to_the_embedder() -> None:
    answer = (
        "Hamburg's furnaces turn discarded aluminium into bars for vehicle makers [1]. "
        "The Hamburg plant opened in 1997 [1]. "
        "The cold rolling mill is inspected by engineers from Graz [2]. "
        "The Hamburg plant opened in 1998 and employs 2,400 people [1]."
    )
    report = check_answer(answer, PASSAGES)
    plan = closeness(report, PASSAGES)
    assert plan is not None
    # Not the changed year, not the swapped name, not the supported sentence.
    assert [check.text for check in plan.sentences] == [report.sentences[0].text]
    assert list(plan.passages) == [1]
    assert (
        plan.texts[0] == "Hamburg's furnaces turn discarded aluminium into bars for vehicle makers."
    )
    assert plan.texts[1:] == passage_sentences(PASSAGE_ONE)


def test_nothing_is_sent_when_the_words_settle_every_sentence() -> None:
    report = check_answer(
        "The Hamburg plant opened in 1997 and employs 2,400 people [1].", PASSAGES
    )
    assert closeness(report, PASSAGES) is None


def test_an_answer_sends_at_most_a_handful_of_sentences() -> None:
    answer = " ".join("Discarded metal becomes bars for vehicle makers [1]." for _ in range(30))
    plan = closeness(check_answer(answer, {1: PASSAGE_ONE}), {1: PASSAGE_ONE})
    assert plan is not None and len(plan.sentences) == MAX_CLOSE_SENTENCES


def test_a_passage_too_short_to_compare_with_itself_leaves_the_words_verdict() -> None:
    # Two sentences make one pair: too few to know how close the page is to itself.
    answer = "Hamburg's furnaces turn discarded metal into bars for vehicle makers [1]."
    report = check_answer(answer, PASSAGES)
    plan = closeness(report, PASSAGES)
    assert plan is not None
    decided = plan.apply(report, _embed(plan.texts)).sentences[0]
    assert decided.closeness is not None and decided.closeness > 0
    assert (decided.supported, decided.close_in_meaning) == (False, False)


def test_vectors_that_do_not_match_the_texts_are_refused() -> None:
    answer = "Hamburg's furnaces turn discarded aluminium into bars for vehicle makers [1]."
    report = check_answer(answer, PASSAGES)
    plan = closeness(report, PASSAGES)
    assert plan is not None
    with pytest.raises(ValueError, match="vectors for"):
        plan.apply(report, _embed(plan.texts)[:-1])


def test_the_margin_decides_how_far_a_sentence_must_lead_its_page() -> None:
    from tests.orchestrator.test_answer_closeness import PARAPHRASE, PASSAGE, meaning_embedder

    passages = {1: PASSAGE}
    report = check_answer(PARAPHRASE, passages)
    plan = closeness(report, passages)
    assert plan is not None
    vectors = meaning_embedder(plan.texts)
    credited = plan.apply(report, vectors).sentences[0]
    assert (credited.supported, credited.close_in_meaning) == (True, True)
    # No sentence leads the page's own closest pair by a whole unit of cosine.
    held = plan.apply(report, vectors, margin=1.0).sentences[0]
    assert (held.supported, held.close_in_meaning) == (False, False)
    assert held.closeness == credited.closeness


# --- Answers SmolLM2-135M gave through the app (bench/grounding_answers.py), with the
# passages the app checked them against, cut to the sentences that matter.

LINEARIZED = (
    "In an effort to allow early display of the first page, Adobe (the originators of the "
    "PDF format) introduced the concept of a ‘linearized’ PDF file. This information is known "
    "as the ‘hint stream’. In addition, extra constraints are placed upon the ordering of data "
    "within the file in an effort to ensure that the first page will download quickly."
)
APP_QUOTE = (
    "\n\nFrom the source (mupdf_explored.pdf, page 147) [1]: “In addition, extra constraints "
    "are placed upon the ordering of data within the file in an effort to ensure that the "
    "first page will download quickly.”"
)


def test_the_apps_quote_of_its_source_is_not_checked_as_the_models_claim() -> None:
    # Its label's page number (147) is in no passage: it was an "invented number" and
    # flagged a correct answer.
    model = (
        "The extra data that a linearized PDF carries so the first page can be shown quickly "
        'is known as the "hint stream."'
    )
    answer = model + APP_QUOTE
    before = check_answer(answer, {1: LINEARIZED})
    assert before.unsupported_numbers == ("147",)  # what the check said before it knew
    report = check_answer(answer, {1: LINEARIZED}, quoted_from=len(model))
    assert report.unsupported_numbers == ()
    assert [(s.text, s.supported, s.implicit) for s in report.sentences] == [(model, True, True)]


def test_the_quotes_citation_leaves_the_models_uncited_sentences_checked() -> None:
    passage = (
        "Key populations Groups of people who, due to specific high-risk behaviours, are at "
        "increased risk for human immunodeficiency virus (HIV) blood-borne infections "
        "irrespective of the epidemic type or local context."
    )
    model = "The WHO's goal to eradicate HIV/AIDS is set to be achieved by 2035."
    quote = f"\n\nFrom the source (test-3820.pdf, page 16) [1]: “{passage}”"
    answer = model + quote
    # The quote cites [1], so the uncited sentence before it used to go unchecked.
    assert [s.text for s in check_answer(answer, {1: passage}).sentences] == [
        quote.strip().split("\n")[-1]
    ]
    report = check_answer(answer, {1: passage}, quoted_from=len(model))
    (sentence,) = report.sentences
    assert sentence.text == model and not sentence.supported and "2035" in sentence.missing
    assert report.unsupported_numbers == ("2035",)


def test_a_figure_written_with_letters_is_found_only_whole() -> None:
    passage = (
        "For instance, if an image has a native size of 400x300, and is to be rendered to a "
        "final size of 40x30, fz get pixmap from image may subsample the returned image by up "
        "to 8 in each direction, resulting in a 50x37 image."
    )
    # Too few words to check before, and its digits are both on the page (40x30, 50x37).
    wrong = check_answer("The answer to your question is: 40x37.", {1: passage})
    assert [(s.supported, s.missing) for s in wrong.sentences] == [(False, ("40x37",))]
    assert wrong.unsupported_numbers == ("40x37",)
    right = check_answer("The returned image is subsampled to 50x37 [1].", {1: passage})
    assert (right.checked, right.supported, right.unsupported_numbers) == (1, 1, ())


def test_a_figure_with_its_unit_glued_matches_the_page_that_spaces_it() -> None:
    passage = "Children weighing 17 to 29 kg take 200 mg of sofosbuvir once a day."
    report = check_answer("Children of 17 to 29 kg take 200mg of sofosbuvir [1].", {1: passage})
    assert (report.supported, report.unsupported_numbers) == (1, ())
    changed = check_answer("Children of 17 to 29 kg take 400mg of sofosbuvir [1].", {1: passage})
    assert changed.supported == 0 and changed.unsupported_numbers == ("400mg",)


def test_the_models_words_of_reasoning_are_not_claims_from_the_source() -> None:
    passage = (
        "Data Mining Classification and Regression Methods (rminer) [21] — an R-based data "
        "mining application — has 150 software dependencies."
    )
    report = check_answer("Therefore, the correct answer is 150.", {1: passage})
    assert (report.checked, report.supported) == (1, 1)
    assert check_answer("Therefore, the correct answer is 160.", {1: passage}).supported == 0
