"""The word normaliser behind the coverage rerank."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from allma_desktop.services.retrieval.text_terms import QueryTerms, content_terms, named_labels

# Words built from stems and endings the stemmer cuts, so generated texts share terms.
_WORDS = st.sampled_from(
    ["index", "indexes", "indexing", "reindexed", "study", "studies", "studied", "the",
     "does", "doe", "x", "café", "Cafe", "2019", "pixel", "pixels", "pix", "a_b", "ab"]
)  # fmt: skip
_TEXTS = st.lists(_WORDS, max_size=12).map(" ".join)


@given(question=_TEXTS, text=_TEXTS)
def test_held_in_finds_exactly_the_question_terms_the_text_holds(question: str, text: str) -> None:
    terms = QueryTerms(question)
    assert terms.held_in(text) == set(content_terms(text)) & terms.terms


def test_other_forms_of_a_question_word_are_held() -> None:
    assert QueryTerms("which studies index pixels").held_in("Studied, indexing a pixel") == {
        "study",
        "index",
        "pixel",
    }


def test_a_question_word_inside_a_longer_word_is_not_held() -> None:
    assert QueryTerms("index").held_in("the reindexed table") == frozenset()


def test_a_question_of_stopwords_holds_nothing() -> None:
    assert QueryTerms("what is the").held_in("what is the answer") == frozenset()


def test_tables_figures_and_boxes_named_by_number_are_found_in_a_question() -> None:
    found = named_labels("Compare Table 4.3 with TABLE 2, Fig. 3b, Box 8-2 and Appendix C")
    assert [(label.kind, label.number) for label in found] == [
        ("table", "4.3"),
        ("table", "2"),
        ("figure", "3b"),
        ("box", "8.2"),
        ("appendix", "c"),
    ]
    assert named_labels("a table of results, figure a bit, in 2019") == []


def test_a_label_is_matched_in_its_other_spellings_and_not_in_other_numbers() -> None:
    pattern = named_labels("What does Table 4.3 list?")[0].pattern()
    for text in ("TABLE 4.3 DAA suppliers", "(Table 4.3)", "see Tab. 4-3.", "table 4.3."):
        assert pattern.search(text), text
    for text in ("Table 4.31", "Table 14.3", "Table 4.3.1", "Table 4"):
        assert not pattern.search(text), text
