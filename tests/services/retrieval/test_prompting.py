"""Prompt assembly and citation reading, without a server."""

from __future__ import annotations

from allma_desktop.services.model_server.ollama import ChatOptions
from allma_desktop.services.retrieval.prompting import (
    NOT_FOUND_ANSWER,
    QUOTE_CHARS,
    SMALL_MODEL_ANSWER_TOKENS,
    SMALL_MODEL_PASSAGE_CHARS,
    build_messages,
    carries_passage,
    chat_options,
    cited_numbers,
    cited_sources,
    extractive_quote,
    fallback_quote,
    focus_passage,
    is_small_model,
    key_terms,
    parameter_count,
    quoted_text,
    supported_by,
)
from allma_desktop.sources import Source


def _source(number: int, text: str, page: int | None = 1) -> Source:
    return Source(number, "doc", f"doc:{number}", f"/docs/f{number}.pdf", "T", page, 1.0, text)


def test_sources_are_numbered_in_the_prompt_with_file_and_page() -> None:
    sources = [_source(1, "Alpha fact."), _source(2, "Beta fact.", page=7)]
    messages, fitted = build_messages("What is beta?", sources, {}, [], context_tokens=8192)
    prompt = messages[-1].content
    assert "[1] (f1.pdf, page 1)\nAlpha fact." in prompt
    assert "[2] (f2.pdf, page 7)\nBeta fact." in prompt
    assert prompt.endswith("Question: What is beta?")
    assert [s.number for s in fitted] == [1, 2]
    assert "cite" in messages[0].content


def test_sources_that_do_not_fit_the_context_are_left_out_and_renumbered() -> None:
    big = "word " * 4000  # about 5000 tokens
    sources = [_source(1, big), _source(2, "Small fact.")]
    messages, fitted = build_messages("q", sources, {}, [], context_tokens=2048)
    assert [s.chunk_id for s in fitted] == ["doc:2"]
    assert fitted[0].number == 1
    assert "[1] (f2.pdf, page 1)" in messages[-1].content


def test_nothing_found_tells_the_model_to_say_so() -> None:
    messages, fitted = build_messages("q", [], {}, [], context_tokens=4096)
    assert fitted == []
    assert "found nothing relevant" in messages[0].content


def test_history_is_placed_between_system_and_question() -> None:
    history = [("user", "earlier q"), ("assistant", "earlier a")]
    messages, _ = build_messages("now?", [], {}, history, context_tokens=4096)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]


def test_citations_are_parsed_in_order_without_duplicates() -> None:
    assert cited_numbers("A [2]. B [1, 3]. C [2][4].") == [2, 1, 3, 4]


def test_citation_numbers_without_a_source_are_ignored() -> None:
    sources = [_source(1, "a"), _source(2, "b")]
    cited = cited_sources("Yes [2] and [9].", sources)
    assert [s.number for s in cited] == [2]


# --- small models -------------------------------------------------------------

BEFORE = " ".join(f"Paragraph {n} is about something else entirely." for n in range(40))
KEY_SENTENCE = "The lighthouse lamp burns paraffin oil and is lit at dusk."
AFTER = " ".join(f"Appendix {n} is about something else entirely." for n in range(40))
LONG_PASSAGE = f"{BEFORE} {KEY_SENTENCE} {AFTER}"
QUESTION = "What fuel does the lighthouse lamp burn?"


def test_parameter_sizes_are_read_as_ollama_reports_them() -> None:
    sizes = ["135M", "7.6B", "751.63M", "1T", "", None, "unknown"]
    assert [parameter_count(size) for size in sizes] == [
        135e6,
        7.6e9,
        751.63e6,
        1e12,
        None,
        None,
        None,
    ]


def test_models_under_a_billion_parameters_are_small_and_unknown_sizes_are_not() -> None:
    sizes = ["135M", "751.63M", "1B", "3.2B", None]
    assert [is_small_model(size) for size in sizes] == [True, True, False, False, False]


def test_focus_keeps_the_sentences_around_the_question_words_within_the_limit() -> None:
    focused = focus_passage(QUESTION, LONG_PASSAGE)
    assert KEY_SENTENCE in focused
    assert len(focused) <= SMALL_MODEL_PASSAGE_CHARS
    assert focused in LONG_PASSAGE  # whole sentences, in their order, nothing added


def test_focus_returns_a_short_passage_whole_with_its_line_breaks_flattened() -> None:
    assert focus_passage(QUESTION, "Line one\nwraps here.\n\nLine two.") == (
        "Line one wraps here. Line two."
    )


def test_small_model_gets_only_the_best_source_focused_on_the_question() -> None:
    sources = [_source(1, LONG_PASSAGE), _source(2, "Beta fact about lamps.", page=7)]
    texts = {"doc:1": LONG_PASSAGE}
    messages, fitted = build_messages(
        QUESTION, sources, texts, [], context_tokens=8192, small_model=True
    )
    prompt = messages[-1].content
    assert [s.chunk_id for s in fitted] == ["doc:1"]
    assert KEY_SENTENCE in prompt
    assert "Beta fact" not in prompt
    assert "Paragraph 0 " not in prompt and "Appendix 39" not in prompt  # far from the answer


def test_small_model_prompt_puts_the_question_after_the_text_without_citation_labels() -> None:
    messages, _ = build_messages(
        QUESTION, [_source(1, KEY_SENTENCE)], {}, [], context_tokens=8192, small_model=True
    )
    prompt = messages[-1].content
    assert prompt.startswith(f"Text:\n{KEY_SENTENCE}")
    assert prompt.endswith(f"Question: {QUESTION}\nAnswer with the words of the text.")
    assert "[1]" not in prompt and "page" not in prompt
    assert "cite" not in messages[0].content


def test_small_model_with_nothing_found_is_told_to_say_so() -> None:
    messages, fitted = build_messages("q", [], {}, [], context_tokens=4096, small_model=True)
    assert fitted == []
    assert "found nothing relevant" in messages[0].content


def test_large_model_keeps_every_relevant_source_numbered_for_citation() -> None:
    sources = [_source(1, LONG_PASSAGE), _source(2, "Beta fact about lamps.", page=7)]
    messages, fitted = build_messages(
        QUESTION, sources, {}, [], context_tokens=8192, small_model=False
    )
    assert [s.number for s in fitted] == [1, 2]
    assert "[2] (f2.pdf, page 7)\nBeta fact about lamps." in messages[-1].content
    assert "cite" in messages[0].content


def test_small_model_answers_greedily_and_briefly() -> None:
    options = chat_options(8192, 0.7, small_model=True)
    assert options.to_ollama() == {
        "temperature": 0.0,
        "num_ctx": 8192,
        "num_predict": SMALL_MODEL_ANSWER_TOKENS,
    }


def test_large_model_keeps_the_configured_temperature_and_no_length_limit() -> None:
    assert chat_options(4096, 0.7, small_model=False).to_ollama() == {
        "temperature": 0.7,
        "num_ctx": 4096,
    }


def test_chat_options_leave_out_what_is_not_set_and_send_stop_as_a_list() -> None:
    assert ChatOptions(num_predict=5, stop=("\n\n",)).to_ollama() == {
        "num_predict": 5,
        "stop": ["\n\n"],
    }


# --- the extractive fallback ---

DOSE_TEXT = (
    "Adolescents take the combined tablet daily. "
    "For children weighing 17 to 29 kg the dose of sofosbuvir/velpatasvir is 200 mg/50 mg "
    "once a day. Treatment lasts 12 weeks."
)
DOSE_QUESTION = "What dose of sofosbuvir/velpatasvir is given to children weighing 17-29 kg?"


def test_an_answer_without_any_key_term_of_the_source_gets_a_marked_cited_quote() -> None:
    source = _source(1, DOSE_TEXT, page=45)
    quote = fallback_quote(
        "The dose is given in the text.", DOSE_QUESTION, [source], {"doc:1": DOSE_TEXT}
    )
    assert quote is not None
    assert quote.startswith("\n\nFrom the source (f1.pdf, page 45) [1]: “")
    assert "200 mg/50 mg once a day" in quote and quote.endswith("”")
    assert cited_sources(quote, [source]) == [source]


def test_an_answer_that_carries_a_key_term_of_the_source_is_left_alone() -> None:
    source = _source(1, DOSE_TEXT)
    answer = "They take 200 mg of sofosbuvir."
    assert fallback_quote(answer, DOSE_QUESTION, [source], {"doc:1": DOSE_TEXT}) is None


def test_no_quote_without_sources_or_when_the_answer_says_the_documents_lack_it() -> None:
    source = _source(1, DOSE_TEXT)
    texts = {"doc:1": DOSE_TEXT}
    assert fallback_quote("No idea.", DOSE_QUESTION, [], texts) is None
    assert fallback_quote(NOT_FOUND_ANSWER, DOSE_QUESTION, [source], texts) is None
    assert fallback_quote("", DOSE_QUESTION, [source], texts) is None


def test_key_terms_are_the_best_sentence_words_the_question_does_not_say() -> None:
    terms = key_terms(DOSE_QUESTION, DOSE_TEXT)
    assert {"200", "mg", "50", "day"} <= terms
    assert not {"dose", "sofosbuvir", "velpatasvir", "children"} & terms
    assert carries_passage("It is 200 mg.", DOSE_QUESTION, DOSE_TEXT)
    assert not carries_passage("Sofosbuvir is a dose.", DOSE_QUESTION, DOSE_TEXT)


def test_a_long_quoted_sentence_is_cut_at_a_word_and_marked_as_cut() -> None:
    long_text = "The answer is " + "very long indeed and " * 40 + "done."
    quote = extractive_quote("What is the answer?", long_text, _source(2, long_text, page=None))
    body = quote.split("“", 1)[1]
    assert body.endswith("…”") and len(body) <= QUOTE_CHARS + 3
    assert quote.startswith("From the source (f2.pdf) [2]:")


def test_an_answer_sharing_only_words_every_sentence_repeats_still_gets_the_quote() -> None:
    text = (
        "MuPDF error handling uses exceptions. "
        "MuPDF error handling is built on setjmp and longjmp from the C library. "
        "MuPDF error handling must be used with care."
    )
    question = "What standard C facility is the try/catch style built on?"
    answer = "MuPDF error handling is described in section 6.1."
    source = _source(1, text)
    quote = fallback_quote(answer, question, [source], {"doc:1": text})
    assert quote is not None and "setjmp and longjmp" in quote
    assert {"setjmp", "longjmp"} <= key_terms(question, text)


def test_an_answer_stating_a_figure_its_source_lacks_gets_the_quote() -> None:
    source = _source(1, DOSE_TEXT)
    answer = "They take 200 mg of sofosbuvir for 8 weeks."  # the source says 12 weeks
    assert carries_passage(answer, DOSE_QUESTION, DOSE_TEXT)
    assert not supported_by(answer, {1: DOSE_TEXT})
    quote = fallback_quote(answer, DOSE_QUESTION, [source], {"doc:1": DOSE_TEXT})
    assert quote is not None and "200 mg/50 mg once a day" in quote


def test_an_answer_whose_sentences_the_source_does_not_support_gets_the_quote() -> None:
    source = _source(1, DOSE_TEXT)
    answer = "Ledipasvir made by Gilead is 200 mg."  # a figure of the source, names it lacks
    assert carries_passage(answer, DOSE_QUESTION, DOSE_TEXT)
    assert not supported_by(answer, {1: DOSE_TEXT})
    assert fallback_quote(answer, DOSE_QUESTION, [source], {"doc:1": DOSE_TEXT}) is not None


def test_an_answer_the_source_supports_is_supported() -> None:
    assert supported_by("Children take 200 mg/50 mg once a day.", {1: DOSE_TEXT})
    assert supported_by("Yes.", {1: DOSE_TEXT})  # nothing to check: no claim, no figure


def test_a_cited_answer_is_checked_against_the_sources_it_cites() -> None:
    # A large model's answer drawing on its second source is not "unsupported" by the
    # first, so it gets no quote of the first.
    first, second = _source(1, DOSE_TEXT), _source(2, "The lens is cleaned every Friday.")
    texts = {"doc:1": DOSE_TEXT, "doc:2": second.snippet}
    answer = "Children take 200 mg/50 mg once a day [1]. The lens is cleaned every Friday [2]."
    assert supported_by(answer, {1: DOSE_TEXT, 2: second.snippet})
    assert fallback_quote(answer, DOSE_QUESTION, [first, second], texts) is None
    invented = "Children take 200 mg/50 mg once a day [1]. It is cleaned at 9 o'clock [2]."
    assert fallback_quote(invented, DOSE_QUESTION, [first, second], texts) is not None


def test_the_quote_holds_the_sentence_after_the_one_that_matches_the_question() -> None:
    text = (
        "Build options are listed in chapter 20. "
        "Each document handler can be enabled or disabled as required. "
        "By default all but GPRF are enabled. "
        "To avoid building unwanted ones, define the option to 0."
    )
    question = "Which document handler is disabled by default?"
    assert quoted_text(question, text) == (
        "Each document handler can be enabled or disabled as required. "
        "By default all but GPRF are enabled."
    )


def test_the_quote_is_one_sentence_when_two_do_not_fit_and_marks_a_cut() -> None:
    long_next = "It goes on " + "and on " * 80 + "to the end."
    best = (
        "The lamp of the lighthouse on the northern cape of the island is rated at 3500 "
        "watts by the maker of its xenon bulb."
    )
    assert quoted_text("What is the lamp rated at?", f"{best} {long_next}") == best
    table = "Size 64 128 256 " * 40  # no sentence ends: pieces of a row that goes on
    quoted = quoted_text("What is the size?", table)
    assert quoted.endswith("…") and len(quoted) <= QUOTE_CHARS + 1
