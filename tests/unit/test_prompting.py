"""Prompt assembly and citation reading, without a server."""

from __future__ import annotations

from allma_desktop.events import Source
from allma_desktop.services.llm import ChatOptions
from allma_desktop.services.prompting import (
    SMALL_MODEL_ANSWER_TOKENS,
    SMALL_MODEL_PASSAGE_CHARS,
    build_messages,
    chat_options,
    cited_numbers,
    cited_sources,
    focus_passage,
    is_small_model,
    parameter_count,
)


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
