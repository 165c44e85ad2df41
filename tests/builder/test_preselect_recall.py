"""Recall guard of the language pre-selection (issue 7): it may pass extra pages, never lose target ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.core.schema import ID

from .conftest import build, read_docs

LANGS = ("pt", "es", "fr", "de")
INPUTS = ("pages-dev.warc.gz", "cc-main-2020-34_resiliparse-warcfile.warc.gz")


def _build(out: Path, warc_dir: Path, langs: list[str], preselect: bool) -> dict:
    inputs = [str(warc_dir / n) for n in INPUTS]
    return build(out, inputs, ",".join(langs), preselect={"enabled": preselect})


@pytest.fixture(scope="module")
def without_preselect(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path) -> Path:
    """One full-extraction build for all four languages (pre-selection is only active for one language)."""
    out = tmp_path_factory.mktemp("full")
    stats = _build(out, warc_dir, list(LANGS), preselect=True)
    assert stats["stages"]["preselect"]["dropped"] == {}  # several languages: every page is extracted
    return out


@pytest.mark.slow
@pytest.mark.parametrize("lang", LANGS)
def test_preselect_keeps_every_target_document(
    lang: str, without_preselect: Path, warc_dir: Path, tmp_path: Path
) -> None:
    expected = set(read_docs(without_preselect, lang)[ID].to_list())
    assert len(expected) >= 4, f"too few {lang} documents to measure recall"
    stats = _build(tmp_path, warc_dir, [lang], preselect=True)
    got = set(read_docs(tmp_path, lang)[ID].to_list())
    recall = len(got & expected) / len(expected)
    skipped = stats["stages"]["preselect"]["dropped"].get("preselect_other_language", 0)
    print(
        f"{lang}: recall {recall:.4f} ({len(got & expected)}/{len(expected)}), {skipped} pages skipped extraction"
    )
    assert recall >= 0.995
    assert got <= expected  # pre-selection only removes work; decisions after it are unchanged
    assert skipped > 150  # and it does skip most of the other-language pages
