"""The page: sections, tables and escaping; one HTML file with inline CSS, no scripts, fonts or links out."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#212121;
background:#fafafa;line-height:1.4}
header{background:#263238;color:#eceff1;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;color:#b0bec5}
nav{position:sticky;top:0;background:#eceff1;padding:6px 28px;border-bottom:1px solid #cfd8dc;font-size:13px;
z-index:1}nav a{margin-right:14px;color:#1565c0;text-decoration:none}nav a.not-run{color:#90a4ae}
main{padding:0 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:18px 0;padding:6px 18px 14px}
h2{font-size:18px;border-bottom:1px solid #eee;padding-bottom:4px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #e0e0e0;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:8px}
.plot svg{max-width:100%;height:auto}
.not-run{color:#78909c;font-style:italic}.note{color:#546e7a;font-size:12px}
.bad{color:#c62828;font-weight:600}.ok{color:#2e7d32}
details{margin:4px 0;font-size:12px}summary{cursor:pointer}
pre.doc{white-space:pre-wrap;word-break:break-word;background:#f5f5f5;padding:6px 8px;margin:4px 0 8px;
max-height:220px;overflow:auto;font-size:12px}
"""


@dataclass
class Section:
    """One section of the page; ``ran`` is False when the run holds no evidence for it."""

    id: str
    title: str
    body: str
    ran: bool = True


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    """Numbers with thousands separators and at most 4 significant decimals; anything else as text."""
    if isinstance(value, bool) or value is None:
        return esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return esc(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table of plain values (escaped; numbers right-aligned)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{fmt(v)}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{fmt(v)}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def plot(svg: str, caption: str = "") -> str:
    note = f'<div class="note">{esc(caption)}</div>' if caption else ""
    return f'<div class="plot">{svg}{note}</div>'


def not_run(section_id: str, title: str, what: str) -> Section:
    return Section(section_id, title, f'<p class="not-run">not run: {esc(what)}</p>', ran=False)


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    nav = "".join(
        f'<a href="#{s.id}" class="{"ran" if s.ran else "not-run"}">{esc(s.title)}</a>' for s in sections
    )
    body = "".join(f'<section id="{s.id}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav><main>{body}</main>"
        "</body></html>\n"
    )
