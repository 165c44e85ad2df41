"""WARC reading with FastWARC: HTTP 200 HTML responses only, everything else counted under a named reason.

Each record's HTTP header block is read and parsed first; the payload of a non-200 or non-HTML response is
never copied into Python. Common Crawl's metadata record that follows a response (``languages-cld2``) is
attached to it, so the pre-selection can use the crawler's own language guess without parsing the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.core.lang import normalise
from curation.core.remote import remote_error
from curation.core.stats import Stats

STAGE = "warc"
_SNAPSHOT_RE = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_HTML_SNIFF = re.compile(rb"<\s*(!doctype\s+html|html|head|body|title|meta|div|p|table)[\s>]", re.I)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAX_HTTP_HEADER_BYTES = 64 * 1024
_READ_CHUNK = 8192


@dataclass(frozen=True)
class Cld2Languages:
    """Common Crawl's ``languages-cld2`` metadata of one page: CLD2 on the raw HTML, up to three languages."""

    languages: tuple[str, ...]  # normalised codes (zh-Hant -> zh, iw -> he), most text first
    reliable: bool  # CLD2's own confidence flag
    text_bytes: int  # bytes of text CLD2 saw


@dataclass
class WarcPage:
    """One HTTP 200 HTML response record, undecoded."""

    record_id: str
    url: str
    date: str
    offset: int
    payload: bytes
    content_type: str = ""
    content_language: str = ""
    cld2: Cld2Languages | None = None  # None: no languages-cld2 record (older crawls, other crawlers)


def _clean_uri(uri: str) -> str:
    return uri.strip().strip("<>")


def _clean_id(record_id: str) -> str:
    return record_id.strip().strip("<>").removeprefix("urn:uuid:")


def _parse_http_head(head: bytes) -> tuple[int | None, dict[str, str]]:
    lines = head.decode("latin-1").splitlines()
    if not lines or not lines[0].upper().startswith("HTTP/"):
        return None, {}
    parts = lines[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _read_http_head(reader: BinaryIO) -> tuple[bytes, bytes]:
    """Read up to the blank line that ends the HTTP headers; return (head, first bytes of the body)."""
    buf = b""
    while len(buf) < _MAX_HTTP_HEADER_BYTES:
        chunk = reader.read(_READ_CHUNK)
        if not chunk:
            break
        buf += chunk
        m = _HEADER_END.search(buf)
        if m:
            return buf[: m.start()], buf[m.end() :]
    return b"", buf


def is_html(content_type: str, identified_type: str, body_start: bytes) -> bool:
    ct = (identified_type or content_type).lower()
    if "html" in ct:
        return True
    if ct and not ct.startswith(("text/plain", "application/octet-stream", "unknown")):
        return False
    return bool(_HTML_SNIFF.search(body_start[:4096]))


def cld2_languages(block: bytes) -> Cld2Languages | None:
    """The ``languages-cld2`` line of a metadata record, or None without one (an unreadable line counts as a
    record with no language)."""
    for line in block.decode("utf-8", "replace").splitlines():
        if line.startswith("languages-cld2:"):
            try:
                data = json.loads(line.split(":", 1)[1])
                langs = data.get("languages") or []
                codes = tuple(dict.fromkeys(normalise(str(x["code"])) for x in langs if x.get("code")))
                return Cld2Languages(codes, bool(data.get("reliable")), int(data.get("text-bytes") or 0))
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                return Cld2Languages((), False, 0)
    return None


def snapshot_from(path: str, warcinfo: str = "") -> str:
    m = _SNAPSHOT_RE.search(warcinfo) or _SNAPSHOT_RE.search(path)
    return m.group(0) if m else ""


class WarcReader:
    """Iterate HTML pages of one WARC stream, counting every skipped record by reason in ``stats``."""

    def __init__(self, stream: BinaryIO, path: str, stats: Stats, max_payload_bytes: int) -> None:
        self.stream = stream
        self.path = path
        self.stats = stats
        self.max_payload_bytes = max_payload_bytes
        self.snapshot = snapshot_from(path)

    def _page(self, rec) -> WarcPage | None:  # noqa: ANN001 - fastwarc record
        st = self.stats
        head, body_start = _read_http_head(rec.reader)
        status, http = _parse_http_head(head)
        if status is None:
            # Legacy crawls (ClueWeb) may store the body with broken or no HTTP headers: sniff it.
            status, http, body_start = 200, {}, head + body_start if head else body_start
        if status != 200:
            st.dropped(STAGE, f"http_{status}" if status < 600 else "http_other")
            return None
        if not is_html(
            http.get("content-type", ""), rec.headers.get("WARC-Identified-Payload-Type", ""), body_start
        ):
            st.dropped(STAGE, "not_html")
            return None
        if rec.content_length > self.max_payload_bytes:
            st.dropped(STAGE, "payload_too_large")
            return None
        payload = body_start + rec.reader.read()
        block_len = len(head) + len(payload)
        if block_len + 2 < rec.content_length - 4:  # the header separator is 2-4 bytes
            st.dropped(STAGE, "truncated_record")
            return None
        if not payload.strip():
            st.dropped(STAGE, "empty_payload")
            return None
        return WarcPage(
            record_id=_clean_id(rec.headers.get("WARC-Record-ID", "")),
            url=_clean_uri(rec.headers.get("WARC-Target-URI", "")),
            date=rec.headers.get("WARC-Date", ""),
            offset=rec.stream_pos,
            payload=payload,
            content_type=http.get("content-type", ""),
            content_language=http.get("content-language", ""),
        )

    def __iter__(self) -> Iterator[WarcPage]:
        st = self.stats
        pending: WarcPage | None = None
        try:
            for rec in ArchiveIterator(self.stream, record_types=WarcRecordType.any_type, parse_http=False):
                rtype = rec.headers.get("WARC-Type", "unknown")
                st.count("warc_record_types", rtype)
                if rtype == "metadata" and pending is not None:
                    if _clean_id(rec.headers.get("WARC-Concurrent-To", "")) == pending.record_id:
                        pending.cld2 = cld2_languages(rec.reader.read())
                    continue
                if rtype == "warcinfo":
                    info = rec.reader.read().decode("utf-8", "replace")
                    self.snapshot = snapshot_from(self.path, info) or self.snapshot
                    continue
                if rtype == "revisit":  # a pointer to an earlier capture: no payload of its own
                    st.seen(STAGE)
                    st.dropped(STAGE, "revisit")
                    continue
                if rtype != "response":
                    continue
                st.seen(STAGE)
                page = self._page(rec)
                if page is None:
                    continue
                st.kept(STAGE)
                st.add("html_bytes", len(page.payload))
                if pending is not None:
                    yield pending
                pending = page
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken stream (even a FastWARC panic) ends this file only
            failure = remote_error(self.stream)
            if failure is not None:  # the network failed, not the file: the caller retries the whole input
                raise failure from exc
            st.count("input_errors", f"warc_read_error:{type(exc).__name__}")
        if pending is not None:
            yield pending
