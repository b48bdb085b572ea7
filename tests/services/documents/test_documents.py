"""Parsing: every format's structure and metadata, and every way a file can be unreadable.

All documents are generated here, in ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import docx
import pymupdf
import pytest

from allma_desktop.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    NoTextLayer,
    UnsupportedFile,
)
from allma_desktop.services.documents import sniff
from allma_desktop.services.documents.model import DocumentMetadata, ParsedDocument, TextBlock
from allma_desktop.services.documents.pdf import pdf_date_to_iso
from allma_desktop.services.documents.registry import ParserRegistry, default_registry
from allma_desktop.services.documents.service import DocumentService
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_PAGES, write_pdf

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.fixture
def service() -> DocumentService:
    return DocumentService(chunk_size=400, chunk_overlap=60)


def make_pdf(path: Path, pages: list[str], **save_options: object) -> Path:
    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 700), text, fontsize=11)
    document.save(path, **save_options)
    document.close()
    return path


def texts(parsed: ParsedDocument) -> list[str]:
    return [block.text for block in parsed.blocks]


# --- PDF ------------------------------------------------------------------------


def test_every_pdf_block_carries_its_one_based_page(
    service: DocumentService, tmp_path: Path
) -> None:
    parsed = service.parse(write_pdf(tmp_path / "manual.pdf", PDF_PAGES))

    assert [block.page for block in parsed.blocks] == [1, 2, 3, 4]
    assert parsed.metadata.page_count == 4


def test_known_pdf_fact_is_in_a_chunk_on_its_page(service: DocumentService, tmp_path: Path) -> None:
    parsed = service.parse(write_pdf(tmp_path / "manual.pdf", PDF_PAGES))
    chunks = service.chunk(parsed, "doc")

    pages_with_answer = {chunk.page for chunk in chunks if PDF_ANSWER in chunk.text}
    assert pages_with_answer == {PDF_ANSWER_PAGE}
    assert all(chunk.page is not None for chunk in chunks)


def test_pdf_metadata_title_author_and_dates_are_read(
    service: DocumentService, tmp_path: Path
) -> None:
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "Harbor lighthouse keeping.")
    document.set_metadata(
        {
            "title": "Harbor Manual",
            "author": "Ada Keeper",
            "creationDate": "D:20240131093000+01'00'",
            "modDate": "D:20240201120000Z",
        }
    )
    document.save(tmp_path / "meta.pdf")

    metadata = service.parse(tmp_path / "meta.pdf").metadata

    assert (metadata.title, metadata.author) == ("Harbor Manual", "Ada Keeper")
    assert metadata.created == "2024-01-31T09:30:00+01:00"
    assert metadata.modified == "2024-02-01T12:00:00+00:00"
    assert metadata.file_type == "pdf"


@pytest.mark.parametrize(
    ("pdf_date", "iso"),
    [
        ("D:20231224", "2023-12-24T00:00:00"),
        ("D:19991231235959-05'30'", "1999-12-31T23:59:59-05:30"),
        ("20240102030405Z", "2024-01-02T03:04:05+00:00"),
        ("D:20241399", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_pdf_date_strings_become_iso_8601(pdf_date: str, iso: str | None) -> None:
    assert pdf_date_to_iso(pdf_date) == iso


def test_pdf_without_title_metadata_takes_its_largest_first_page_text(
    service: DocumentService, tmp_path: Path
) -> None:
    document = pymupdf.open()
    page = document.new_page()
    page.insert_text((72, 72), "Lamp Maintenance", fontsize=24)
    page.insert_text((72, 120), "The lens is cleaned every Friday.", fontsize=11)
    page.insert_text((72, 140), "The bulb is rated at 3500 watts.", fontsize=11)
    document.save(tmp_path / "untitled.pdf")

    assert service.parse(tmp_path / "untitled.pdf").metadata.title == "Lamp Maintenance"


def test_pdf_without_any_title_falls_back_to_file_stem(
    service: DocumentService, tmp_path: Path
) -> None:
    parsed = service.parse(make_pdf(tmp_path / "keeper-log.pdf", ["Plain text all the same size."]))

    assert parsed.metadata.title == "keeper-log"


def test_pdf_outline_gives_heading_paths(service: DocumentService, tmp_path: Path) -> None:
    document = pymupdf.open()
    for heading, text in [("Lighthouse", "The tower is white."), ("Lamp", "It burns at night.")]:
        page = document.new_page()
        page.insert_text((72, 72), heading, fontsize=18)
        page.insert_text((72, 140), text, fontsize=11)
    document.set_toc([[1, "Lighthouse", 1], [2, "Lamp", 2]])
    document.save(tmp_path / "outlined.pdf")

    blocks = service.parse(tmp_path / "outlined.pdf").blocks

    lamp_heading = next(block for block in blocks if block.text == "Lamp")
    body = next(block for block in blocks if block.text == "It burns at night.")
    assert lamp_heading.kind == "heading"
    assert body.heading_path == ("Lighthouse", "Lamp")


def test_word_hyphenated_across_a_line_break_is_joined(
    service: DocumentService, tmp_path: Path
) -> None:
    pdf = make_pdf(tmp_path / "hyphen.pdf", ["The lighthouse keep-\ners log the weather daily."])

    assert texts(service.parse(pdf)) == ["The lighthouse keepers log the weather daily."]


def test_footer_repeated_on_every_page_is_dropped(service: DocumentService, tmp_path: Path) -> None:
    document = pymupdf.open()
    for number in range(1, 6):
        page = document.new_page()
        page.insert_text((72, 100), f"Chapter {number} tells of the keepers.", fontsize=11)
        page.insert_text((72, 820), f"Harbor Manual - page {number}", fontsize=9)
    document.save(tmp_path / "footers.pdf")

    parsed = service.parse(tmp_path / "footers.pdf")

    assert not any("Harbor Manual" in text for text in texts(parsed))
    assert len(parsed.blocks) == 5


def test_pdf_needing_a_password_raises_encrypted(service: DocumentService, tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "locked.pdf",
        ["Secret keeper notes."],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw="x",
        owner_pw="y",
    )

    with pytest.raises(EncryptedDocument):
        service.parse(pdf)


def test_pdf_with_only_an_owner_password_is_read(service: DocumentService, tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "owner-only.pdf",
        ["Open keeper notes."],
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        owner_pw="y",
    )

    assert texts(service.parse(pdf)) == ["Open keeper notes."]


def test_truncated_pdf_raises_corrupt(service: DocumentService, tmp_path: Path) -> None:
    whole = make_pdf(tmp_path / "whole.pdf", ["Some text."]).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[:60])

    with pytest.raises(CorruptDocument):
        service.parse(truncated)


def test_pdf_of_garbage_after_its_header_raises_corrupt(
    service: DocumentService, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)

    with pytest.raises(CorruptDocument):
        service.parse(garbage)


def test_png_named_pdf_is_reported_as_not_a_pdf(service: DocumentService, tmp_path: Path) -> None:
    fake = tmp_path / "scan.pdf"
    fake.write_bytes(PNG_BYTES)

    with pytest.raises(CorruptDocument, match=r"not a PDF \(looks like PNG image\)"):
        service.parse(fake)


def test_pdf_of_images_and_drawings_only_raises_no_text_layer(
    service: DocumentService, tmp_path: Path
) -> None:
    document = pymupdf.open()
    page = document.new_page()
    pixmap = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 16, 16), False)
    pixmap.clear_with(200)
    page.insert_image(pymupdf.Rect(72, 72, 272, 272), pixmap=pixmap)
    page.draw_rect(pymupdf.Rect(300, 300, 400, 400), color=(0, 0, 0), fill=(1, 0, 0))
    document.save(tmp_path / "scanned.pdf")

    with pytest.raises(NoTextLayer):
        service.parse(tmp_path / "scanned.pdf")


def test_fb2_book_is_read_with_pages_and_headings(service: DocumentService, tmp_path: Path) -> None:
    book = tmp_path / "book.fb2"
    book.write_text(
        '<?xml version="1.0" encoding="utf-8"?>'
        '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">'
        "<description><title-info><book-title>Sea Tales</book-title></title-info></description>"
        "<body><section><title><p>The Storm</p></title>"
        "<p>The waves rose over the harbor wall.</p></section></body></FictionBook>",
        encoding="utf-8",
    )

    parsed = service.parse(book)

    assert parsed.metadata.file_type == "fb2"
    assert any("waves rose" in text for text in texts(parsed))
    assert all(block.page == 1 for block in parsed.blocks)


# --- DOCX -----------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Greenhouse", level=0)
    document.add_paragraph("An introduction to the greenhouse.")
    document.add_heading("Watering", level=1)
    document.add_paragraph("Tomatoes need water every morning.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in enumerate([("Plant", "Litres"), ("Tomato", "2")]):
        for column, text in enumerate(cells):
            table.cell(row, column).text = text
    document.add_heading("Timing", level=2)
    document.add_paragraph("Water before seven.", style="List Bullet")
    document.add_heading("Pruning", level=1)
    document.add_paragraph("Prune in spring.")
    document.core_properties.title = "Greenhouse notes"
    document.core_properties.author = "Gardener"
    document.core_properties.created = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    document.save(str(path))
    return path


def test_docx_keeps_paragraphs_headings_and_tables_in_order(
    service: DocumentService, tmp_path: Path
) -> None:
    parsed = service.parse(make_docx(tmp_path / "notes.docx"))

    assert [(block.kind, block.text) for block in parsed.blocks] == [
        ("heading", "Greenhouse"),
        ("paragraph", "An introduction to the greenhouse."),
        ("heading", "Watering"),
        ("paragraph", "Tomatoes need water every morning."),
        ("table", "Plant | Litres\nTomato | 2"),
        ("heading", "Timing"),
        ("list", "Water before seven."),
        ("heading", "Pruning"),
        ("paragraph", "Prune in spring."),
    ]


def test_docx_headings_give_heading_paths(service: DocumentService, tmp_path: Path) -> None:
    paths = {b.text: b.heading_path for b in service.parse(make_docx(tmp_path / "n.docx")).blocks}

    assert paths["Plant | Litres\nTomato | 2"] == ("Greenhouse", "Watering")
    assert paths["Water before seven."] == ("Greenhouse", "Watering", "Timing")
    assert paths["Prune in spring."] == ("Greenhouse", "Pruning")


def test_docx_core_properties_become_metadata(service: DocumentService, tmp_path: Path) -> None:
    metadata = service.parse(make_docx(tmp_path / "notes.docx")).metadata

    assert (metadata.title, metadata.author) == ("Greenhouse notes", "Gardener")
    assert metadata.created == "2024-03-01T08:00:00+00:00"
    assert metadata.file_type == "docx"


def test_docx_that_is_not_a_zip_raises_corrupt(service: DocumentService, tmp_path: Path) -> None:
    fake = tmp_path / "report.docx"
    fake.write_text("just some text, not a Word file", encoding="utf-8")

    with pytest.raises(CorruptDocument, match=r"not a valid DOCX file \(not a zip archive\)"):
        service.parse(fake)


def test_zip_without_word_document_raises_corrupt(service: DocumentService, tmp_path: Path) -> None:
    fake = tmp_path / "archive.docx"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("hello.txt", "hello")

    with pytest.raises(CorruptDocument):
        service.parse(fake)


def test_docx_declaring_a_huge_unzipped_size_is_refused(
    service: DocumentService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real zip bomb is slow to build; lowering the limit shows the same check.
    monkeypatch.setattr(sniff, "MAX_UNZIPPED_BYTES", 1000)

    with pytest.raises(CorruptDocument, match="too large when decompressed"):
        service.parse(make_docx(tmp_path / "bomb.docx"))


# --- Markdown -------------------------------------------------------------------

MARKDOWN = """\
# Bicycle care

Keep the bicycle [clean](https://example.org/clean) and **dry**.

Chain
-----

Oil the chain after rain.

- Wipe it first
- Then oil it

```python
def oil(chain):

    return chain
```

### Links

Grease the links.

# Tyres

Pump to four bar.
"""


def test_markdown_atx_and_setext_headings_give_heading_paths(
    service: DocumentService, tmp_path: Path
) -> None:
    path = tmp_path / "bike.md"
    path.write_text(MARKDOWN, encoding="utf-8")

    paths = {block.text: block.heading_path for block in service.parse(path).blocks}

    assert paths["Oil the chain after rain."] == ("Bicycle care", "Chain")
    assert paths["Grease the links."] == ("Bicycle care", "Chain", "Links")
    assert paths["Pump to four bar."] == ("Tyres",)


def test_markdown_markup_is_stripped_and_link_text_kept(
    service: DocumentService, tmp_path: Path
) -> None:
    path = tmp_path / "bike.md"
    path.write_text(MARKDOWN, encoding="utf-8")

    parsed = service.parse(path)

    assert "Keep the bicycle clean and dry." in texts(parsed)
    assert parsed.metadata.title == "Bicycle care"


def test_markdown_code_fence_is_one_code_block(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "bike.md"
    path.write_text(MARKDOWN, encoding="utf-8")

    code = [block for block in service.parse(path).blocks if block.kind == "code"]

    assert [block.text for block in code] == ["def oil(chain):\n\n    return chain"]


def test_markdown_list_items_are_list_blocks(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "bike.md"
    path.write_text(MARKDOWN, encoding="utf-8")

    items = [block.text for block in service.parse(path).blocks if block.kind == "list"]

    assert items == ["Wipe it first", "Then oil it"]


def test_markdown_front_matter_title_wins(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text('---\ntitle: "Spring ride"\ndate: 2024-04-01\n---\n# Intro\n\nGo.\n')

    parsed = service.parse(path)

    assert parsed.metadata.title == "Spring ride"
    assert "date" not in " ".join(texts(parsed))


# --- Text -----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_text_with_byte_order_mark_is_decoded(
    service: DocumentService, tmp_path: Path, encoding: str
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("Crème brûlée für Øresund.\n\nZweiter Absatz.".encode(encoding))

    assert texts(service.parse(path)) == ["Crème brûlée für Øresund.", "Zweiter Absatz."]


def test_latin1_text_is_decoded(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "recette.txt"
    text = "La crème brûlée est préparée à l'avance et servie très froide, façon grand-mère."
    path.write_bytes(text.encode("latin-1"))

    assert texts(service.parse(path)) == [text]


def test_invalid_utf8_bytes_are_replaced_not_fatal(
    service: DocumentService, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.txt"
    path.write_bytes("Grüße aus Köln, schöne Straße ".encode() + b"\xff\xfe\xc3 end")

    (text,) = texts(service.parse(path))

    assert text.startswith("Grüße aus Köln, schöne Straße")
    assert "\ufffd" in text and text.endswith("end")


def test_text_paragraphs_split_on_blank_lines(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First line\nsame paragraph\n\n\n  \nSecond paragraph\r\n\r\nThird\n")

    parsed = service.parse(path)

    assert texts(parsed) == ["First line\nsame paragraph", "Second paragraph", "Third"]
    assert parsed.metadata.file_type == "text"


def test_source_code_becomes_code_blocks_with_indentation(
    service: DocumentService, tmp_path: Path
) -> None:
    path = tmp_path / "lamp.py"
    path.write_text("def light():\n    return 'on'\n\n\nclass Lamp:\n    watts = 3500\n")

    parsed = service.parse(path)

    assert [(b.kind, b.text) for b in parsed.blocks] == [
        ("code", "def light():\n    return 'on'"),
        ("code", "class Lamp:\n    watts = 3500"),
    ]
    assert parsed.metadata.file_type == "code"


def test_png_named_txt_is_not_read_as_text(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(PNG_BYTES)

    with pytest.raises(CorruptDocument, match="looks like PNG image"):
        service.parse(path)


# --- HTML -----------------------------------------------------------------------

HTML = """<!doctype html><html><head><title>Harbor page</title>
<style>p { color: red }</style><script>var secret = "hidden";</script></head>
<body><h1>Harbor</h1><p>The harbor is <a href="/x">busy</a> in summer.</p>
<h2>Boats</h2><ul><li>Ferry</li><li>Tug</li></ul>
<table><tr><th>Boat</th><th>Length</th></tr><tr><td>Ferry</td><td>40 m</td></tr></table>
<pre>  line one
  line two</pre><!-- a comment --></body></html>"""


def test_html_blocks_headings_and_title(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "harbor.html"
    path.write_text(HTML, encoding="utf-8")

    parsed = service.parse(path)

    assert parsed.metadata.title == "Harbor page"
    assert [(b.kind, b.text, b.heading_path) for b in parsed.blocks] == [
        ("heading", "Harbor", ("Harbor",)),
        ("paragraph", "The harbor is busy in summer.", ("Harbor",)),
        ("heading", "Boats", ("Harbor", "Boats")),
        ("list", "Ferry", ("Harbor", "Boats")),
        ("list", "Tug", ("Harbor", "Boats")),
        ("table", "Boat | Length\nFerry | 40 m", ("Harbor", "Boats")),
        ("code", "  line one\n  line two", ("Harbor", "Boats")),
    ]


def test_deeply_nested_html_is_read(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 20_000 + "bottom text" + "</div>" * 20_000)

    assert texts(service.parse(path)) == ["bottom text"]


# --- Empty files, all formats ---------------------------------------------------


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "a.md", "a.txt", "a.html", "a.py"])
def test_zero_byte_file_is_empty(service: DocumentService, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")

    with pytest.raises(EmptyDocument):
        service.parse(path)


@pytest.mark.parametrize("name", ["a.md", "a.txt", "a.html"])
def test_whitespace_only_file_is_empty(service: DocumentService, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(" \n\n\t \r\n  ")

    with pytest.raises(EmptyDocument):
        service.parse(path)


# --- Metadata shared by all formats ---------------------------------------------


def test_metadata_has_hash_size_and_stem_title(service: DocumentService, tmp_path: Path) -> None:
    path = tmp_path / "plain-notes.txt"
    path.write_text("Some notes.", encoding="utf-8")

    metadata = service.parse(path).metadata

    assert metadata.content_hash == hashlib.sha256(b"Some notes.").hexdigest()
    assert metadata.size_bytes == 11
    assert metadata.title == "plain-notes"
    assert service.hash_file(path) == metadata.content_hash


# --- Registry -------------------------------------------------------------------


def test_registry_finds_file_types_by_extension_in_any_case() -> None:
    registry = default_registry()

    assert registry.file_type_for(Path("Report.PDF")) == "pdf"
    assert registry.file_type_for(Path("book.epub")) == "epub"
    assert registry.file_type_for(Path("notes.markdown")) == "markdown"
    assert registry.file_type_for(Path("main.rs")) == "code"
    assert registry.file_type_for(Path("photo.JPG")) == "image"
    assert registry.file_type_for(Path("movie.mkv")) is None
    assert {".pdf", ".docx", ".md", ".txt", ".html"} <= registry.supported_extensions()


def test_unknown_extension_raises_unsupported_file() -> None:
    with pytest.raises(UnsupportedFile):
        default_registry().parser_for(Path("movie.mkv"))


def test_registered_parser_is_used_for_its_extensions(tmp_path: Path) -> None:
    def parse_notes(path: Path) -> ParsedDocument:
        return ParsedDocument(path, DocumentMetadata(title="n"), [TextBlock("parsed")])

    registry = ParserRegistry()
    registry.register("notes", ["notes", ".NOTE"], parse_notes)
    path = tmp_path / "a.note"
    path.write_text("x")

    assert DocumentService(registry=registry).parse(path).blocks == [TextBlock("parsed")]
    assert registry.supported_extensions() == {".notes", ".note"}


# --- Service --------------------------------------------------------------------


def test_unexpected_parser_exception_becomes_corrupt_document(tmp_path: Path) -> None:
    def broken(path: Path) -> ParsedDocument:
        raise KeyError("missing part")

    registry = ParserRegistry()
    registry.register("broken", [".brk"], broken)
    path = tmp_path / "a.brk"
    path.write_text("x")

    with pytest.raises(CorruptDocument, match="KeyError"):
        DocumentService(registry=registry).parse(path)


def test_parsing_a_file_that_is_gone_says_it_was_moved_or_deleted(
    service: DocumentService, tmp_path: Path
) -> None:
    with pytest.raises(DocumentError, match="was moved or deleted before it could be read"):
        service.parse(tmp_path / "gone.txt")


def test_parsing_a_folder_raises_a_document_error(service: DocumentService, tmp_path: Path) -> None:
    folder = tmp_path / "looks-like.txt"
    folder.mkdir()

    with pytest.raises(DocumentError, match="not a regular file"):
        service.parse(folder)


def test_skip_reason_names_hidden_unsupported_and_odd_files(
    service: DocumentService, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "folder.md").mkdir()

    assert service.skip_reason(tmp_path / "notes.txt") is None
    assert service.skip_reason(tmp_path / ".hidden.txt") == "hidden file"
    assert service.skip_reason(tmp_path / "~$report.docx") == "temporary Office file"
    assert service.skip_reason(tmp_path / "movie.mkv") == "unsupported file type '.mkv'"
    assert service.skip_reason(tmp_path / "folder.md") == "not a regular file"
    assert service.is_supported(tmp_path / "x.DOCX")
    assert not service.is_supported(tmp_path / "Makefile")


@pytest.mark.parametrize("name", ["IMG_0042.HEIC", "whiteboard.heif"])
def test_an_iphone_photo_says_to_save_it_as_jpeg(tmp_path: Path, name: str) -> None:
    # Neither Qt nor Pillow reads HEIC here: the message says what to do with the photo.
    photo = tmp_path / name
    photo.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic")
    with pytest.raises(UnsupportedFile) as raised:
        DocumentService().parse(photo)
    assert name in str(raised.value)
    assert "HEIC" in str(raised.value)
    assert "JPEG" in raised.value.hint
