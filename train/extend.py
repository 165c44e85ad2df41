"""`curation vocab extend`: learn target-language tokens, add them to the base tokenizer, resize and
initialise the model's embeddings, and write a Hugging Face model + tokenizer directory.

The tokenizer side is `curation.mixer.vocab` (new BPE merges at the lowest priority, or new Unigram pieces),
the model side `curation.train.embeddings` (``mean`` or ``focus`` rows). The directory holds
``vocab_extension.json``: base and extended tokenizer fingerprints, the new ids and tokens, what each new
row was made from, and tokens per byte before and after. Mix, pack and train take the directory as
tokenizer and model; data packed with the base tokenizer is refused by `curation train`.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any, Literal

from pydantic import Field, model_validator
from rich.table import Table

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.schema import TEXT, VOCAB_EXTENSION_FILE
from curation.core.stage import Run, Stage
from curation.train.embeddings import FocusConfig


class VocabExtendConfig(StageConfig):
    """Add target-language tokens to a tokenizer (and a model's embeddings); write an HF directory."""

    corpus: list[str] = Field(
        description="Target-language corpus: Parquet, JSONL or .txt files, folders, globs.",
        json_schema_extra={"short": "-i"},
    )
    new_tokens: int = Field(gt=0, description="Tokens to add (fewer if the corpus has no more).")
    model: str | None = Field(
        None, description="Base causal LM, a local Hugging Face directory (its tokenizer is the base)."
    )
    tokenizer: str | None = Field(
        None, description="Base tokenizer (default: the model's): tokenizer.json, HF dir or .model."
    )
    protect: list[str] = Field(
        default_factory=list,
        description="Text whose token sequences must not change (English): files, folders, globs.",
    )
    filter: str | None = Field(None, description="SQL row filter on the corpus, e.g. edu_score >= 2.")
    text_column: str = Field(TEXT, description="Column holding the text.")
    max_corpus_bytes: int = Field(50_000_000, gt=0, description="UTF-8 bytes of corpus to learn from.")
    max_protect_bytes: int = Field(20_000_000, gt=0, description="UTF-8 bytes of protected text.")
    min_frequency: int = Field(2, gt=0, description="Least corpus frequency of a new token.")
    init: Literal["mean", "focus", "vocab_mean"] = Field(
        "mean",
        description="New rows: mean of the sub-tokens replaced, focus (fastText + sparsemax), or "
        "vocab_mean (mean of all base rows: new tokens start with low logits).",
    )
    focus: FocusConfig = Field(default_factory=FocusConfig)

    @model_validator(mode="after")
    def _base(self) -> VocabExtendConfig:
        if self.model is None and self.tokenizer is None:
            raise ValueError("give model (a Hugging Face directory) or tokenizer, or both")
        return self


def tokens_per_byte(backend: Any, texts: list[str]) -> float:
    tokens = sum(len(e.ids) for e in backend.encode_batch(texts, add_special_tokens=False))
    return tokens / max(sum(len(t.encode("utf-8")) for t in texts), 1)


def identical_share(base: Any, extended: Any, texts: list[str]) -> float:
    """Share of documents whose token ids are the same under both tokenizers."""
    a = base.encode_batch(texts, add_special_tokens=False)
    b = extended.encode_batch(texts, add_special_tokens=False)
    return sum(x.ids == y.ids for x, y in zip(a, b, strict=True)) / max(len(texts), 1)


class VocabExtend(Stage[VocabExtendConfig]):
    """Learn new target-language tokens from a corpus, add them to the base tokenizer without changing its
    ids, resize and initialise the model's embeddings; write a Hugging Face model + tokenizer directory."""

    name = "vocab extend"
    config_model = VocabExtendConfig

    def resolved(self) -> dict[str, Any]:
        return {"tokenizer": self.cfg.tokenizer or self.cfg.model}

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.sources import ReadOptions, read_texts
        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size
        from curation.mixer.vocab import extend_tokenizer, wrap
        from curation.train.embeddings import Init, focus_init, mean_init

        cfg = self.cfg
        base = load_tokenizer(cfg.tokenizer or cfg.model)
        corpus = read_texts(
            cfg.corpus, ReadOptions("corpus", cfg.filter, cfg.text_column), cfg.max_corpus_bytes
        )
        protect = (
            read_texts(cfg.protect, ReadOptions("protect"), cfg.max_protect_bytes) if cfg.protect else []
        )
        if not corpus:
            raise CurationError(f"corpus has no text: {', '.join(cfg.corpus)}")
        model = self._load_model(vocab_size(base))
        ext = extend_tokenizer(base, corpus, cfg.new_tokens, protect, cfg.min_frequency)
        if not ext.tokens:
            raise CurationError("no new token reaches min_frequency in the corpus")
        tokenizer = wrap(ext.tokenizer, base)
        b, e = base.backend_tokenizer, ext.tokenizer
        inits: list[Init] | None = None
        fell_back = 0
        if cfg.init == "focus":
            inits, fell_back = focus_init(b, e, ext.ids, corpus, cfg.focus)
        elif cfg.init == "mean":
            inits = mean_init(b, ext.tokens)
        surgery = {}
        with tempfile.TemporaryDirectory() as local:  # save_pretrained writes locally; io copies it out
            if model is not None:
                from curation.train.embeddings import resize_and_init

                surgery = resize_and_init(model, ext.ids, inits)
                model.save_pretrained(local)
            tokenizer.save_pretrained(local)
            written = load_tokenizer(local)  # as mix, pack and train will load it
            io.copy_dir_into(local, cfg.output)
        fingerprint = tokenizer_fingerprint(written)
        summary = {
            "kind": ext.kind,
            "base_tokenizer": cfg.tokenizer or cfg.model,
            "base_model": cfg.model,
            "base_fingerprint": tokenizer_fingerprint(base),
            "extended_fingerprint": fingerprint,
            "base_vocab_size": vocab_size(base),
            "extended_vocab_size": vocab_size(written),
            "new_tokens": len(ext.tokens),
            "requested_tokens": cfg.new_tokens,
            "rejected_protected": ext.rejected_protected,
            "init": cfg.init,
            "focus_fallbacks": fell_back,
            "corpus_bytes": sum(len(t.encode("utf-8")) for t in corpus),
            "protect_bytes": sum(len(t.encode("utf-8")) for t in protect),
            "tokens_per_byte": {
                "corpus": {"base": tokens_per_byte(b, corpus), "extended": tokens_per_byte(e, corpus)},
                **(
                    {
                        "protect": {
                            "base": tokens_per_byte(b, protect),
                            "extended": tokens_per_byte(e, protect),
                        }
                    }
                    if protect
                    else {}
                ),
            },
            "protect_identical_share": identical_share(b, e, protect) if protect else None,
            **surgery,
        }
        record = {
            **summary,
            "new_ids": ext.ids,
            "tokens": [
                {
                    "id": i,
                    "token": t,
                    "text": e.decode([i]),
                    "count": c,
                    **({"init": {"ids": init.ids, "weights": init.weights}} if init else {}),
                }
                for i, t, c, init in zip(
                    ext.ids, ext.tokens, ext.counts, inits or [None] * len(ext.ids), strict=True
                )
            ],
        }
        io.write_json(io.join(cfg.output, VOCAB_EXTENSION_FILE), record)
        return summary

    def _load_model(self, base_vocab: int) -> Any:
        if self.cfg.model is None:
            return None
        from curation.train.model import pretrained_model

        model = pretrained_model(io.local_mirror(self.cfg.model), "sdpa")
        rows = model.get_input_embeddings().weight.shape[0]
        if rows < base_vocab:
            raise CurationError(
                f"model has {rows} token embeddings, fewer than the base tokenizer's {base_vocab}"
            )
        return model

    def render(self, stats: dict[str, Any]) -> Any:
        s = stats["summary"]
        table = Table(title=f"curation vocab extend -> {self.cfg.output}", show_header=False)
        table.add_row(
            "tokenizer", f"{s['kind']}: {s['base_vocab_size']:,} -> {s['extended_vocab_size']:,} ids"
        )
        table.add_row("new tokens", f"{s['new_tokens']:,} of {s['requested_tokens']:,} asked "
                      f"({s['rejected_protected']:,} candidates passed over: in the protected text)")  # fmt: skip
        for name, tpb in s["tokens_per_byte"].items():
            change = tpb["extended"] / tpb["base"] - 1 if tpb["base"] else math.nan
            table.add_row(
                f"tokens/byte {name}", f"{tpb['base']:.4f} -> {tpb['extended']:.4f} ({change:+.1%})"
            )
        if s["protect_identical_share"] is not None:
            table.add_row("protected docs unchanged", f"{s['protect_identical_share']:.1%}")
        if "rows_after" in s:
            tied = "tied" if s["tied"] else "untied"
            table.add_row(
                "embeddings", f"{s['rows_before']:,} -> {s['rows_after']:,} rows ({tied}, init {s['init']})"
            )
        table.add_row("fingerprints", f"{s['base_fingerprint'][:12]} -> {s['extended_fingerprint'][:12]}")
        return table
