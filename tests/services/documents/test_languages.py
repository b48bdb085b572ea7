"""Each document's language is detected when it is indexed, and keyword search matches
words as that language forms them: stems, compounds, accents, CJK text."""

from __future__ import annotations

from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.records import CollectionRecord
from allma_desktop.services.documents.languages import (
    detect_language,
    embedding_advice,
    index_terms,
    joined_words,
)
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library import storage
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.storage import open_database
from allma_desktop.services.retrieval.keyword_index import KeywordIndex

GERMAN = (
    "Die Versicherungen der Patienten werden vor jedem Krankenhausaufenthalt geprüft. "
    "Der Antrag ist bei der Kasse einzureichen, und die Kosten werden nicht erstattet, "
    "wenn die Unterlagen fehlen."
)
GERMAN_OTHER = (
    "Die Bahn fährt jeden Morgen um sieben Uhr ab. Der Zug hält in allen Städten, "
    "und die Fahrkarten sind am Automaten zu kaufen."
)
FRENCH = (
    "La politique économique de la région est évaluée chaque année par le conseil. "
    "Les résultats sont publiés dans le rapport annuel, avec les dépenses prévues."
)
FRENCH_OTHER = (
    "Le musée est ouvert tous les jours sauf le lundi. Les visites guidées sont "
    "proposées aux groupes scolaires sur réservation."
)
ENGLISH = (
    "The annual report describes the budget of the region and the evaluation of "
    "its economic policy, which is published for the council every year."
)
JAPANESE = "東京都の人口は約千四百万人で、日本で最も人口が多い都市です。"
JAPANESE_OTHER = "京都には多くの寺院があり、毎年たくさんの観光客が訪れます。"
CHINESE = "北京是中华人民共和国的首都，也是全国的政治和文化中心。"


@pytest.fixture
def library(db: SqliteDatabase) -> LibraryService:
    return LibraryService(db)


@pytest.fixture
def index(db: SqliteDatabase) -> KeywordIndex:
    return KeywordIndex(db)


def _add(library: LibraryService, collection: CollectionRecord, name: str, text: str) -> str:
    document = library.start_document(collection.id, f"/docs/{name}")
    chunk = Chunk(
        chunk_id=f"{document.id}:0",
        document_id=document.id,
        index=0,
        text=text,
        path=document.path,
        title=name,
        page=1,
        heading_path=(),
        char_start=0,
        char_end=len(text),
    )
    library.commit_document(
        document.id,
        chunks=[chunk],
        collection_key=collection.key,
        metadata=DocumentMetadata(title=name, file_type="text"),
    )
    return name


def _found(index: KeywordIndex, collection: CollectionRecord, query: str) -> list[str]:
    return [Path(hit.path).name for hit in index.search(collection.key, query, k=5)]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (GERMAN, "de"),
        (FRENCH, "fr"),
        (ENGLISH, "en"),
        (JAPANESE, "ja"),
        (CHINESE, "zh"),
        ("Библиотека открыта каждый день, кроме воскресенья.", "ru"),
        ("12 34 56", "en"),
        ("", "en"),
    ],
)
def test_the_language_of_a_text_is_detected(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_each_document_language_is_recorded_when_it_is_indexed(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    for name, text in (("de.txt", GERMAN), ("fr.txt", FRENCH), ("ja.txt", JAPANESE)):
        _add(library, collection, name, text)
    recorded = {
        Path(library.get_document(row.document_id).path).name: row.language
        for row in storage.DocumentLanguage.select()
    }
    assert recorded == {"de.txt": "de", "fr.txt": "fr", "ja.txt": "ja"}
    assert index.languages() == ["de", "fr", "ja"]


def test_german_inflected_forms_find_each_other(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "versicherung.txt", GERMAN)
    _add(library, collection, "bahn.txt", GERMAN_OTHER)
    assert _found(index, collection, "Versicherung") == ["versicherung.txt"]  # -en
    assert _found(index, collection, "Welche Städte hat der Zug?") == ["bahn.txt"]  # Städten


def test_a_german_word_finds_the_compounds_it_begins(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "versicherung.txt", GERMAN)
    _add(library, collection, "bahn.txt", GERMAN_OTHER)
    # "Krankenhausaufenthalt" holds "Krankenhaus"; "Fahrkarten" holds "Fahrkarte".
    assert _found(index, collection, "Krankenhaus") == ["versicherung.txt"]
    assert _found(index, collection, "Fahrkarte") == ["bahn.txt"]


def test_french_words_match_with_and_without_accents(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "economie.txt", FRENCH)
    _add(library, collection, "musee.txt", FRENCH_OTHER)
    assert _found(index, collection, "économique") == ["economie.txt"]
    assert _found(index, collection, "politique economique evaluee") == ["economie.txt"]
    assert _found(index, collection, "musee reservations") == ["musee.txt"]


def test_a_japanese_sentence_is_found_by_a_japanese_query(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "tokyo.txt", JAPANESE)
    _add(library, collection, "kyoto.txt", JAPANESE_OTHER)
    assert _found(index, collection, "東京の人口は？") == ["tokyo.txt"]
    assert _found(index, collection, "観光客") == ["kyoto.txt"]


def test_a_hyphenated_word_and_its_spelling_as_one_word_find_each_other(
    library: LibraryService, index: KeywordIndex
) -> None:
    collection = library.default_collection()
    _add(library, collection, "pretraining.txt", "Pre-training ran for three weeks on 7T tokens.")
    _add(library, collection, "nonspecialist.txt", "Care by a nonspecialist nurse was as good.")
    _add(library, collection, "other.txt", "Training and care were discussed at length.")
    assert _found(index, collection, "How long did pretraining take?")[0] == "pretraining.txt"
    assert _found(index, collection, "non-specialist")[0] == "nonspecialist.txt"


def test_only_letters_joined_by_a_hyphen_are_written_as_one_word() -> None:
    assert joined_words("Pre-training of the E-Mail filter") == ["pretraining", "email"]
    assert joined_words("a-b-c") == ["ab", "bc"]
    assert joined_words("2015-2030, Qwen2-72B, 17-29 kg, well - known") == []
    assert index_terms("pre-training", "en") == "pre train pretrain"


def test_cjk_text_is_indexed_as_overlapping_character_pairs() -> None:
    assert index_terms("東京都", "ja") == "東京 京都"
    assert index_terms("Qwen2 模型", "zh") == "qwen2 模型"


def test_a_library_indexed_with_the_english_only_index_is_reindexed_on_open(
    tmp_path: Path,
) -> None:
    path = tmp_path / "allma.sqlite3"
    db = open_database(path)
    library = LibraryService(db)
    collection = library.default_collection()
    _add(library, collection, "versicherung.txt", GERMAN)
    # As an earlier version left it: the porter index over chunk_text, no languages.
    for statement in (
        "DROP TABLE chunk_terms_fts",
        "DELETE FROM document_language",
        "CREATE VIRTUAL TABLE chunk_text_fts USING fts5(text, content='chunk_text', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
        "INSERT INTO chunk_text_fts(chunk_text_fts) VALUES ('rebuild')",
    ):
        storage.execute_sql(db, statement, ())
    db.close()

    reopened = open_database(path)
    assert "chunk_text_fts" not in reopened.get_tables()
    assert storage.keyword_index_in_step(reopened)
    index = KeywordIndex(reopened)
    assert index.languages() == ["de"]
    assert _found(index, LibraryService(reopened).default_collection(), "Versicherung") == [
        "versicherung.txt"
    ]
    reopened.close()


def test_a_library_not_in_english_is_advised_a_multilingual_embedder() -> None:
    advice = embedding_advice(["en", "de", "ja"], "all-minilm:latest")
    assert advice is not None and "German and Japanese" in advice and "bge-m3" in advice
    assert embedding_advice(["de"], "bge-m3:latest") is None
    assert embedding_advice(["en"], "all-minilm:latest") is None
