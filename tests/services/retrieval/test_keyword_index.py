"""BM25 keyword search over chunk texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.records import CollectionRecord, DocumentRecord
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.retrieval.keyword_index import (
    KeywordIndex,
    fts5_query,
    query_terms,
    rarest_terms,
)


@pytest.fixture
def library(db: SqliteDatabase) -> LibraryService:
    return LibraryService(db)


@pytest.fixture
def index(db: SqliteDatabase) -> KeywordIndex:
    return KeywordIndex(db)


def _add(
    library: LibraryService,
    collection: CollectionRecord,
    path: str,
    texts: list[str],
    *,
    page: int | None = 2,
) -> DocumentRecord:
    document = library.start_document(collection.id, path)
    chunks = [
        Chunk(
            chunk_id=f"{document.id}:{index}",
            document_id=document.id,
            index=index,
            text=text,
            path=document.path,
            title=Path(path).stem,
            page=page,
            heading_path=("Handbook", "Leave"),
            char_start=index * 1000,
            char_end=index * 1000 + len(text),
        )
        for index, text in enumerate(texts)
    ]
    return library.commit_document(
        document.id,
        chunks=chunks,
        collection_key=collection.key,
        metadata=DocumentMetadata(title=Path(path).stem, file_type="text"),
    )


FILLER = [
    "The cafeteria opens at eight and closes at three.",
    "Parking permits are renewed every January at the front desk.",
    "Expense reports need a receipt for anything above fifty euros.",
]


def test_the_chunk_with_the_query_words_ranks_first(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    handbook = _add(
        library,
        collection,
        "/docs/handbook.txt",
        [*FILLER, "Parental leave lasts sixteen weeks; parental leave can be split."],
    )

    hits = index.search(collection.key, "How long is parental leave?", k=3)

    assert hits[0].chunk_id == f"{handbook.id}:3"


def test_hits_are_scored_higher_is_better(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    _add(
        library,
        collection,
        "/docs/handbook.txt",
        ["leave", "parental leave policy", "nothing relevant here"],
    )

    scores = [hit.score for hit in index.search(collection.key, "parental leave", k=5)]

    assert len(scores) == 2 and scores[0] > scores[1] > 0


def test_a_hit_says_where_the_text_came_from(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    document = _add(library, collection, "/docs/handbook.txt", ["Sick leave needs a note."])

    hit = index.search(collection.key, "sick", k=1)[0]

    assert (hit.document_id, hit.path, hit.title, hit.page) == (
        document.id,
        "/docs/handbook.txt",
        "handbook",
        2,
    )
    assert (hit.heading_path, hit.char_start, hit.char_end, hit.text) == (
        ("Handbook", "Leave"),
        0,
        len("Sick leave needs a note."),
        "Sick leave needs a note.",
    )


def test_search_matches_other_forms_of_a_word(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["The committee approved the budgets."])
    assert len(index.search(collection.key, "approving budget", k=5)) == 1


def test_search_ignores_accents(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["Le café ouvre à huit heures."])
    assert len(index.search(collection.key, "cafe", k=5)) == 1


def test_search_stays_inside_the_collection(library: LibraryService, index: KeywordIndex) -> None:
    library_collection = library.default_collection()
    papers = library.create_collection("Papers")
    _add(library, library_collection, "/docs/a.txt", ["quantum entanglement"])
    in_papers = _add(library, papers, "/docs/b.txt", ["quantum tunnelling"])

    hits = index.search(papers.key, "quantum", k=5)

    assert [hit.document_id for hit in hits] == [in_papers.id]


def test_search_can_be_limited_to_some_documents(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["invoice total"])
    wanted = _add(library, collection, "/docs/b.txt", ["invoice number"])

    hits = index.search(collection.key, "invoice", k=5, document_ids=[wanted.id])

    assert [hit.document_id for hit in hits] == [wanted.id]


def test_search_returns_at_most_k_hits(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", [f"report number {n}" for n in range(10)])
    assert len(index.search(collection.key, "report", k=4)) == 4


def test_common_words_alone_still_find_something(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["to be or not to be"])
    assert len(index.search(collection.key, "to be", k=5)) == 1


@pytest.mark.parametrize(
    ("query", "expected_hits"),
    [
        ('"', 0),
        ('"leave', 1),
        ("AND OR NOT", 1),  # only operator words: searched as the words themselves
        ("*", 0),
        ("(", 0),
        ("leave)", 1),
        ("NEAR(leave", 1),
        ("-leave", 1),
        ("col:leave", 1),
        ("^", 0),
        ("", 0),
    ],
)
def test_hostile_queries_are_searched_as_plain_words(
    library: LibraryService, index: KeywordIndex, query: str, expected_hits: int
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["annual leave and sick leave"])
    assert len(index.search(collection.key, query, k=5)) == expected_hits


def test_operator_words_are_searched_as_plain_words() -> None:
    # Each word stemmed as the index stems it (English when the library has no documents).
    assert fts5_query('NEAR "quoted" AND (xy*)') == '"near" OR "quot" OR "xy"'


def test_single_letters_are_not_searched_when_real_words_are_there() -> None:
    assert fts5_query("MuPDF's error handling in C") == '"mupdf" OR "error" OR "handl"'


def test_a_query_with_no_words_finds_nothing(library: LibraryService, index: KeywordIndex) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["anything"])
    assert index.search(collection.key, " ?! ", k=5) == []


def test_a_recommitted_document_is_found_by_its_new_words_only(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["zeppelin hangar"])
    _add(library, collection, "/docs/a.txt", ["submarine dock"])
    assert index.search(collection.key, "zeppelin", k=5) == []
    assert [hit.text for hit in index.search(collection.key, "submarine", k=5)] == [
        "submarine dock"
    ]


def test_a_deleted_document_is_no_longer_found(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    document = _add(library, collection, "/docs/a.txt", ["zeppelin hangar"])
    library.delete_document(document.id)
    assert index.search(collection.key, "zeppelin", k=5) == []


def test_a_moved_document_is_found_in_its_new_collection_only(
    library: LibraryService, index: KeywordIndex
) -> None:
    library_collection = library.default_collection()
    papers = library.create_collection("Papers")
    document = _add(library, library_collection, "/docs/a.txt", ["zeppelin hangar"])
    library.move_document(document.id, papers.id)
    assert index.search(library_collection.key, "zeppelin", k=5) == []
    assert [hit.document_id for hit in index.search(papers.key, "zeppelin", k=5)] == [document.id]


def test_hits_are_found_when_other_collections_hold_all_the_best_matches(
    library: LibraryService, index: KeywordIndex
) -> None:
    library_collection = library.default_collection()
    papers = library.create_collection("Papers")
    _add(library, library_collection, "/docs/a.txt", ["zeppelin zeppelin"] * 30)
    _add(library, papers, "/docs/b.txt", ["one zeppelin among many other words", "zeppelin, too"])
    assert len(index.search(papers.key, "zeppelin", k=2)) == 2


# --- ranking with the rarest words -------------------------------------------------


def test_rarest_terms_are_taken_rarest_first_within_the_budget() -> None:
    frequencies = {"report": 900, "zeppelin": 3, "hangar": 40, "annual": 300}
    assert rarest_terms(frequencies, wanted=5, budget=100) == ["zeppelin", "hangar"]


def test_rarest_terms_go_past_the_budget_until_enough_chunks_can_match() -> None:
    frequencies = {"report": 900, "zeppelin": 1, "hangar": 2}
    assert rarest_terms(frequencies, wanted=10, budget=5) == ["zeppelin", "hangar", "report"]


def test_the_rarest_term_is_taken_even_over_the_budget() -> None:
    assert rarest_terms({"report": 900, "annual": 700}, wanted=0, budget=5) == ["annual"]


def test_terms_no_chunk_holds_are_not_ranked_with() -> None:
    assert rarest_terms({"zeppelin": 0, "hangar": 2}, wanted=1, budget=5) == ["hangar"]


def test_chunk_frequencies_count_every_form_of_a_word(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", ["indexes", "indexed twice", "indexing", "other"])
    assert query_terms("indexing") == query_terms("indexes") == ["index"]
    assert index.chunk_frequencies(["index", "absent"], cap=10) == {"index": 3, "absent": 0}


def test_chunk_frequencies_stop_counting_at_the_cap(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", [f"report {n}" for n in range(8)])
    assert index.chunk_frequencies(["report"], cap=3) == {"report": 3}


COMMON = [f"The annual report, part {n}." for n in range(12)]


def test_the_chunk_holding_all_the_words_ranks_first_when_only_rare_words_rank(
    library: LibraryService, db: SqliteDatabase
) -> None:
    collection = library.default_collection()
    document = _add(
        library,
        collection,
        "/docs/a.txt",
        [*COMMON, "The zeppelin left.", "The hangar report: the zeppelin hangar is empty."],
    )
    index = KeywordIndex(db, ranking_budget=3)  # "report" (13 chunks) is over budget

    hits = index.search(collection.key, "zeppelin hangar report", k=2)

    assert [hit.chunk_id for hit in hits] == [f"{document.id}:13", f"{document.id}:12"]


def test_common_words_are_searched_when_the_rare_words_find_too_few_chunks(
    library: LibraryService, db: SqliteDatabase
) -> None:
    collection = library.default_collection()
    document = _add(library, collection, "/docs/a.txt", [*COMMON, "The zeppelin report."])
    index = KeywordIndex(db, ranking_budget=3)

    hits = index.search(collection.key, "zeppelin report", k=5)

    assert len(hits) == 5 and hits[0].chunk_id == f"{document.id}:12"


def test_rare_words_found_only_in_other_collections_fall_back_to_every_word(
    library: LibraryService, db: SqliteDatabase
) -> None:
    library_collection = library.default_collection()
    papers = library.create_collection("Papers")
    _add(library, library_collection, "/docs/a.txt", ["zeppelin report"] * 3)
    _add(library, papers, "/docs/b.txt", COMMON)
    index = KeywordIndex(db, ranking_budget=3)  # ranks with "zeppelin" alone first

    hits = index.search(papers.key, "zeppelin report", k=2)

    assert len(hits) == 2 and all("report" in hit.text for hit in hits)


def test_words_no_chunk_holds_find_nothing_without_ranking(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "/docs/a.txt", COMMON)
    assert index.search(collection.key, "zeppelin hangar", k=5) == []


def test_a_table_named_by_number_finds_the_chunk_that_holds_it(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(
        library, collection, "/docs/one.txt", ["Table 1 lists doses; the table gives doses by kg."]
    )
    _add(library, collection, "/docs/three.txt", ["Table 3 lists the suppliers of each country."])
    found = [Path(hit.path).name for hit in index.search(collection.key, "What is in Table 3?", 5)]
    assert found[0] == "three.txt"
