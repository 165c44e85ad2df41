"""`curation vocab report` and the tokenizer side of `curation vocab extend`, on the real tokenizers and text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.core.errors import CurationError
from curation.mixer.sources import ReadOptions, read_texts
from curation.mixer.tokenizer import load_tokenizer

PT_TRAIN = "a-*.txt"  # 15 short works of Machado de Assis: the corpus new tokens are learned from
PT_HELDOUT = "o-*.txt"  # other works, never learned from


def texts(paths: list[Path]) -> list[str]:
    return [p.read_text(encoding="utf-8", errors="replace") for p in paths]


@pytest.fixture(scope="module")
def corpora(data_dir: Path) -> dict[str, list[str]]:
    pt = data_dir / "text" / "pt" / "machado_de_assis"
    sotu = sorted((data_dir / "text" / "en" / "nltk" / "state_union").glob("*.txt"))
    return {
        "pt_train": texts(sorted(pt.glob(PT_TRAIN))),
        "pt_heldout": texts(sorted(pt.glob(PT_HELDOUT))[:3]),
        "en_protect": texts(sotu[:12]),
        "en_heldout": texts(sotu[-4:]),
    }


def tokenizer(data_dir: Path, name: str):
    return load_tokenizer(data_dir / "tokenizers" / "dolma_test_tokenizers" / f"{name}-test-tokenizer.json")


def count(backend, docs: list[str]) -> int:
    return sum(len(e.ids) for e in backend.encode_batch(docs, add_special_tokens=False))


def test_report_puts_tokenizers_side_by_side(data_dir: Path, tmp_path: Path):
    from curation.mixer.fertility import VocabReport

    toks = data_dir / "tokenizers"
    pt = data_dir / "text" / "pt" / "machado_de_assis"
    stats = VocabReport.call(
        tokenizers={
            "llama2": str(toks / "dolma_test_tokenizers" / "llama-test-tokenizer.json"),
            "ptt5": str(toks / "ptt5_spm_32000_pt"),
        },
        sets={"pt": [str(pt / PT_TRAIN)], "en": [str(data_dir / "text" / "en" / "nltk" / "state_union")]},
        max_bytes_per_set=100_000,
        executor="local",
        output=str(tmp_path / "report"),
    )
    results = json.loads((tmp_path / "report" / "fertility.json").read_text())["results"]
    assert results == stats["summary"]["results"]
    assert (tmp_path / "report" / "_run" / "fertility.png").stat().st_size > 10_000
    llama, ptt5 = results["llama2"], results["ptt5"]
    # English-centric Llama-2 splits Portuguese much more than English; the Portuguese tokenizer the reverse
    assert llama["pt"]["tokens_per_word"] > 1.8 > 1.4 > llama["en"]["tokens_per_word"]
    assert ptt5["pt"]["tokens"] < 0.85 * llama["pt"]["tokens"]
    assert ptt5["en"]["tokens"] > 1.3 * llama["en"]["tokens"]
    assert 0.4 < llama["pt"]["split_share"] < 0.6 and ptt5["pt"]["split_share"] < 0.25
    for r in (llama["pt"], ptt5["en"]):
        assert r["bytes"] == 100_000 and abs(r["tokens_per_byte"] - r["tokens"] / r["bytes"]) < 1e-12
        for w in r["top_split"]:  # the pieces are the word, cut where its tokens end
            assert w["pieces"].replace("|", "") == w["word"] and "|" in w["pieces"]
    assert any(w["word"] == "Não" and w["pieces"] == "N|ão" for w in llama["pt"]["top_split"])
    # the token count is the tokenizer's own count of the running text
    docs = read_texts([str(pt / PT_TRAIN)], ReadOptions("pt"), 100_000)
    llama_tok = load_tokenizer(toks / "dolma_test_tokenizers" / "llama-test-tokenizer.json")
    assert llama["pt"]["tokens"] == count(llama_tok.backend_tokenizer, docs)


@pytest.mark.parametrize(("name", "n"), [("gpt-neo", 300), ("llama", 200)])
def test_bpe_extension_keeps_every_base_token_and_english(
    data_dir: Path, corpora: dict[str, list[str]], name: str, n: int
):
    from curation.mixer.vocab import extend_tokenizer, tokenizer_json

    base = tokenizer(data_dir, name)
    ext = extend_tokenizer(base, corpora["pt_train"], n, corpora["en_protect"])
    b, e = base.backend_tokenizer, ext.tokenizer
    assert ext.kind == "bpe" and len(ext.tokens) == n
    # ids of every base token unchanged; the new ones follow the highest id; merges appended at the end
    base_vocab, ext_vocab = b.get_vocab(with_added_tokens=True), e.get_vocab(with_added_tokens=True)
    assert {t: ext_vocab[t] for t in base_vocab} == base_vocab
    assert ext.ids == list(range(max(base_vocab.values()) + 1, max(base_vocab.values()) + 1 + n))
    base_merges, ext_merges = tokenizer_json(b)["model"]["merges"], tokenizer_json(e)["model"]["merges"]
    assert ext_merges[: len(base_merges)] == base_merges
    assert [tuple(m) for m in ext_merges[len(base_merges) :]] == ext.merges
    # the protected English text is tokenized exactly as before; other English barely changes
    for x, y in zip(
        b.encode_batch(corpora["en_protect"]), e.encode_batch(corpora["en_protect"]), strict=True
    ):
        assert x.ids == y.ids
    en_base, en_ext = count(b, corpora["en_heldout"]), count(e, corpora["en_heldout"])
    assert en_ext <= en_base < en_ext * 1.001
    # held-out Portuguese takes fewer tokens and decodes to the same text
    assert count(e, corpora["pt_heldout"]) < 0.95 * count(b, corpora["pt_heldout"])
    doc = corpora["pt_heldout"][0][:5000]
    assert e.decode(e.encode(doc).ids) == b.decode(b.encode(doc).ids)
    # the new tokens are used: every learned token that is not only a step to a longer one occurs
    used = {i for enc in e.encode_batch(corpora["pt_train"]) for i in enc.ids if i >= ext.ids[0]}
    assert len(used) > 0.8 * n


def test_without_protection_english_changes(data_dir: Path, corpora: dict[str, list[str]]):
    """The protection is what keeps English intact: Llama-2 splits English words into pairs that Portuguese
    merges would join; learned without protection, they change the English tokens."""
    from curation.mixer.vocab import extend_tokenizer

    base = tokenizer(data_dir, "llama")
    protected = extend_tokenizer(base, corpora["pt_train"], 200, corpora["en_protect"])
    unprotected = extend_tokenizer(base, corpora["pt_train"], 200)
    assert protected.rejected_protected > 0 and unprotected.rejected_protected == 0
    b = base.backend_tokenizer
    assert count(protected.tokenizer, corpora["en_protect"]) == count(b, corpora["en_protect"])
    assert count(unprotected.tokenizer, corpora["en_protect"]) < count(b, corpora["en_protect"])


def test_unigram_extension_adds_pieces_english_unchanged(
    data_dir: Path, corpora: dict[str, list[str]], tmp_path: Path
):
    """An English unigram model (trained here on real English) gets Portuguese pieces."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import AutoTokenizer

    from curation.mixer.tokenizer import tokenizer_fingerprint
    from curation.mixer.vocab import extend_tokenizer, wrap

    uni = Tokenizer(models.Unigram())
    uni.normalizer = normalizers.NFKC()
    uni.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=1500, special_tokens=["<unk>", "</s>"], unk_token="<unk>", show_progress=False
    )
    uni.train_from_iterator(corpora["en_protect"][:6], trainer)
    uni.save(str(tmp_path / "en-unigram.json"))
    base = load_tokenizer(tmp_path / "en-unigram.json")
    ext = extend_tokenizer(base, corpora["pt_train"], 100, corpora["en_protect"])
    b, e = base.backend_tokenizer, ext.tokenizer
    assert ext.kind == "unigram" and len(ext.tokens) == 100 and ext.rejected_protected > 0
    assert ext.ids == list(range(1500, 1600)) and all(c >= 2 for c in ext.counts)
    base_vocab = b.get_vocab()
    assert {t: e.get_vocab()[t] for t in base_vocab} == base_vocab
    for x, y in zip(
        b.encode_batch(corpora["en_protect"]), e.encode_batch(corpora["en_protect"]), strict=True
    ):
        assert x.ids == y.ids
    assert count(e, corpora["pt_heldout"]) < 0.95 * count(b, corpora["pt_heldout"])
    wrapped = wrap(e, base)
    wrapped.save_pretrained(tmp_path / "extended")
    again = AutoTokenizer.from_pretrained(tmp_path / "extended")
    assert tokenizer_fingerprint(again) == tokenizer_fingerprint(wrapped) and again.eos_token == "</s>"


def test_only_bpe_and_unigram_can_be_extended(tmp_path: Path):
    from tokenizers import Tokenizer, models

    from curation.mixer.vocab import extend_tokenizer

    Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "</s>": 2}, unk_token="[UNK]")).save(
        str(tmp_path / "wp.json")
    )
    with pytest.raises(CurationError, match="cannot extend a WordPiece tokenizer"):
        extend_tokenizer(load_tokenizer(tmp_path / "wp.json"), ["a a a"], 4)
