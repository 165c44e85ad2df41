"""`curation vocab report`: how many tokens each tokenizer spends on each language's text, side by side.

Measures per (tokenizer, text set): tokens per word, tokens per UTF-8 byte, the share of words split into
more than one token, and the most frequent split words with their pieces. A word is a maximal run of
letters and digits (``[^\\W_]+``, Unicode); its tokens are those whose character offsets overlap it, so the
count is taken from the tokenization of the running text (context included), not of isolated words.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pydantic import Field
from rich.console import Group
from rich.table import Table

from curation.core import io
from curation.core.config import ParallelConfig, StageConfig
from curation.core.schema import FERTILITY_FILE, TEXT
from curation.core.stage import Run, Stage, Unit, UnitResult

WORD = re.compile(r"[^\W_]+")
PLOT_FILE = "fertility.png"


class VocabReportConfig(StageConfig, ParallelConfig):
    """Fertility of one or more tokenizers on text per language: table, plot and JSON."""

    tokenizers: dict[str, str] = Field(
        description="Tokenizers NAME=PATH (tokenizer.json, HF directory, SentencePiece .model, hub id).",
        min_length=1,
    )
    sets: dict[str, list[str]] = Field(
        description="Text per language LANG=PATH (Parquet, JSONL, .txt; files, folders, globs).", min_length=1
    )
    text_column: str = Field(TEXT, description="Column holding the text.")
    max_bytes_per_set: int = Field(2_000_000, gt=0, description="UTF-8 bytes of text per set.")
    top_split_words: int = Field(20, ge=0, description="Most frequent split words kept per result.")


def word_pieces(text: str, offsets: list[tuple[int, int]], start: int, end: int, lo: int, hi: int) -> str:
    """The word's characters cut where its tokens end (``cor|ação``); byte tokens of one character merge."""
    spans = list(dict.fromkeys((max(s, start), min(e, end)) for s, e in offsets[lo:hi]))
    return "|".join(text[s:e] for s, e in spans if e > s)


def fertility(backend: Any, texts: list[str], top: int) -> dict[str, Any]:
    """Token, byte and word counts of ``texts`` under one tokenizer, with the most frequent split words."""
    import numpy as np

    tokens = n_bytes = n_words = n_split = 0
    split: Counter[str] = Counter()
    pieces: dict[str, str] = {}
    for text, enc in zip(texts, backend.encode_batch(texts, add_special_tokens=False), strict=True):
        tokens += len(enc.ids)
        n_bytes += len(text.encode("utf-8"))
        spans = [(m.start(), m.end()) for m in WORD.finditer(text)]
        n_words += len(spans)
        offsets = enc.offsets  # a property that builds the list: read it once
        if not spans or not offsets:
            continue
        starts = np.fromiter((s for s, _ in offsets), dtype=np.int64)
        ends = np.fromiter((e for _, e in offsets), dtype=np.int64)
        word_starts = np.fromiter((s for s, _ in spans), dtype=np.int64)
        word_ends = np.fromiter((e for _, e in spans), dtype=np.int64)
        first = np.searchsorted(ends, word_starts, side="right")  # first token ending inside or after
        stop = np.searchsorted(starts, word_ends, side="left")  # first token starting at or after the end
        for k in np.nonzero(stop - first > 1)[0].tolist():
            start, end = spans[k]
            word = text[start:end]
            split[word] += 1
            if word not in pieces:
                pieces[word] = word_pieces(text, offsets, start, end, int(first[k]), int(stop[k]))
        n_split += int(np.count_nonzero(stop - first > 1))
    return {
        "tokens": tokens,
        "bytes": n_bytes,
        "words": n_words,
        "split_words": n_split,
        "tokens_per_word": tokens / n_words if n_words else None,
        "tokens_per_byte": tokens / n_bytes if n_bytes else None,
        "split_share": n_split / n_words if n_words else None,
        "top_split": [{"word": w, "count": c, "pieces": pieces[w]} for w, c in split.most_common(top)],
    }


def measure(item: tuple[str, list[str], str, int, int]) -> UnitResult:
    from curation.mixer.sources import ReadOptions, read_texts
    from curation.mixer.tokens import cached_tokenizer

    tokenizer, paths, text_column, max_bytes, top = item
    texts = read_texts(paths, ReadOptions("set", text_column=text_column), max_bytes)
    return UnitResult(result=fertility(cached_tokenizer(tokenizer).backend_tokenizer, texts, top))


def unit_key(tokenizer: str, text_set: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{tokenizer}--{text_set}")


class VocabReport(Stage[VocabReportConfig]):
    """Fertility of tokenizers on text per language, side by side: tokens per word and per byte, words
    split, top split words (table, plot and fertility.json)."""

    name = "vocab report"
    config_model = VocabReportConfig

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size

        cfg = self.cfg
        units = [
            Unit(unit_key(t, s), (path, paths, cfg.text_column, cfg.max_bytes_per_set, cfg.top_split_words))
            for t, path in cfg.tokenizers.items()
            for s, paths in cfg.sets.items()
        ]
        records = run.map("measure", units, measure, description="tokenizing")
        loaded = {t: load_tokenizer(path) for t, path in cfg.tokenizers.items()}
        summary = {
            "tokenizers": {
                t: {"path": cfg.tokenizers[t], "vocab_size": vocab_size(tok), "fingerprint": tokenizer_fingerprint(tok)}
                for t, tok in loaded.items()
            },
            "results": {
                t: {s: records[unit_key(t, s)]["result"] for s in cfg.sets} for t in cfg.tokenizers
            },
        }  # fmt: skip
        io.write_json(io.join(cfg.output, FERTILITY_FILE), summary)
        return summary

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        from curation.core.plots import pyplot, save

        results = stats["summary"]["results"]
        names, sets = list(results), list(self.cfg.sets)
        metrics = [("tokens_per_word", "tokens per word"), ("tokens_per_byte", "tokens per byte"),
                   ("split_share", "share of words split")]  # fmt: skip
        fig, axes = pyplot().subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6))
        width = 0.8 / len(names)
        for ax, (key, label) in zip(axes, metrics, strict=True):
            for i, name in enumerate(names):
                values = [results[name][s][key] or 0.0 for s in sets]
                ax.bar([x + i * width for x in range(len(sets))], values, width, label=name)
            ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(sets))], sets)
            ax.set_title(label)
        fig.legend(names, loc="lower center", ncol=len(names), fontsize=8)
        fig.suptitle(f"curation vocab report: {self.cfg.output}")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        save(fig, io.join(run.run_dir, PLOT_FILE))

    def render(self, stats: dict[str, Any]) -> Group:
        return fertility_tables(stats["summary"], top=5)


def fertility_tables(summary: dict[str, Any], top: int) -> Group:
    """Per set, the tokenizers side by side (tokens relative to the first one), then top split words."""
    results = summary["results"]
    names = list(results)
    main = Table(title="tokens per word and per byte, words split (lower is better)")
    for col in ("set", "tokenizer", "vocab", "tok/word", "tok/byte", "split", f"vs {names[0]}"):
        main.add_column(col, justify="left" if col in ("set", "tokenizer") else "right")
    words = Table(title=f"most frequent split words (top {top})")
    for col in ("set", "tokenizer", "words: pieces (count)"):
        words.add_column(col)
    for s in next(iter(results.values())):
        ref = results[names[0]][s]["tokens"]
        for name in names:
            r = results[name][s]
            main.add_row(
                s,
                name,
                f"{summary['tokenizers'][name]['vocab_size']:,}",
                f"{r['tokens_per_word']:.3f}" if r["tokens_per_word"] is not None else "",
                f"{r['tokens_per_byte']:.4f}" if r["tokens_per_byte"] is not None else "",
                f"{r['split_share']:.1%}" if r["split_share"] is not None else "",
                f"{r['tokens'] / ref - 1:+.1%}" if ref else "",
            )
            words.add_row(s, name, ", ".join(f"{w['pieces']} ({w['count']})" for w in r["top_split"][:top]))
    return Group(main, words)
