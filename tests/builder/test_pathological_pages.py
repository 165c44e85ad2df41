"""Memory bounds: pathological pages made from a real page are skipped with a named reason, and the build's peak
resident memory per worker is reported and stays under the configured limit."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from curation.builder.extract import decode_html


def _real_page(data_dir: Path) -> str:
    page = data_dir / "html_extraction" / "machadodeassis_net" / "html" / "html_a-carteira_2.html.gz"
    return decode_html(gzip.decompress(page.read_bytes()))


def _record(writer: WARCWriter, url: str, body: bytes) -> None:
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    )


@pytest.mark.slow
def test_pathological_pages_are_skipped_with_named_reasons(tmp_path: Path, data_dir: Path) -> None:
    html = _real_page(data_dir)
    head, _, rest = html.partition("<body")
    body_text = " ".join(rest.split())
    one_line = head + "<body><p>" + (body_text.replace("<", " ") * 200)[:4_000_000] + "</p></body></html>"
    deep = head + "<body>" + "<div>" * 100_000 + body_text[:2000] + "</div>" * 100_000 + "</body></html>"
    huge = html.encode() * (100 * 2**20 // len(html.encode()) + 1)  # a 100 MB payload of a real page
    warc = tmp_path / "pathological.warc.gz"
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        _record(writer, "http://example.org/normal", html.encode())
        _record(writer, "http://example.org/one-line", one_line.encode())
        _record(writer, "http://example.org/deep", deep.encode())
        _record(writer, "http://example.org/huge", huge)
    config = tmp_path / "corpus.yaml"
    config.write_text(
        json.dumps(
            {
                "lang": ["pt"],
                "input": [str(warc)],
                "output": str(tmp_path / "out"),
                "executor": "local",
                "max_worker_rss_mb": 1500,
                "extract": {"timeout_seconds": 5, "max_html_chars": 2_000_000},
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "curation.cli", "build", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((tmp_path / "out" / "_run" / "stats.json").read_text())
    assert stats["stages"]["warc"]["dropped"] == {"payload_too_large": 1}
    assert stats["stages"]["html"]["dropped"] == {"html_too_large": 1, "html_too_deep": 1}
    assert stats["stages"]["html"]["out"] == 1
    memory = (stats["summary"]["within_memory_limit"], stats["memory"], stats["maxima"])
    assert stats["summary"]["within_memory_limit"] and 0 < stats["memory"]["peak_rss_mb_per_worker"] < 1500, (
        memory
    )
    assert stats["stages"]["fineweb"]["out"] == 1 or stats["stages"]["language_filter"]["out"] >= 1
