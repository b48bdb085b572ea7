"""Documents too long for the model's context, summarised in parts: map, then reduce.

A "summarise this" question over documents that do not fit cannot be answered from a
handful of passages. Their pages (``whole_documents.py``) are cut, in page order, into
parts that each fit (``parts``); the model summarises each part citing its pages by
their own numbers, like ``[12]`` (``part_messages``: the map). What the summaries say is
regrouped by the page each sentence cites (``regrouped``), so the next round reads it as
it reads pages: ``[12] (report.pdf, page 12)`` followed by what was said of page 12.
While that still does not fit, it is summarised again the same way (the reduce); the
answer is then asked from it (``answer_messages``). Its citations are the documents'
pages, and it is checked against the pages themselves, not against the summaries.

Each round asks for at most ``MAX_SUMMARY_REQUESTS`` summaries in all; documents that
would need more are not summarised (the chat says so and answers from passages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from allma_desktop.services.model_server.ollama import ChatMessage
from allma_desktop.services.retrieval.prompting import (
    ANSWER_RESERVE_TOKENS,
    NOT_FOUND_ANSWER,
    approx_tokens,
    cited_numbers,
    prompt_room,
)
from allma_desktop.services.retrieval.whole_documents import WholeDocuments, page_block
from allma_desktop.sources import Source

# "Summarise chapter 3", "give me an overview", "what are the key points", in English and
# a few of the languages the library reads.
_SUMMARY_QUESTION = re.compile(
    r"\b(summar|summaris|summariz|overview|outline|tl;?\s?dr|gist|recap|key points|"
    r"main points|key takeaways|zusammenfass|überblick|résum|resum|sintesi|riassun)",
    re.IGNORECASE,
)
MAX_SUMMARY_REQUESTS = 16  # map and reduce requests, in all, for one answer
SUMMARY_TOKENS = 512  # the most a part's summary may take (its ``num_predict``)
_CITATION = re.compile(r"\s*\[\d+(?:\s*[,;]\s*\d+)*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

SUMMARY_PART_INSTRUCTIONS = (
    "You are Allma, summarising part of the user's documents so that a question about "
    "all of them can be answered.\n"
    "Below are some of the pages, each starting with its number in square brackets and "
    "where it comes from, like [3] (report.pdf, page 3). Write a short summary of what "
    "these pages say that bears on the question, in plain sentences, using the words, "
    "names and numbers they use. End each sentence with the number of the page it comes "
    "from in square brackets, like [3]. Do not cite a number that is not listed."
)
SUMMARY_ANSWER_INSTRUCTIONS = (
    "You are Allma, an assistant that answers questions from the user's own documents.\n"
    "The documents were too long to read at once, so they were summarised in parts. "
    "Below is what the summaries say, page by page; each entry starts with the page's "
    "number in square brackets and where it comes from, like [3] (report.pdf, page 3). "
    "Answer from these only, using the words, names and numbers they use. Cite the pages "
    "you use with their numbers in square brackets, like [3]. Do not cite a number that "
    f'is not listed. If they do not contain the answer, say "{NOT_FOUND_ANSWER}"'
)
# Said by the app before the model's text when the documents are too long even to be
# summarised in parts.
TOO_LONG_TO_SUMMARISE = (
    "The documents are too long to summarise with this model's context (about {needed:,} "
    "tokens, {parts} parts of {room:,}; at most {limit}), so this answer is from the best "
    "passages. Choose one document, or ask about part of it."
)


def is_summary_question(question: str) -> bool:
    """Whether ``question`` asks for a summary, overview or the main points."""
    return _SUMMARY_QUESTION.search(question) is not None


@dataclass(frozen=True)
class Block:
    """One page in a round of the summary: its source and its text, or what the
    summaries of the round before said of it."""

    source: Source
    text: str

    @property
    def tokens(self) -> int:
        return approx_tokens(page_block(self.source, self.text)) + 1  # the blank line after


def page_blocks(whole: WholeDocuments) -> list[Block]:
    """The documents' pages as the first round's blocks, in order."""
    return [Block(source, whole.texts[source.chunk_id]) for source in whole.sources]


def part_room(question: str, context_tokens: int) -> int:
    """Tokens the pages of one part may take: the context less the summary's reserve,
    the instructions and the question (a part carries no conversation history)."""
    room = prompt_room(question, [], context_tokens, SUMMARY_PART_INSTRUCTIONS)
    # The answer's reserve is counted by ``prompt_room``; a summary needs no more.
    return room + max(0, ANSWER_RESERVE_TOKENS - SUMMARY_TOKENS) - 16


def fits(blocks: Sequence[Block], room: int) -> bool:
    return sum(block.tokens for block in blocks) <= room


def parts(blocks: Sequence[Block], room: int) -> list[list[Block]]:
    """``blocks`` cut, in order, into runs that each fit in ``room`` tokens; a block
    longer than ``room`` on its own is cut to fit (its end is dropped)."""
    result: list[list[Block]] = []
    current: list[Block] = []
    used = 0
    for block in blocks:
        if block.tokens > room:
            keep = max(0, (room - approx_tokens(page_block(block.source, ""))) * 4 - 8)
            block = Block(block.source, block.text[:keep])
        if current and used + block.tokens > room:
            result.append(current)
            current, used = [], 0
        current.append(block)
        used += block.tokens
    if current:
        result.append(current)
    return result


def requests_needed(tokens: int, each_part: int, final_room: int) -> int:
    """About how many summaries documents of ``tokens`` need before what is left fits
    ``final_room``, with parts of ``each_part``: the map's parts, then each reduce
    round's (a summary is about a quarter of its part or ``SUMMARY_TOKENS``, whichever
    is less). More than ``MAX_SUMMARY_REQUESTS`` when it cannot be done within them."""
    if tokens <= final_room:
        return 0
    if each_part <= 0 or final_room <= 0:
        return MAX_SUMMARY_REQUESTS + 1
    total, left = 0, tokens
    while left > final_room:
        count = -(-left // each_part)
        total += count
        shorter = count * min(SUMMARY_TOKENS, each_part // 4)
        if total > MAX_SUMMARY_REQUESTS or shorter >= left:
            return max(total, MAX_SUMMARY_REQUESTS + 1)
        left = shorter
    return total


def part_messages(part: Sequence[Block], question: str) -> list[ChatMessage]:
    """The request that summarises one part with respect to ``question``."""
    pages = "\n\n".join(page_block(block.source, block.text) for block in part)
    content = f"Documents, page by page:\n\n{pages}\n\nQuestion: {question}"
    return [ChatMessage("system", SUMMARY_PART_INSTRUCTIONS), ChatMessage("user", content)]


def regrouped(summaries: Sequence[tuple[Sequence[Block], str]]) -> list[Block]:
    """Each part's summary (with the part it summarises) as blocks, one for each page its
    sentences cite, in page order. A sentence that cites none of its part's pages is
    kept with the part's first page: it is still what that part says."""
    texts: dict[int, list[str]] = {}
    sources: dict[int, Source] = {}
    for part, summary in summaries:
        by_number = {block.source.number: block.source for block in part}
        if not by_number:
            continue
        first = min(by_number)
        for sentence in _SENTENCE_END.split(" ".join(summary.split())):
            plain = _CITATION.sub("", sentence).strip()
            if not plain:
                continue
            numbers = [n for n in cited_numbers(sentence) if n in by_number] or [first]
            for number in numbers[:1]:  # one page a sentence: its first citation
                sources[number] = by_number[number]
                texts.setdefault(number, []).append(plain)
    return [Block(sources[n], " ".join(texts[n])) for n in sorted(texts)]


def answer_messages(
    blocks: Sequence[Block],
    question: str,
    history: Sequence[tuple[str, str]],
    system_prompt: str = "",
) -> list[ChatMessage]:
    """The request that answers ``question`` from the last round's blocks."""
    instructions = SUMMARY_ANSWER_INSTRUCTIONS
    if system_prompt.strip():
        instructions = f"{instructions}\n\n{system_prompt.strip()}"
    pages = "\n\n".join(page_block(block.source, block.text) for block in blocks)
    messages = [ChatMessage("system", instructions)]
    messages.extend(ChatMessage(role, content) for role, content in history)
    content = f"Summaries, page by page:\n\n{pages}\n\nQuestion: {question}"
    messages.append(ChatMessage("user", content))
    return messages


def answer_room(
    question: str, history: Sequence[tuple[str, str]], context_tokens: int, system_prompt: str
) -> int:
    """Tokens the last round's blocks may take in the answer's request."""
    instructions = f"{SUMMARY_ANSWER_INSTRUCTIONS}\n\n{system_prompt.strip()}"
    return prompt_room(question, history, context_tokens, instructions) - 16
