"""The reader's page process: PyMuPDF's drawing out of the app's process, restarted if it dies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.reader.page_server import PageServer, PageServerError
from allma_desktop.reader.pages import PagedDocument, RenderedPage
from tests.support.sample_docs import PDF_PAGES, write_corrupt_pdf, write_pdf


@pytest.fixture
def server() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


def test_a_page_drawn_in_the_child_is_the_page_drawn_here(
    server: PageServer, tmp_path: Path
) -> None:
    pdf = write_pdf(tmp_path / "manual.pdf", PDF_PAGES)
    drawn = server.call("render", str(pdf), 3, 1.5)
    assert isinstance(drawn, RenderedPage)
    here = PagedDocument(pdf)
    assert drawn == here.render(3, 1.5)
    assert server.call("passage_boxes", str(pdf), 3, PDF_PAGES[2]) == here.passage_boxes(
        3, PDF_PAGES[2]
    )
    assert server.call("page_count", str(pdf)) == len(PDF_PAGES)
    here.close()


def test_a_damaged_file_fails_its_request_and_not_the_process(
    server: PageServer, tmp_path: Path
) -> None:
    broken = write_corrupt_pdf(tmp_path / "broken.pdf")
    pdf = write_pdf(tmp_path / "manual.pdf", PDF_PAGES)
    with pytest.raises(PageServerError):
        server.call("render", str(broken), 1, 1.0)
    assert server.call("page_count", str(pdf)) == len(PDF_PAGES)


def test_a_process_that_died_is_started_again(server: PageServer, tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "manual.pdf", PDF_PAGES)
    server.call("page_count", str(pdf))
    process = server._process
    assert process is not None
    process.kill()
    process.join(5)
    assert server.call("page_size", str(pdf), 1) == PagedDocument(pdf).page_size(1)
    assert server.running
