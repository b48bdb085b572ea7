"""Turning retrieved passages into the messages a chat model answers from.

Two prompts. A model of a billion parameters or more gets every relevant source,
numbered, best first, as many as the context window holds, and is asked to cite
them as ``[n]``. A smaller model (Ollama reports its ``parameter_size``, e.g.
"135M") loses the thread in a long prompt: it gets only the best source, cut to
the few sentences around the question's rarest words, and a plain instruction it
follows. On the 40-question benchmark with SmolLM2-135M (docs/benchmarks.md,
row (d)) that took the correct answers from 1 in 12 to 14 in 40.

The answer is always the model's own text; this module only decides what it reads.
It also reads an answer's citations back (``[2]``, ``[1, 3]``) into sources.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from allma_desktop.pathnames import display_text
from allma_desktop.services.model_server.ollama import ChatMessage, ChatOptions
from allma_desktop.services.retrieval.grounding import check_answer
from allma_desktop.services.retrieval.text_terms import content_terms
from allma_desktop.sources import Source

ANSWER_RESERVE_TOKENS = 1024
RELATIVE_SCORE_FLOOR = 0.75  # a source scoring under this share of the best is left out
NOT_FOUND_ANSWER = "I couldn't find this in your documents."
# What the app itself says, before any text of the model's, when retrieval found nothing
# above the relevance floor: a fact the user must not have to infer from the model's words.
NOTHING_FOUND_NOTICE = "Nothing in your documents matches this question."
NO_DOCUMENTS_NOTICE = "There are no documents to answer from yet: add some in the Library."
GENERAL_KNOWLEDGE_NOTE = "What follows is from the model's general knowledge, not your documents:"

SYSTEM_INSTRUCTIONS = (
    "You are Allma, an assistant that answers questions from the user's own documents.\n"
    "Answer the question in one or two short sentences, using only the numbered sources. "
    "Use the exact words, names and numbers the source uses. Cite the source of each fact "
    "with its number in square brackets, like [1]. Do not cite a number that is not listed. "
    f'If the sources do not contain the answer, say "{NOT_FOUND_ANSWER}"'
)

WHOLE_DOCUMENT_INSTRUCTIONS = (
    "You are Allma, an assistant that answers questions from the user's own documents.\n"
    "The documents are given whole, page by page; each page starts with its number in "
    "square brackets and where it comes from, like [3] (report.pdf, page 3). Answer "
    "from the documents only, using the words, names and numbers they use. Cite the "
    "pages you use with their numbers in square brackets, like [3]. Do not cite a number "
    f'that is not listed. If the documents do not contain the answer, say "{NOT_FOUND_ANSWER}"'
)
# Said by the app before the model's text when whole documents were asked for and
# do not fit in the model's context.
WHOLE_DOCUMENT_TOO_LONG = (
    "The documents are too long for this model's context (about {needed:,} tokens, "
    "room for {room:,}), so this answer is from the best passages."
)

NOTHING_FOUND_INSTRUCTIONS = (
    "You are Allma, an assistant that answers questions from the user's own documents.\n"
    "A search of the user's documents found nothing relevant to this question, and the "
    "user has already been told so. If you can, answer briefly from general knowledge; "
    "do not cite sources and do not invent any."
)

# --- small models ---
# Models under this many parameters get the short prompt (SmolLM2, Gemma 3 270M, Qwen
# 0.5-0.6B); from about a billion on, models follow the numbered, cited prompt.
SMALL_MODEL_MAX_PARAMETERS = 1_000_000_000
# About 100 tokens of source. Measured on the benchmark: 250-300 characters often cut
# the answer off, 500 and more buried it; 350-450 did best.
SMALL_MODEL_PASSAGE_CHARS = 400
SMALL_MODEL_ANSWER_TOKENS = 128  # tiny models ramble and repeat; an answer is one sentence
SMALL_MODEL_INSTRUCTIONS = (
    "You are Allma, an assistant that answers questions from the user's documents."
)
# "Text:" and "with the words of the text" rather than numbered sources and citation
# rules: a 135M model copies "[1] (file, page 3)" labels into its answer, and of the
# wordings tried this is the one it answered best from.
SMALL_MODEL_REQUEST = "Text:\n{passage}\n\nQuestion: {question}\nAnswer with the words of the text."

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_PARAMETER_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}
# A sentence ends at . ! ? ; or : followed by space. Table rows have none, so long
# runs are also cut into pieces of at most this many characters.
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_PIECE_CHARS = 300
# A text that ends a sentence (before any closing quote or bracket).
_SENTENCE_STOP = re.compile(r"[.!?;:][\"'”’)\]]*$")


def parameter_count(parameter_size: str | None) -> float | None:
    """Ollama's ``details.parameter_size`` as a number: "135M" -> 1.35e8, "7.6B" -> 7.6e9."""
    match = _PARAMETER_SIZE.match(parameter_size or "")
    if match is None:
        return None
    return float(match.group(1)) * _SCALE[match.group(2).upper()]


def is_small_model(parameter_size: str | None) -> bool:
    """Whether a model is small enough to need the short prompt; unknown sizes are not."""
    count = parameter_count(parameter_size)
    return count is not None and count < SMALL_MODEL_MAX_PARAMETERS


def chat_options(context_tokens: int, temperature: float, *, small_model: bool) -> ChatOptions:
    """The model options for an answer: a small model answers greedily and briefly."""
    if small_model:
        # Sampling makes a tiny model drift from the source within a few words.
        return ChatOptions(
            temperature=0.0, num_ctx=context_tokens, num_predict=SMALL_MODEL_ANSWER_TOKENS
        )
    return ChatOptions(temperature=temperature, num_ctx=context_tokens)


def focus_passage(question: str, text: str, limit: int = SMALL_MODEL_PASSAGE_CHARS) -> str:
    """The run of whole sentences of ``text``, at most ``limit`` characters, that best
    matches ``question``.

    The sentence holding most of the question's words (each weighted by how rare it is
    among the passage's sentences, so the word that singles out the answer counts more
    than the document's name) is the centre; neighbours are added on both sides while
    they fit. Whitespace is flattened: PDF text breaks lines mid-sentence.
    """
    pieces = _pieces(text)
    if not pieces:
        return ""
    best = _best_piece(question, pieces)
    first = last = best
    size = len(pieces[best])
    grew = True
    while grew:
        grew = False
        for index in (last + 1, first - 1):
            if 0 <= index < len(pieces) and size + 1 + len(pieces[index]) <= limit:
                first, last = min(first, index), max(last, index)
                size += 1 + len(pieces[index])
                grew = True
    return " ".join(pieces[first : last + 1])


def _best_piece(question: str, pieces: Sequence[str]) -> int:
    """The index of the piece holding most of the question's words, each weighted by its
    rarity among the pieces; the first of equals."""
    piece_terms = [set(content_terms(piece)) for piece in pieces]
    weights = {
        term: math.log(1.0 + len(pieces) / (1 + sum(term in terms for terms in piece_terms)))
        for term in set(content_terms(question))
    }
    scores = [sum(weights.get(term, 0.0) for term in terms) for terms in piece_terms]
    return max(range(len(pieces)), key=lambda index: scores[index])


def answer_sentence(question: str, text: str) -> str:
    """The sentence of ``text`` that best matches ``question`` (the centre of
    ``focus_passage``), whitespace flattened; "" for a text without words."""
    pieces = _pieces(text)
    return pieces[_best_piece(question, pieces)] if pieces else ""


def _pieces(text: str) -> list[str]:
    """Sentences of ``text``, with any longer than ``_PIECE_CHARS`` cut at a space."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        while len(sentence) > _PIECE_CHARS:
            cut = sentence.rfind(" ", 0, _PIECE_CHARS)
            cut = cut if cut > _PIECE_CHARS // 2 else _PIECE_CHARS
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def source_label(source: Source) -> str:
    name = display_text(source.path.rsplit("/", 1)[-1] if source.path else source.title)
    where = f", page {source.page}" if source.page is not None else ""
    if source.page is None and source.heading_path:
        where = f", section “{' › '.join(source.heading_path)}”"
    return f"{name}{where}"


def build_messages(
    question: str,
    sources: Sequence[Source],
    source_texts: dict[str, str],
    history: Sequence[tuple[str, str]],
    *,
    context_tokens: int,
    system_prompt: str = "",
    retrieval_used: bool = True,
    small_model: bool = False,
    whole_documents: bool = False,
) -> tuple[list[ChatMessage], list[Source]]:
    """The messages to send and the sources that fitted in the context window.

    Sources are added best first until the token budget (context length minus a
    reserve for the answer, the instructions, the history and the question) is
    spent; a source that does not fit is left out rather than cut mid-sentence.
    With ``small_model`` only the best source is sent, focused on the question
    (``focus_passage``), in the short prompt described in the module docstring.
    With ``whole_documents`` the sources are the pages of whole documents
    (``whole_documents.py``), all sent in order under their own instructions.
    """
    whole = whole_documents and retrieval_used and bool(sources)
    compact = small_model and retrieval_used and bool(sources) and not whole
    instructions = _instructions(
        system_prompt, retrieval_used=retrieval_used, compact=compact, whole=whole, sources=sources
    )
    messages = [ChatMessage("system", instructions)]
    messages.extend(ChatMessage(role, content) for role, content in history)

    budget = prompt_room(question, history, context_tokens, instructions)
    if compact:
        content, fitted = _small_model_request(question, sources[0], source_texts, budget)
        messages.append(ChatMessage("user", content))
        return messages, fitted

    fitted = []
    blocks: list[str] = []
    best_score = max((source.score for source in sources), default=0.0)
    for source in sources:
        if source.score < RELATIVE_SCORE_FLOOR * best_score and not whole:
            continue  # far weaker than the best match: noise that distracts small models
        text = source_texts.get(source.chunk_id, source.snippet)
        block = f"[{len(fitted) + 1}] ({source_label(source)})\n{text.strip()}"
        cost = approx_tokens(block)
        if cost > budget:
            continue
        budget -= cost
        fitted.append(_renumbered(source, len(fitted) + 1))
        blocks.append(block)
    heading = "Documents, page by page:" if whole else "Sources:"
    if blocks:
        content = f"{heading}\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"
    else:
        content = question
    messages.append(ChatMessage("user", content))
    return messages, fitted


def _instructions(
    system_prompt: str,
    *,
    retrieval_used: bool,
    compact: bool,
    whole: bool,
    sources: Sequence[Source],
) -> str:
    if not retrieval_used:
        instructions = system_prompt.strip() or "You are Allma, a helpful assistant."
    elif compact:
        instructions = SMALL_MODEL_INSTRUCTIONS
    elif whole:
        instructions = WHOLE_DOCUMENT_INSTRUCTIONS
    elif sources:
        instructions = SYSTEM_INSTRUCTIONS
    else:
        instructions = NOTHING_FOUND_INSTRUCTIONS
    if retrieval_used and system_prompt.strip():
        instructions = f"{instructions}\n\n{system_prompt.strip()}"
    return instructions


def prompt_room(
    question: str, history: Sequence[tuple[str, str]], context_tokens: int, instructions: str
) -> int:
    """Tokens left for sources: the context less the answer's reserve, the instructions,
    the history and the question."""
    budget = context_tokens - ANSWER_RESERVE_TOKENS - approx_tokens(instructions)
    return budget - sum(approx_tokens(content) for _, content in history) - approx_tokens(question)


def whole_document_room(
    question: str, history: Sequence[tuple[str, str]], context_tokens: int, system_prompt: str
) -> int:
    """Tokens that whole documents may take in the prompt (``build_messages`` with them)."""
    instructions = _instructions(
        system_prompt, retrieval_used=True, compact=False, whole=True, sources=[]
    )
    # The "Documents, page by page:" line and the blank lines between the pages.
    return prompt_room(question, history, context_tokens, instructions) - 16


def _small_model_request(
    question: str, best: Source, source_texts: dict[str, str], budget: int
) -> tuple[str, list[Source]]:
    """The user message for a small model, and the one source it holds (or none)."""
    passage = focus_passage(question, source_texts.get(best.chunk_id, best.snippet))
    content = SMALL_MODEL_REQUEST.format(passage=passage, question=question)
    if approx_tokens(content) - approx_tokens(question) > budget:
        return question, []
    return content, [_renumbered(best, 1)]


def _renumbered(source: Source, number: int) -> Source:
    return source if source.number == number else replace(source, number=number)


def cited_numbers(answer: str) -> list[int]:
    """Citation numbers in the order they first appear: ``[2]``, ``[1, 3]``."""
    seen: list[int] = []
    for match in _CITATION.finditer(answer):
        for part in match.group(1).split(","):
            number = int(part.strip())
            if number not in seen:
                seen.append(number)
    return seen


def cited_sources(answer: str, sources: Sequence[Source]) -> list[Source]:
    """The sources the answer cites, in citation order; numbers that match no source are ignored."""
    by_number = {source.number: source for source in sources}
    return [by_number[n] for n in cited_numbers(answer) if n in by_number]


def approx_tokens(text: str) -> int:
    """About four characters a token for English text: an estimate, on the safe side."""
    return len(text) // 4 + 1


# --- the extractive fallback ---
# A tiny model often answers with words of its own that carry nothing of the source
# ("The answer is in the text."), or states a figure or a claim its source does not
# hold. Then the source's best-matching sentence, with the one after it, is added after
# the answer, marked as a quote and cited, so the fact is there in the source's own
# words; the model's text is kept as it was (never edited).
QUOTE_INTRO = "From the source"
# The quote is the source's best sentence for the question and the sentence after it
# when both fit in this many characters (the small model's passage size): the sentence
# that repeats the question's words is often the one that sets up the fact ("Document
# handlers ... can be enabled or disabled:"), and the next one states it ("By default
# all but GPRF are enabled."). Row (d) of docs/benchmarks.md measured it.
QUOTE_CHARS = SMALL_MODEL_PASSAGE_CHARS


KEY_TERMS = 3  # the rarest words of the answer sentence that an answer must show one of


def key_terms(question: str, passage: str) -> frozenset[str]:
    """What an answer drawn from ``passage`` would carry: of the content words of its
    best-matching sentence that the question does not already say, the numbers and the
    ``KEY_TERMS`` rarest among the passage's sentences (a word every sentence repeats,
    such as the document's subject, says nothing about this answer)."""
    pieces = _pieces(passage)
    if not pieces:
        return frozenset()
    sentence = pieces[_best_piece(question, pieces)]
    candidates = set(content_terms(sentence)) - set(content_terms(question))
    numbers = {term for term in candidates if any(ch.isdigit() for ch in term)}
    piece_terms = [set(content_terms(piece)) for piece in pieces]
    rarity = {term: sum(term in terms for terms in piece_terms) for term in candidates}
    words = sorted(candidates - numbers, key=lambda term: (rarity[term], -len(term), term))
    return frozenset(numbers | set(words[:KEY_TERMS]))


def carries_passage(answer: str, question: str, passage: str) -> bool:
    """Whether ``answer`` holds any key term of ``passage`` (see ``key_terms``).

    A passage whose best sentence says nothing the question does not (no key terms)
    cannot be checked this way, and counts as carried.
    """
    wanted = key_terms(question, passage)
    return not wanted or bool(wanted & frozenset(content_terms(answer)))


def supported_by(answer: str, passages: Mapping[int, str]) -> bool:
    """Whether the answer check (``grounding.check_answer``, words and numbers only)
    finds ``answer`` drawn from ``passages`` (``{source number: text}``; each sentence
    against the sources it cites, or all of them when it cites none): no number that
    none of them holds, and at least one checked sentence supported (or none checkable).
    """
    report = check_answer(answer, passages)
    if report.unsupported_numbers:
        return False
    return not report.checked or report.supported > 0


def quoted_text(question: str, passage: str) -> str:
    """The words of ``passage`` that the quote holds (``QUOTE_CHARS``): its best
    sentence for ``question`` and the next one when both fit, "…" where it stops
    mid-sentence."""
    pieces = _pieces(passage)
    if not pieces:
        return ""
    best = _best_piece(question, pieces)
    last = best
    if best + 1 < len(pieces) and len(pieces[best]) + 1 + len(pieces[best + 1]) <= QUOTE_CHARS:
        last = best + 1
    text = " ".join(pieces[best : last + 1])
    if len(text) > QUOTE_CHARS:
        cut = text.rfind(" ", 0, QUOTE_CHARS)
        return text[: cut if cut > QUOTE_CHARS // 2 else QUOTE_CHARS] + "…"
    if last + 1 < len(pieces) and not _SENTENCE_STOP.search(text):
        return text + "…"  # a piece of a longer sentence or a table row that goes on
    return text


def extractive_quote(question: str, passage: str, source: Source) -> str:
    """The quote that follows an answer which carries nothing of its source:
    the source's best sentence for the question (and the next, see ``quoted_text``), in
    quotation marks, with its citation.

    For example ``From the source (guide.pdf, page 4) [1]: “The dose is 200 mg.”``
    """
    words = quoted_text(question, passage)
    return f"{QUOTE_INTRO} ({source_label(source)}) [{source.number}]: “{words}”"


def fallback_quote(
    answer: str, question: str, sources: Sequence[Source], source_texts: dict[str, str]
) -> str | None:
    """The text to add after ``answer`` (starting with a blank line), or None.

    Only for an answer from sources that does not say the documents lack the answer,
    and that holds none of the first source's key terms (``carries_passage``) or is not
    supported by its sources by the answer check (``supported_by``: a figure none of
    them holds, or no sentence they support). A small model's prompt holds one source.
    """
    if not sources or not answer.strip() or NOT_FOUND_ANSWER.lower() in answer.lower():
        return None
    first = sources[0]
    passage = source_texts.get(first.chunk_id, first.snippet)
    if not carries_passage(answer, question, passage):
        return "\n\n" + extractive_quote(question, passage, first)
    passages = {s.number: source_texts.get(s.chunk_id, s.snippet) for s in sources}
    if supported_by(answer, passages):
        return None
    return "\n\n" + extractive_quote(question, passage, first)
