"""`curation evalsets` and `curation eval` on the real held-out text: deterministic sets and tasks that no
training run reads, a trained tiny Llama scored on them, and an HF model of another architecture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from curation.core.errors import CurationError
from curation.core.io import iter_jsonl
from curation.train.evaluation.heldout import heldout_web, ngram_overlap, prose_split
from curation.train.evaluation.tasks import CONTINUATION, ENDINGS, LASTWORD, score_task
from tests.train.conftest import en_files, pt_files, tiny_config, train

EXAMPLES = 40


@pytest.fixture(scope="module")
def evalsets(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from curation.train.evaluation.evalsets import EvalSetsStage

    out = tmp_path_factory.mktemp("evalsets")
    EvalSetsStage.call(data=str(data_dir), output=str(out), examples_per_task=EXAMPLES)
    return out


@pytest.fixture(scope="module")
def trained(packed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama after 40 steps on Portuguese + English (the tests' training split, not held out)."""
    out = tmp_path_factory.mktemp("run")
    train(tiny_config(packed, out, max_steps=40))
    return out


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_evalsets_are_deterministic_and_held_out(evalsets: Path, data_dir: Path, tmp_path: Path) -> None:
    from curation.train.evaluation.evalsets import EvalSetsStage

    index = json.loads((evalsets / "evalsets.json").read_text())
    assert set(index["sets"]) == {"prose_pt", "prose_en", "web_gold_en", "web_gold_de"}
    assert set(index["tasks"]) == {"lastword_pt", "lastword_en", "continuation_pt", "continuation_en"}
    assert all(t["examples"] == EXAMPLES for t in index["tasks"].values())
    # the same command builds the same files
    EvalSetsStage.call(data=str(data_dir), output=str(tmp_path), examples_per_task=EXAMPLES)
    for entry in [*index["sets"].values(), *index["tasks"].values()]:
        assert (tmp_path / entry["path"]).read_bytes() == (evalsets / entry["path"]).read_bytes()
    # held-out prose: never in a training split (the demo's, nor these tests' first 30 / 15 files)
    for lang, files in (("pt", pt_files(data_dir)[:30]), ("en", en_files(data_dir)[:15])):
        train_files, held = prose_split(data_dir, lang)
        assert index["sets"][f"prose_{lang}"]["sources"] == [str(p) for p in held]
        assert not set(held) & (set(train_files) | set(files))
    # held-out web: whole sites; every gold page's URL is in the list a training corpus must leave out
    web = heldout_web(data_dir)
    pages = list(iter_jsonl(str(data_dir / "bench" / "pages.jsonl.gz")))
    assert {p["url"] for p in pages if p["site"] in set(web.sites)} == set(index["exclude_urls"])
    assert set(index["sets"]["web_gold_en"]["sources"]) <= set(index["exclude_urls"])
    kept_sites = {p["site"] for p in pages} - set(web.sites)
    assert kept_sites and not kept_sites & set(web.sites)


def test_tasks_are_well_formed(evalsets: Path, data_dir: Path) -> None:
    source = _flat(" ".join(p.read_text() for p in prose_split(data_dir, "pt")[1]))
    for ex in iter_jsonl(str(evalsets / "tasks" / "lastword_pt.jsonl")):
        assert _flat(ex["context"] + " " + ex["target"]) in source
        assert ex["target"].isalpha() and ex["target"].lower() in ex["context"].lower()
    for ex in iter_jsonl(str(evalsets / "tasks" / "continuation_pt.jsonl")):
        assert len(set(ex["endings"])) == ENDINGS
        true = ex["endings"][ex["label"]]
        assert _flat(ex["context"] + " " + true) in source  # the true ending follows the context
        assert all(_flat(ex["context"] + " " + e) not in source for e in ex["endings"] if e != true)


def test_task_metrics_follow_the_scores(evalsets: Path) -> None:
    """A scorer that prefers true endings scores 1, one that prefers the longest ending scores what the
    length bias gives; length normalisation is per byte."""
    examples = list(iter_jsonl(str(evalsets / "tasks" / "continuation_en.jsonl")))
    truth = {(ex["context"], " " + ex["endings"][ex["label"]]) for ex in examples}
    oracle = score_task(
        CONTINUATION, examples, lambda pairs: [(-1.0 if p in truth else -50.0, False) for p in pairs]
    )
    assert oracle["acc"] == oracle["acc_norm"] == 1.0
    per_byte = score_task(
        CONTINUATION, examples, lambda pairs: [(-2.0 * len(c.encode()), False) for _, c in pairs]
    )
    assert per_byte["acc"] == sum(
        max(range(ENDINGS), key=lambda i: -len(ex["endings"][i].encode())) == ex["label"] for ex in examples
    ) / len(examples)
    assert per_byte["acc_norm"] == sum(ex["label"] == 0 for ex in examples) / len(examples)  # all tie: first
    lastword = list(iter_jsonl(str(evalsets / "tasks" / "lastword_en.jsonl")))
    half = score_task(
        LASTWORD, lastword, lambda pairs: [(-math.log(2) * 8, i % 2 == 0) for i in range(len(pairs))]
    )
    assert half["acc"] == pytest.approx(sum(i % 2 == 0 for i in range(len(lastword))) / len(lastword))
    nbytes = sum(len((" " + ex["target"]).encode()) for ex in lastword)
    assert half["target_bpb"] == pytest.approx(8 * len(lastword) / nbytes)


def test_continuation_scores_match_the_bits_per_byte_path(trained: Path) -> None:
    """The log-likelihood of a continuation is the whole sequence's minus the context's (same model, same
    windows as held-out bits per byte): catches any off-by-one between logits and targets."""
    from curation.train.evaluate import nll_nats
    from curation.train.evaluation.scoring import continuation_scores, encode_pair, load_scored_model

    lm = load_scored_model(str(trained), None, "cpu", "fp32")
    pairs = [("O alienista chegou a Itaguaí e", " abriu a Casa Verde."), ("The State of the", " Union")]
    scores = continuation_scores(lm, pairs, seq_len=64, batch_size=2)
    eos = lm.tokenizer.eos_token_id
    for (context, continuation), (ll, greedy) in zip(pairs, scores, strict=True):
        ctx, cont = encode_pair(lm.tokenizer, context, continuation)
        whole = nll_nats(lm.model, [[eos, *ctx, *cont]], 1, "cpu")
        prefix = nll_nats(lm.model, [[eos, *ctx]], 1, "cpu")
        assert ll == pytest.approx(prefix - whole, rel=1e-4)
        assert isinstance(greedy, bool)


def test_eval_scores_a_trained_model_better_than_an_untrained_one(
    evalsets: Path, trained: Path, packed: Path, tmp_path: Path
) -> None:
    from curation.train.evaluate import bits_per_byte
    from curation.train.evaluation.scoring import load_scored_model
    from curation.train.evaluation.stage import Evaluate

    untrained = tmp_path / "untrained"
    train(
        tiny_config(
            packed,
            untrained,
            max_steps=1,
            schedule={"kind": "constant", "lr": 1e-9, "min_lr": 0, "warmup_steps": 0},
        )
    )
    keys = {"evalsets": str(evalsets), "max_bytes_per_set": 20_000, "seq_len": 64, "device": "cpu"}
    after = Evaluate.call(model=str(trained), output=str(tmp_path / "after"), **keys)["summary"]
    before = Evaluate.call(model=str(untrained / "export"), output=str(tmp_path / "before"), **keys)[
        "summary"
    ]
    assert json.loads((tmp_path / "after" / "eval.json").read_text()) == after
    assert "| lastword_pt | acc |" in (tmp_path / "after" / "eval.md").read_text()
    assert set(after["bpb"]) == {"prose_pt", "prose_en", "web_gold_en", "web_gold_de"}
    for name in ("prose_pt", "prose_en", "web_gold_en"):
        assert after["bpb"][name]["bpb"] < before["bpb"][name]["bpb"] - 0.3
    # the same number as the trainer's held-out bits per byte on the same text
    lm = load_scored_model(str(trained), None, "cpu", "fp32")
    direct = bits_per_byte(
        lm.model, lm.tokenizer, [str(evalsets / "bpb" / "prose_pt.jsonl.gz")], 64, max_bytes=20_000
    )
    assert after["bpb"]["prose_pt"]["bpb"] == pytest.approx(direct, rel=1e-6)
    for name, task in after["tasks"].items():
        assert task["examples"] == EXAMPLES and 0 <= task["acc"] <= 1, name
    assert after["tasks"]["lastword_pt"]["target_bpb"] < before["tasks"]["lastword_pt"]["target_bpb"]


def test_eval_takes_any_local_hf_causal_lm_and_skips_lm_eval_with_a_reason(
    data_dir: Path, tmp_path: Path
) -> None:
    """A GPT-2 (not our Llama) saved with save_pretrained, without tokenizer files: --tokenizer is needed;
    lm-evaluation-harness tasks are skipped with the reason (not installed here, or no data offline)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from curation.mixer.tokenizer import load_tokenizer, vocab_size
    from curation.train.evaluation.stage import Evaluate

    tokenizer = str(data_dir / "tokenizers" / "dolma_test_tokenizers" / "gpt-neo-test-tokenizer.json")
    vocab = vocab_size(load_tokenizer(tokenizer))
    GPT2LMHeadModel(
        GPT2Config(vocab_size=vocab, n_embd=32, n_layer=1, n_head=2, n_positions=128)
    ).save_pretrained(tmp_path / "gpt2")
    sets = {"pt": [str(prose_split(data_dir, "pt")[1][-1])]}
    with pytest.raises(CurationError, match="--tokenizer"):
        Evaluate.call(model=str(tmp_path / "gpt2"), sets=sets, output=str(tmp_path / "no-tok"))
    out = Evaluate.call(
        model=str(tmp_path / "gpt2"),
        tokenizer=tokenizer,
        sets=sets,
        lm_eval_tasks=["belebele_por_Latn"],
        seq_len=512,
        output=str(tmp_path / "eval"),
    )["summary"]
    # random weights, near-uniform logits: log2(vocabulary) bits per token
    text = Path(sets["pt"][0]).read_text()
    tokens = len(load_tokenizer(tokenizer)(text, add_special_tokens=False)["input_ids"])
    uniform = math.log2(vocab) * tokens / len(text.encode())
    assert out["bpb"]["pt"]["bpb"] == pytest.approx(uniform, rel=0.05)
    assert "belebele_por_Latn" in out["lm_eval"]["skipped"] or "not installed" in out["lm_eval"]["skipped"]


def test_contamination_check_finds_shared_13_grams(data_dir: Path) -> None:
    train_files, held = prose_split(data_dir, "en")
    heldout = [p.read_text(errors="replace") for p in held]
    training = [p.read_text(errors="replace") for p in train_files]
    clean = ngram_overlap(heldout, training)
    assert max(clean) < 0.002  # the addresses share only their title line with earlier ones
    planted = ngram_overlap(heldout, [*training, heldout[2][5000:7000]])
    assert planted[2] > 0.05 and planted[:2] + planted[3:] == clean[:2] + clean[3:]
