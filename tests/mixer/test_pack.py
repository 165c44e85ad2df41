import copy
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.core.errors import CurationError
from curation.core.schema import PACK_FORMAT_VERSION, PACK_INFO_FILE, PACK_SHARD_ARRAYS, TOKEN_CACHE_DIR
from curation.mixer.dataset import PackedDataset
from curation.mixer.manifest import Mix
from curation.mixer.pack import Pack
from curation.mixer.sources import ReadOptions, load_documents, source_files
from curation.mixer.tokens import encode_documents


def _pack(spec: dict, out: Path, **opts) -> Path:
    """`curation mix` into ``out/mix`` (token cache ``out/mix/token_cache``), then `curation pack` into
    ``out/packed``; both in-process."""
    Mix.call(**spec, output=str(out / "mix"))
    defaults = {"sequences_per_shard": 100, "executor": "local"}
    Pack.call(manifest=str(out / "mix"), output=str(out / "packed"), **{**defaults, **opts})
    return out / "packed"


@pytest.fixture(scope="module")
def curriculum_spec(spec_template: dict, scored_dir: Path) -> dict:
    """A main phase (75/25 pt/en) then an anneal phase adding high-edu web documents."""
    spec = copy.deepcopy(spec_template)
    spec["sources"]["web_edu"] = {
        "paths": [str(scored_dir)],
        "filter": "edu_score >= 3",
        "weight": 0.0,
        "max_epochs": 2,
    }
    spec["phases"] = [
        {"name": "main", "share": 0.8},
        {"name": "anneal", "share": 0.2, "weights": {"pt": 0.4, "en_replay": 0.2, "web_edu": 0.4}},
    ]
    return spec


@pytest.fixture(scope="module")
def packed(curriculum_spec: dict, tmp_path_factory: pytest.TempPathFactory, ray_session) -> Path:
    spec = {**curriculum_spec, "executor": "ray", "workers": 2}  # mix tokenizes on Ray; pack reuses its cache
    return _pack(spec, tmp_path_factory.mktemp("pack"), executor="ray", workers=2)


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "_run" not in p.parts
    }


def test_pack_info_follows_the_contract(packed: Path):
    ds = PackedDataset(packed)
    info = ds.info
    assert info["format_version"] == PACK_FORMAT_VERSION == 2
    assert info["dtype"] == "uint16" and info["vocab_size"] == 50280
    assert ds.sources == ["pt", "en_replay", "web_edu"] and ds.eos_token_id == 50279
    assert len(ds) == info["num_sequences"] == 625 == sum(s["num_sequences"] for s in info["shards"])
    assert PACK_SHARD_ARRAYS == ("tokens", "sources", "doc_starts", "doc_index")
    for i, shard in enumerate(info["shards"]):  # format 2: the token array is under "tokens" (was "path")
        assert shard == {
            "num_sequences": 100 if i < 6 else 25,
            **{key: f"shard_{i:05d}.{key}.npy" for key in PACK_SHARD_ARRAYS},
        }
        assert all((packed / shard[key]).is_file() for key in PACK_SHARD_ARRAYS)
    assert sum(info["tokens_per_source"].values()) == 625 * 64
    from transformers import AutoTokenizer

    from curation.mixer.tokenizer import tokenizer_fingerprint

    assert tokenizer_fingerprint(AutoTokenizer.from_pretrained(ds.tokenizer_path)) == ds.tokenizer_fingerprint
    item = ds[3]
    assert set(item) == {"input_ids", "position_ids", "doc_ids", "source"}
    assert all(v.dtype == torch.long for v in item.values()) and item["source"].dim() == 0
    assert item["input_ids"].shape == (64,)


def test_realised_shares_match_the_plan_in_every_phase(packed: Path):
    ds = PackedDataset(packed)
    sources = np.array([int(ds[i]["source"]) for i in range(len(ds))])
    start = 0
    plan = {
        "main": {"pt": 375, "en_replay": 125, "web_edu": 0},
        "anneal": {"pt": 50, "en_replay": 25, "web_edu": 50},
    }
    for phase, counts in zip(ds.info["phases"], plan.values(), strict=True):
        part = sources[start : start + phase["num_sequences"]]
        n = len(part)
        for s, name in enumerate(ds.sources):
            assert int((part == s).sum()) == counts[name]  # exact per phase
            prefix = np.concatenate(([0], np.cumsum(part == s)))
            assert np.abs(prefix - np.arange(n + 1) * counts[name] / n).max() < 1  # every prefix within one
            for w in (8, 20, 100):  # any window of w consecutive sequences: within 2 (3 sources)
                assert np.abs(prefix[w:] - prefix[:-w] - w * counts[name] / n).max() < 2
        start += n


def test_sequences_are_slices_of_real_documents_with_eos_between(packed: Path, en_jsonl: str, gpt_neo: str):
    ds = PackedDataset(packed)
    texts, _ = load_documents(source_files([en_jsonl], "en")[0], ReadOptions("en"))
    flat, lengths = encode_documents(gpt_neo, texts)
    docs = [doc.tobytes() for doc in np.split(flat, np.cumsum(lengths)[:-1])]
    en = ds.sources.index("en_replay")
    checked = 0
    for i in range(len(ds)):
        item = ds[i]
        ids, pos, doc = (item[k].numpy() for k in ("input_ids", "position_ids", "doc_ids"))
        starts = np.flatnonzero(pos == 0)
        assert np.array_equal(doc, np.cumsum(pos == 0) - 1)
        assert all(ids[s - 1] == ds.eos_token_id for s in starts[1:])  # a document starts right after EOS
        if int(item["source"]) != en:
            continue
        for lo, hi in zip(starts, [*starts[1:], 64], strict=True):
            segment = ids[lo:hi].tobytes()
            assert any(segment in d and d.index(segment) % 8 == 0 for d in docs)
            if hi < 64:
                assert any(d.endswith(segment) for d in docs)
            checked += 1
    assert checked > 125


def test_same_spec_and_seed_is_byte_identical_and_a_new_seed_only_reorders(
    packed: Path, curriculum_spec: dict, tmp_path: Path
):
    again = _pack(curriculum_spec, tmp_path / "again")
    assert _files(again) == _files(packed)
    other = PackedDataset(_pack({**curriculum_spec, "seed": 1}, tmp_path / "seed1"))
    ds = PackedDataset(packed)
    assert other.info["tokens_per_source"] == ds.info["tokens_per_source"]
    src = [int(ds[i]["source"]) for i in range(len(ds))]
    assert src == [int(other[i]["source"]) for i in range(len(other))]
    assert sum(torch.equal(ds[i]["input_ids"], other[i]["input_ids"]) for i in range(len(ds))) < len(ds) // 10


def test_killed_pack_resumes_without_duplicates_or_gaps(packed: Path, curriculum_spec: dict, tmp_path: Path):
    out = _pack(curriculum_spec, tmp_path)
    cache = tmp_path / "mix" / TOKEN_CACHE_DIR  # written by mix, reused by pack
    records = out / "_run" / "done" / "shards"
    for p in [
        out / PACK_INFO_FILE,
        out / "shard_00004.tokens.npy",
        records / "shard_00004.json",
    ]:
        p.unlink()
    (records / "shard_00005.json").unlink()  # shard written, completion record lost
    next(cache.glob("*.meta.npz")).unlink()  # that file is tokenized again by pack
    (out / ".shard_00006.tokens.npy.tmp-deadbeef").write_bytes(b"half a shard")
    stats = Pack.call(
        manifest=str(tmp_path / "mix"), output=str(out), sequences_per_shard=100, executor="local"
    )
    assert _files(out) == _files(packed)
    # 18 files (15 pt, 1 en, 2 web) and 7 shards: only the lost cache entry and shards 4 and 5 are redone
    assert stats["units"] == {"total": 25, "resumed": 22, "processed": 3, "failed": 0}
    assert sorted(p.name for p in records.glob("*.json")) == [f"shard_{i:05d}.json" for i in range(7)]


def test_rank_views_are_disjoint_and_resume_is_exact(packed: Path):
    ds = PackedDataset(packed)
    n = len(ds)
    for world, start in [(1, 0), (3, 0), (4, 250), (2, n - 1)]:
        seen = [
            view.global_index(j)
            for r in range(world)
            for view in [ds.shard(r, world, start)]
            for j in range(len(view))
        ]
        assert sorted(seen) == list(range(start, n))
    resumed = ds.shard(0, 1, start=311)
    assert len(resumed) == n - 311
    for j in (0, 1, 150, len(resumed) - 1):
        assert torch.equal(resumed[j]["input_ids"], ds[311 + j]["input_ids"])
    with pytest.raises(IndexError):
        resumed[len(resumed)]
    view = pickle.loads(pickle.dumps(ds.shard(1, 2, start=10)))
    assert torch.equal(view[0]["input_ids"], ds[11]["input_ids"])
    batch = next(iter(torch.utils.data.DataLoader(ds.shard(0, 2), batch_size=4)))
    assert batch["input_ids"].shape == (4, 64) and batch["source"].shape == (4,)


def test_pack_rejects_a_changed_input(curriculum_spec: dict, tmp_path: Path, en_jsonl: str):
    local = tmp_path / "en.jsonl.gz"
    shutil.copy(en_jsonl, local)
    spec = {
        **curriculum_spec,
        "sources": {**curriculum_spec["sources"], "en_replay": {"paths": [str(local)], "weight": 0.25}},
    }
    Mix.call(**spec, output=str(tmp_path / "mix"))
    local.write_bytes(local.read_bytes() + b"\n")
    with pytest.raises(CurationError, match="input changed since the manifest was written"):
        Pack.call(manifest=str(tmp_path / "mix"), output=str(tmp_path / "p"), executor="local")


@pytest.mark.slow
def test_really_killed_pack_process_resumes_to_the_same_bytes(base_spec: dict, tmp_path: Path):
    import signal
    import subprocess
    import sys
    import time

    clean = _pack(base_spec, tmp_path / "clean", sequences_per_shard=4)
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "curation.cli",
        "pack",
        "-m",
        str(tmp_path / "clean" / "mix"),
        "-o",
        str(out),
    ]
    cmd += ["--sequences-per-shard", "4", "--executor", "local"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = out / "_run" / "done" / "shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(parts.glob("*.json"))) < 20:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list(parts.glob("*.json")))
    assert 20 <= written < 157 and not (out / PACK_INFO_FILE).exists()  # killed mid-way
    stats = Pack.call(
        manifest=str(tmp_path / "clean" / "mix"), output=str(out), sequences_per_shard=4, executor="local"
    )
    assert _files(out) == _files(clean)
    # resumed: the 16 files in mix's token cache, and every shard finished before the kill
    assert stats["units"]["resumed"] == 16 + written
