"""Sites for the held-out split: registered domains offline, rows without a site, and splits on real data."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.filters.splits import holdout_split, registered_domain


@pytest.mark.parametrize(
    ("url", "site"),
    [
        ("https://www.bbc.co.uk/news/science-environment-1", "bbc.co.uk"),
        ("http://blog.Example.COM./post?id=3", "example.com"),
        ("https://user.github.io/page", "github.io"),  # ICANN suffixes only: one site for all of github.io
        ("http://münchen.de/a", "xn--mnchen-3ya.de"),
        ("http://xn--mnchen-3ya.de/b", "xn--mnchen-3ya.de"),
        ("http://127.0.0.1:8080/x", "127.0.0.1"),
        ("http://localhost/x", "localhost"),
        ("html_casa-velha_9.html.gz", None),  # file names stored in a url column
        ("hard::100noticias.com-millones.html", None),
        ("ftp://example.com/file", None),
        ("", None),
        (None, None),
    ],
)
def test_registered_domain_offline(url, site):
    assert registered_domain(url) == site


def test_llm_judged_labels_split_by_site_with_source_fallback(labels_path):
    frame = pl.read_ndjson(labels_path)
    texts, urls, sources = frame["text"].to_list(), frame["url"].to_list(), frame["source"].to_list()
    strata = np.array([str(v) for v in frame["edu"].to_list()])
    held = holdout_split(texts, strata, urls, sources, "source", "auto", 0.2, 0)
    assert held.info["split"] == "site" and held.info["rows_without_site"] == 33
    machado = np.flatnonzero(frame["source"] == "machadodeassis_net")
    assert len(machado) == 20 and len(set(held.groups[machado])) == 1  # one site, one group
    assert not set(held.groups[held.train]) & set(held.groups[held.test])
    assert len(held.train) + len(held.test) == frame.height
    # without the fallback column the 33 rows are one group each: their texts are distinct
    alone = holdout_split(texts, strata, urls, None, None, "auto", 0.2, 0)
    assert alone.info["groups"] == held.info["groups"] - 2 + 33
    assert alone.info["rows_without_site_grouped_by"] == "row"
    # split row: every distinct text is a group, stratified on the label
    by_row = holdout_split(texts, strata, urls, sources, "source", "row", 0.2, 0)
    assert by_row.info["split"] == "row" and abs(len(by_row.test) - 0.2 * frame.height) < 2
