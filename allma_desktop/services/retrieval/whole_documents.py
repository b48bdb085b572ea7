"""Whole documents for the model, page by page, instead of the best passages.

When every document a conversation answers from fits in the model's context with room
for the answer, the model reads them whole: "summarise this" or "what is on page 12"
then work, which no handful of passages can answer. Each page becomes one numbered
source (``[n] (report.pdf, page 12)``), in page order, so the model cites pages as it
cites passages, and the answer's citations, the reader and the check against the
sources work as they do for passages. A document without pages (Markdown, text) is one
source. Once the answer is in, each page it cites is narrowed to the passage of that page
that the citing sentences match best (``narrowed``), so the reader highlights the
passage, not the page, and the chip names its section.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from allma_desktop.records import DocumentRecord
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.library.catalog import text_of_chunks
from allma_desktop.services.retrieval.grounding import answer_sentences
from allma_desktop.services.retrieval.prompting import approx_tokens, cited_numbers, source_label
from allma_desktop.services.retrieval.rag import make_snippet
from allma_desktop.services.retrieval.text_terms import content_terms
from allma_desktop.sources import Source


@dataclass(frozen=True)
class WholeDocuments:
    """The documents as sources, one a page, and each page's text by its source's chunk id."""

    sources: tuple[Source, ...]
    texts: dict[str, str]
    titles: tuple[str, ...]
    chunks: dict[str, tuple[Chunk, ...]]  # each page's chunks, by its source's chunk id

    @property
    def tokens(self) -> int:
        """About what the pages cost in the prompt, headers included."""
        return sum(
            approx_tokens(page_block(source, self.texts[source.chunk_id]))
            for source in self.sources
        )


def whole_documents(documents: Sequence[tuple[DocumentRecord, Sequence[Chunk]]]) -> WholeDocuments:
    """``documents`` (each with its chunks) as page sources, numbered from 1 in order."""
    sources: list[Source] = []
    texts: dict[str, str] = {}
    page_chunks_of: dict[str, tuple[Chunk, ...]] = {}
    titles: list[str] = []
    for document, chunks in documents:
        if not chunks:
            continue
        titles.append(document.title or document.path.rsplit("/", 1)[-1])
        pages: dict[int | None, list[Chunk]] = {}
        for chunk in sorted(chunks, key=lambda c: (c.page or 0, c.char_start)):
            pages.setdefault(chunk.page, []).append(chunk)
        for page, page_chunks in pages.items():
            text = text_of_chunks(page_chunks)
            if not text:
                continue
            first = page_chunks[0]
            source = Source(
                number=len(sources) + 1,
                document_id=document.id,
                chunk_id=first.chunk_id,
                path=document.path,
                title=document.title,
                page=page,
                score=1.0,
                snippet=make_snippet(text),
                heading_path=first.heading_path,
                char_start=min(c.char_start for c in page_chunks),
                char_end=max(c.char_end for c in page_chunks),
                ocr=any(c.ocr for c in page_chunks),
            )
            sources.append(source)
            texts[source.chunk_id] = text
            page_chunks_of[source.chunk_id] = tuple(page_chunks)
    return WholeDocuments(tuple(sources), texts, tuple(titles), page_chunks_of)


def narrowed(whole: WholeDocuments, cited: Sequence[Source], answer: str) -> list[Source]:
    """Each cited page as the passage of it that the sentences citing it match best
    (most words in common; the page's first passage of equals); its number is kept."""
    sentences = answer_sentences(answer)
    result: list[Source] = []
    for source in cited:
        chunks = whole.chunks.get(source.chunk_id, ())
        if len(chunks) < 2:
            result.append(source)
            continue
        citing = [s for s in sentences if source.number in cited_numbers(s)] or [answer]
        words = set(content_terms(" ".join(citing)))
        best = max(chunks, key=lambda c: (len(words & set(content_terms(c.text))), -c.char_start))
        result.append(
            replace(
                source,
                chunk_id=best.chunk_id,
                snippet=make_snippet(best.text),
                heading_path=best.heading_path,
                char_start=best.char_start,
                char_end=best.char_end,
                ocr=best.ocr,
            )
        )
    return result


def page_block(source: Source, text: str) -> str:
    """How one page reads in the prompt: its number and place, then its text."""
    return f"[{source.number}] ({source_label(source)})\n{text.strip()}"
