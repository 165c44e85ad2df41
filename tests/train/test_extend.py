"""`curation vocab extend` on a tiny Llama with an English-only BPE, and continued pretraining of the result:
mix, pack and train take the extended directory; the embedding-only warm-up; a mismatch is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from curation.core.errors import CurationError
from curation.train.config import TINY_LLAMA
from tests.train.conftest import SEQ_LEN, en_files, pack, pt_files, read, tiny_config, train

NEW_TOKENS = 96


def save_base(tokenizer_json: Path, out: Path, tied: bool) -> Path:
    """A tiny Llama (seeded random weights) with the English-only tokenizer, as save_pretrained writes it."""
    from curation.mixer.tokenizer import load_tokenizer, vocab_size
    from curation.train.model import new_model

    tok = load_tokenizer(tokenizer_json)
    torch.manual_seed(0)
    model = new_model({**TINY_LLAMA, "tie_word_embeddings": tied}, vocab_size(tok), tok.eos_token_id, "sdpa")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def extend(data_dir: Path, base: Path, out: Path, init: str) -> dict[str, Any]:
    from curation.train.extend import VocabExtend

    return VocabExtend.call(
        model=str(base),
        corpus=[str(p) for p in pt_files(data_dir)[:10]],
        protect=[str(p) for p in en_files(data_dir)[:15]],
        new_tokens=NEW_TOKENS,
        init=init,
        focus={"dim": 32, "epochs": 3},
        output=str(out),
    )["summary"]


@pytest.fixture(scope="module")
def extended(data_dir: Path, other_tokenizer_json: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tied embeddings with mean rows, untied with FOCUS rows and with vocabulary-mean rows."""
    out = {}
    for tied, init in ((True, "mean"), (False, "focus"), (False, "vocab_mean")):
        root = tmp_path_factory.mktemp(f"extend-{init}")
        base = save_base(other_tokenizer_json, root / "base", tied)
        out[init] = {
            "base": base,
            "dir": root / "extended",
            "summary": extend(data_dir, base, root / "extended", init),
        }
    return out


@pytest.mark.parametrize("init", ["mean", "focus", "vocab_mean"])
def test_extended_directory_loads_and_keeps_the_base_model(
    extended: dict, data_dir: Path, other_tokenizer_json: Path, init: str
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint
    from curation.mixer.vocab import base_ids

    run = extended[init]
    summary = run["summary"]
    record = json.loads((run["dir"] / "vocab_extension.json").read_text())
    base_model = AutoModelForCausalLM.from_pretrained(run["base"])
    model = AutoModelForCausalLM.from_pretrained(run["dir"])
    base_tok, tok = AutoTokenizer.from_pretrained(run["base"]), AutoTokenizer.from_pretrained(run["dir"])
    n_base = len(base_tok)
    assert summary["new_tokens"] == NEW_TOKENS and len(tok) == n_base + NEW_TOKENS
    assert record["new_ids"] == list(range(n_base, n_base + NEW_TOKENS))
    assert model.config.vocab_size == model.get_input_embeddings().weight.shape[0] == n_base + NEW_TOKENS
    assert summary["tied"] == summary["tied_after"] == (init == "mean")
    assert summary["base_fingerprint"] == tokenizer_fingerprint(load_tokenizer(other_tokenizer_json))
    assert summary["extended_fingerprint"] == tokenizer_fingerprint(load_tokenizer(run["dir"]))
    assert summary["protect_identical_share"] == 1.0
    corpus_tpb = summary["tokens_per_byte"]["corpus"]
    assert corpus_tpb["extended"] < 0.92 * corpus_tpb["base"]

    matrices = [("input", base_model.get_input_embeddings().weight, model.get_input_embeddings().weight)]
    if init != "mean":  # untied
        matrices.append(
            ("output", base_model.get_output_embeddings().weight, model.get_output_embeddings().weight)
        )
    backend = base_tok.backend_tokenizer
    for _, old, new in matrices:
        assert torch.equal(new[:n_base], old)  # every base row as it was
        if init == "vocab_mean":  # every new row is the mean of all base rows (Hewitt 2021)
            assert all("init" not in entry for entry in record["tokens"])
            assert torch.allclose(new[n_base:], old.mean(0).expand(NEW_TOKENS, -1), atol=1e-6)
            continue
        for entry in record["tokens"]:  # every new row is its documented combination of base rows
            ids, weights = entry["init"]["ids"], torch.tensor(entry["init"]["weights"])
            assert max(ids) < n_base and abs(float(weights.sum()) - 1) < 1e-4 and bool((weights > 0).all())
            assert torch.allclose(new[entry["id"]], (weights[:, None] * old[ids]).sum(0), atol=1e-5)
    mean_rows = [e for e in record["tokens"] if e.get("init", {}).get("ids") == base_ids(backend, e["token"])]
    if init == "mean":
        assert len(mean_rows) == NEW_TOKENS
    elif init == "focus":  # similar base tokens, not the decomposition (except where it fell back to it)
        assert summary["focus_fallbacks"] < NEW_TOKENS // 2 and len(mean_rows) < NEW_TOKENS // 2

    # English is tokenized as before, so the extended model gives the base model's logits on it
    english = read(en_files(data_dir)[:1])[0][:3000]
    ids = base_tok(english)["input_ids"][:SEQ_LEN]
    assert tok(english)["input_ids"][:SEQ_LEN] == ids
    with torch.no_grad():
        before = base_model(torch.tensor([ids])).logits
        after = model(torch.tensor([ids])).logits
    assert torch.equal(after[..., :n_base], before)


def non_embedding(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    skip = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    return {n: p.detach().clone() for n, p in model.named_parameters() if id(p) not in skip}


@pytest.fixture(scope="module")
def extended_packed(extended: dict, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Portuguese + English replay packed with the extended tokenizer (the extended directory itself)."""
    sources = {
        "pt": {"paths": [str(p) for p in pt_files(data_dir)[10:20]], "weight": 0.7},
        "en": {"paths": [str(p) for p in en_files(data_dir)[:10]], "weight": 0.3},
    }
    return pack(tmp_path_factory.mktemp("mix-ext"), extended["mean"]["dir"], sources, 64 * SEQ_LEN)


@pytest.mark.parametrize(
    ("scope", "warmup", "steps"), [("new_rows", 2, 2), ("embeddings", 2, 2), ("new_rows", 1, 3)]
)
def test_cpt_on_extended_model_with_embedding_warmup(
    extended: dict,
    extended_packed: Path,
    eval_sets: dict,
    tmp_path: Path,
    scope: str,
    warmup: int,
    steps: int,
) -> None:
    from transformers import AutoModelForCausalLM

    model_dir = extended["mean"]["dir"]
    cfg = tiny_config(
        extended_packed,
        tmp_path / "run",
        model={"name_or_path": str(model_dir)},
        max_steps=steps,
        embedding_warmup={"steps": warmup, "scope": scope},
        eval={"sets": eval_sets, "max_bytes_per_set": 5_000},
    )
    summary = train(cfg)
    assert summary["finished"] and all(v == v for v in summary["eval_bpb_after"].values())
    start = AutoModelForCausalLM.from_pretrained(model_dir)
    end = AutoModelForCausalLM.from_pretrained(summary["export"])
    n_base = extended["mean"]["summary"]["base_vocab_size"]
    old, new = start.get_input_embeddings().weight, end.get_input_embeddings().weight
    frozen = non_embedding(start)
    changed = {n for n, p in non_embedding(end).items() if not torch.equal(p, frozen[n])}
    assert not torch.equal(new[n_base:], old[n_base:])  # new rows always learn
    if warmup >= steps:  # only the warm-up ran
        assert changed == set()
        assert torch.equal(new[:n_base], old[:n_base]) == (scope == "new_rows")
    else:  # then everything trains
        assert changed == set(frozen) and not torch.equal(new[:n_base], old[:n_base])


def test_data_packed_with_the_base_tokenizer_is_refused(
    extended: dict, packed_base: Path, tmp_path: Path
) -> None:
    cfg = tiny_config(packed_base, tmp_path / "run", model={"name_or_path": str(extended["mean"]["dir"])})
    with pytest.raises(CurationError, match="packed with the base tokenizer: mix and pack again with"):
        train(cfg)


def test_new_rows_warmup_needs_an_extended_model(extended: dict, packed_base: Path, tmp_path: Path) -> None:
    cfg = tiny_config(
        packed_base,
        tmp_path / "run",
        model={"name_or_path": str(extended["mean"]["base"])},
        embedding_warmup={"steps": 2},
    )
    with pytest.raises(CurationError, match="new_rows needs a model made by `curation vocab extend`"):
        train(cfg)


@pytest.fixture(scope="module")
def packed_base(data_dir: Path, other_tokenizer_json: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sources = {"en": {"paths": [str(p) for p in en_files(data_dir)[:10]], "weight": 1.0}}
    return pack(tmp_path_factory.mktemp("mix-base"), other_tokenizer_json, sources, 32 * SEQ_LEN)


def test_extend_reads_and_writes_object_storage(
    s3_server, extended: dict, data_dir: Path, other_tokenizer_json: Path
) -> None:
    """Base model from s3://, extended directory to s3://: the same tokenizer and rows as the local run."""
    from transformers import AutoModelForCausalLM

    from curation.core import io
    from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint
    from curation.train.embeddings import read_extension
    from curation.train.extend import VocabExtend

    _, options, s3 = s3_server
    s3.create_bucket(Bucket="vocab")
    local = extended["mean"]
    for path in local["base"].iterdir():
        s3.upload_file(str(path), "vocab", f"base/{path.name}")
    summary = VocabExtend.call(
        model="s3://vocab/base",
        corpus=[str(p) for p in pt_files(data_dir)[:10]],
        protect=[str(p) for p in en_files(data_dir)[:15]],
        new_tokens=NEW_TOKENS,
        output="s3://vocab/extended",
        storage_options=options,
    )["summary"]
    io.set_storage_options(options)
    try:
        assert summary["extended_fingerprint"] == local["summary"]["extended_fingerprint"]
        assert tokenizer_fingerprint(load_tokenizer("s3://vocab/extended")) == summary["extended_fingerprint"]
        assert (
            read_extension("s3://vocab/extended")["new_ids"] == read_extension(str(local["dir"]))["new_ids"]
        )
        remote = AutoModelForCausalLM.from_pretrained(io.local_mirror("s3://vocab/extended"))
        here = AutoModelForCausalLM.from_pretrained(local["dir"])
        assert torch.equal(remote.get_input_embeddings().weight, here.get_input_embeddings().weight)
    finally:
        io.set_storage_options({})
