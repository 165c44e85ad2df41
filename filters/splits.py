"""Held-out splits that do not leak: by site when rows have URLs, by distinct text otherwise.

Pages of one site share templates, boilerplate and topics, so a row split puts near-copies of held-out pages in
the training part and flatters the held-out figures. ``classifier train`` therefore groups rows:

- **site**: the ICANN registered domain of the row's http(s) URL (``a.example.co.uk`` and ``b.example.co.uk`` ->
  ``example.co.uk``; ``x.github.io`` -> ``github.io``), read offline from the Public Suffix List bundled in the
  ``tld`` package. A row without an http(s) URL (a file name, an empty value) is grouped by a fallback column
  when the table has one (``source``: where the row came from), else it is its own group;
- **row** (no URL column, or ``split: row``): each distinct text (whitespace-normalised) is a group, so identical
  texts (retweets, copies) never sit on both sides.

The held-out part is a random share of the groups (``GroupShuffleSplit``: ``test_fraction`` of the sites) or a
stratified share of the distinct texts. The same groups serve the inner cross-validation of a backend that
chooses its hyper-parameters on the training part (``filters.backends.tfidf_model``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from curation.core.errors import CurationError

SplitMode = Literal["auto", "site", "row"]
FALLBACK_PREFIX = "src:"  # group key of a row without a site, grouped by its fallback column's value
ROW_PREFIX = "row:"  # group key of a row that is its own group (keyed by its text)


def registered_domain(url: str | None) -> str | None:
    """The ICANN registered domain (eTLD+1) of an http(s) URL, offline; None when it is not one.

    The host is lower-cased, loses a trailing dot and is IDNA-encoded (``münchen.de`` and ``xn--mnchen-3ya.de``
    are one site). An IP address or a one-label host (``localhost``) is its own site.
    """
    from tld import get_fld

    if not url or "://" not in url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    host = host.rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    return get_fld("http://" + host, fail_silently=True, search_private=False) or host


def text_key(text: str) -> str:
    return ROW_PREFIX + " ".join(text.split())


@dataclass
class HeldOut:
    """Row indices of both parts, every row's group key, and what the report says about the split."""

    train: np.ndarray
    test: np.ndarray
    groups: np.ndarray
    info: dict[str, Any]


def row_groups(
    texts: list[str], urls: list[str | None] | None, fallback: list[Any] | None
) -> tuple[np.ndarray, int]:
    """Each row's group key (its site, else ``src:<fallback>``, else its text) and how many rows had no site."""
    keys, no_site = [], 0
    for i, text in enumerate(texts):
        site = registered_domain(urls[i]) if urls is not None else None
        if site is None:
            no_site += 1
            value = fallback[i] if fallback is not None else None
            site = text_key(text) if value is None or value == "" else f"{FALLBACK_PREFIX}{value}"
        keys.append(site)
    return np.array(keys, dtype=object), no_site


def _stratified(strata: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test indices, stratified on ``strata`` where every stratum has at least two members."""
    from sklearn.model_selection import train_test_split

    _, counts = np.unique(strata, return_counts=True)
    stratify = strata if counts.min() >= 2 else None
    return train_test_split(np.arange(len(strata)), test_size=fraction, random_state=seed, stratify=stratify)


def holdout_split(
    texts: list[str],
    strata: np.ndarray,
    urls: list[str | None] | None,
    fallback: list[Any] | None,
    fallback_name: str | None,
    mode: SplitMode,
    fraction: float,
    seed: int,
) -> HeldOut:
    """Split rows into a training and a held-out part by site (``mode`` site, or auto with URLs) or by text.

    ``urls`` is None when the table has no URL column; ``fallback`` (named ``fallback_name``) groups rows
    without a site. ``strata`` (one label class per row) stratifies the split by text.
    """
    from sklearn.model_selection import GroupShuffleSplit

    sites, no_site = row_groups(texts, urls, fallback) if urls is not None else (None, len(texts))
    n_sites = 0 if sites is None else len({k for k in sites if not k.startswith(ROW_PREFIX)})
    if mode == "site" and n_sites < 2:
        raise CurationError(
            "split by site needs URLs from at least two sites"
            + (" (no URL column)" if urls is None else f", found {n_sites}")
            + ": use split row"
        )
    if sites is not None and mode != "row" and n_sites >= 2:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        train, test = next(splitter.split(np.zeros(len(texts)), groups=sites))
        grouped_by = fallback_name if fallback is not None else "row"
        info = {
            "split": "site",
            "groups": len(set(sites)),
            "test_groups": len(set(sites[test])),
            "rows_without_site": no_site,
            "rows_without_site_grouped_by": grouped_by if no_site else None,
        }
        return HeldOut(np.sort(train), np.sort(test), sites, info)
    keys = np.array([text_key(t) for t in texts], dtype=object)
    distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    train_keys, test_keys = _stratified(strata[first], fraction, seed)
    in_test = np.zeros(len(distinct), dtype=bool)
    in_test[test_keys] = True
    test = np.flatnonzero(in_test[inverse])
    info = {
        "split": "row",
        "groups": len(distinct),
        "test_groups": len(test_keys),
        "rows_without_site": no_site,
        "rows_without_site_grouped_by": None,
        "duplicate_text_rows": len(texts) - len(distinct),
    }
    return HeldOut(np.flatnonzero(~in_test[inverse]), test, keys, info)
