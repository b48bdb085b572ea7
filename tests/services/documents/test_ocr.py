"""The OCR helpers: where the language data is found, and how coarse a page is rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from allma_desktop.services.documents import ocr


def test_english_language_data_ships_with_the_app() -> None:
    folder = ocr.find_tessdata("eng")

    assert folder is not None
    assert (folder / "eng.traineddata").stat().st_size > 1_000_000
    assert "eng" in ocr.installed_languages()


def test_a_folder_named_in_allma_tessdata_is_the_only_one_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deu.traineddata").write_bytes(b"not really")
    monkeypatch.setenv(ocr.TESSDATA_ENV, str(tmp_path))

    assert ocr.find_tessdata("deu") == tmp_path
    assert ocr.find_tessdata("eng") is None
    assert ocr.installed_languages() == ["deu"]  # and English is missing


def test_letter_and_a4_pages_are_rendered_at_full_resolution() -> None:
    assert ocr.ocr_dpi(612, 792) == ocr.OCR_DPI
    assert ocr.ocr_dpi(595, 842) == ocr.OCR_DPI


def test_large_pages_are_rendered_coarser_within_the_pixel_budget() -> None:
    a2_width, a2_height = 1191, 1684
    dpi = ocr.ocr_dpi(a2_width, a2_height)
    pixels = (a2_width / 72 * dpi) * (a2_height / 72 * dpi)

    assert ocr.MIN_OCR_DPI <= dpi < ocr.OCR_DPI
    assert pixels <= ocr.MAX_OCR_PIXELS


def test_a_huge_page_is_never_rendered_under_the_floor() -> None:
    assert ocr.ocr_dpi(200_000, 200_000) == ocr.MIN_OCR_DPI


def test_settings_apply_inside_their_block_only() -> None:
    assert ocr.current_settings().enabled
    with ocr.using(ocr.OcrSettings(enabled=False)):
        assert not ocr.current_settings().enabled
    assert ocr.current_settings().enabled


def test_languages_come_from_allma_ocr_languages(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ocr.OcrSettings().languages == "eng"
    monkeypatch.setenv(ocr.LANGUAGES_ENV, "eng, deu")

    assert ocr.OcrSettings().languages == "eng+deu"


@pytest.mark.parametrize(
    "text",
    [
        "The lighthouse lamp is cleaned with vinegar every Friday.",
        "Ferry timetable\nDeparts 12:00, arrives 12:45; 3.50 EUR.",
        "Das Fährschiff fährt sonntags um zwölf Uhr.",
        "フェリーは日曜日の正午に出発します。 島行き 時刻表",
    ],
)
def test_recognised_text_is_kept(text: str) -> None:
    assert ocr.looks_like_text([text])


@pytest.mark.parametrize(
    "noise",
    [
        "A f back! ' ‘ “4 ' eo ly",  # what OCR made of a photo in the corpus
        "—— NNANNN NNN 8 8 . . . . . 7",
        "i) & Oo Oo a Xl Oo Oo i) & Oo Oo",
        "_— MS IN } % a, ; a f ‘ - kee( u . \\ ti - he",
        "",
    ],
)
def test_noise_from_pictures_is_dropped(noise: str) -> None:
    assert not ocr.looks_like_text([noise])
