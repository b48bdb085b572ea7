"""Documents generated in code for the tests, the benchmarks and the screenshots.

Each carries facts the tests ask about, on known pages or under known headings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A fact per page of the sample PDF; the question for page 3 is the one the tests ask.
PDF_PAGES = [
    "Introduction. The Harbor Lighthouse manual describes upkeep of the coastal beacon. "
    "Keepers record weather observations twice a day.",
    "Staffing. Two keepers share the night watch in alternating shifts. "
    "Supplies arrive by boat every second Tuesday.",
    "Lamp maintenance. The lighthouse lamp uses a xenon bulb rated at 3500 watts. "
    "The lens is cleaned every Friday with distilled water and a soft cloth.",
    "Emergencies. In a storm the fog horn sounds every thirty seconds. "
    "The radio channel for the coast guard is channel sixteen.",
]
PDF_QUESTION = "How many watts is the xenon bulb of the lighthouse lamp rated at?"
PDF_ANSWER = "3500 watts"
PDF_ANSWER_PAGE = 3

DOCX_FACT = "The greenhouse tomatoes need watering every morning at seven."
MARKDOWN_FACT = "The bicycle chain should be oiled after every rainy ride."
TEXT_FACT = "The sourdough starter is fed with rye flour on Sundays."


@dataclass(frozen=True)
class SampleLibrary:
    folder: Path
    pdf: Path
    docx: Path
    markdown: Path
    text: Path
    corrupt_pdf: Path


def write_pdf(path: Path, pages: list[str]) -> Path:
    import pymupdf

    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_textbox(pymupdf.Rect(72, 72, 540, 770), text, fontsize=11)
    document.set_metadata({"title": path.stem.replace("-", " ").title(), "author": "Allma Tests"})
    document.save(path)
    document.close()
    return path


def write_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_heading("Greenhouse notes", level=1)
    document.add_paragraph("These notes cover the small greenhouse behind the house.")
    document.add_heading("Watering", level=2)
    document.add_paragraph(DOCX_FACT)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Plant"
    table.cell(0, 1).text = "Water per day"
    table.cell(1, 0).text = "Tomato"
    table.cell(1, 1).text = "two litres"
    document.core_properties.title = "Greenhouse notes"
    document.save(str(path))
    return path


def write_markdown(path: Path) -> Path:
    path.write_text(
        "# Bicycle care\n\nKeep the bicycle clean and dry.\n\n## Chain\n\n"
        f"{MARKDOWN_FACT}\n\n## Tyres\n\nPump the tyres to four bar once a week.\n",
        encoding="utf-8",
    )
    return path


def write_text(path: Path) -> Path:
    path.write_text(
        f"Baking notes\n\n{TEXT_FACT}\nThe oven is preheated to 250 degrees.\n", encoding="utf-8"
    )
    return path


def write_corrupt_pdf(path: Path) -> Path:
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nendobj\n%%garbage")
    return path


def make_sample_library(folder: Path) -> SampleLibrary:
    """A folder of mixed documents with one corrupt PDF, as a user would drop it."""
    folder.mkdir(parents=True, exist_ok=True)
    return SampleLibrary(
        folder=folder,
        pdf=write_pdf(folder / "lighthouse-manual.pdf", PDF_PAGES),
        docx=write_docx(folder / "greenhouse.docx"),
        markdown=write_markdown(folder / "bicycle.md"),
        text=write_text(folder / "baking.txt"),
        corrupt_pdf=write_corrupt_pdf(folder / "broken.pdf"),
    )
