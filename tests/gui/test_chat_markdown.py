"""Model output is rendered as Markdown without active content."""

from __future__ import annotations

from allma_desktop.gui.theme import LIGHT
from allma_desktop.gui.widgets.markdown_render import render_markdown


def test_raw_html_and_scripts_are_shown_as_text() -> None:
    html = render_markdown("Hi <script>alert(1)</script> <b onclick='x()'>bold</b>", LIGHT)
    assert "<script" not in html
    assert "<b " not in html
    assert "&lt;script&gt;" in html


def test_images_never_load_and_become_their_alt_text() -> None:
    html = render_markdown("![a chart](http://example.com/track.png)", LIGHT)
    assert "<img" not in html
    assert "[a chart]" in html


def test_only_http_and_file_links_survive() -> None:
    html = render_markdown(
        "[a](javascript:alert(1)) [b](https://ollama.com) [c](file:///tmp/x.pdf) [d](data:x)",
        LIGHT,
    )
    assert 'href="https://ollama.com"' in html
    assert 'href="file:///tmp/x.pdf"' in html
    assert "javascript:" not in html
    assert "data:" not in html


def test_tables_lists_and_headings_are_rendered() -> None:
    html = render_markdown("# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", LIGHT)
    assert "<h1>Title</h1>" in html
    assert "<li>one</li>" in html
    assert "<td>1</td>" in html


def test_code_blocks_are_highlighted() -> None:
    html = render_markdown("```python\ndef answer():\n    return 42  # why\n```", LIGHT)
    assert f'<span style="color: {LIGHT.code_keyword};">def</span>' in html
    assert f'<span style="color: {LIGHT.code_comment};"># why</span>' in html
    assert f'<span style="color: {LIGHT.code_number};">42</span>' in html


def test_an_unfinished_code_block_renders_as_code_while_streaming() -> None:
    html = render_markdown("Here:\n```python\nx = 1", LIGHT, streaming=True)
    assert "<pre>" in html


def test_citation_markers_become_links_to_their_sources() -> None:
    html = render_markdown("The bulb is 3500 watts [2].", LIGHT)
    assert '<a class="cite" href="cite:2">[2]</a>' in html


def test_citation_markers_inside_code_stay_text() -> None:
    html = render_markdown("`items[1]`", LIGHT)
    assert "cite:" not in html
