from pathlib import Path

import pytest
from transformers import AutoTokenizer

from curation.core.errors import CurationError
from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size


@pytest.mark.parametrize(
    ("rel", "eos", "size"),
    [
        ("dolma_test_tokenizers/gpt-neo-test-tokenizer.json", "<|endoftext|>", 50280),
        ("dolma_test_tokenizers/llama-test-tokenizer.json", "</s>", 32003),
        ("ptt5_spm_32000_pt", "</s>", 32000),
    ],
)
def test_load_and_fingerprint_survive_save_pretrained(data_dir: Path, tmp_path: Path, rel, eos, size):
    tok = load_tokenizer(data_dir / "tokenizers" / rel)
    assert tok.eos_token == eos and tok.eos_token_id is not None
    assert vocab_size(tok) == size
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert tokenizer_fingerprint(again) == tokenizer_fingerprint(tok)
    assert again.eos_token_id == tok.eos_token_id
    text = "A dívida não parece grande, mas Honório tem de pagá-la amanhã."
    assert again(text)["input_ids"] == tok(text)["input_ids"]


def test_fingerprints_differ_between_tokenizers(data_dir: Path):
    base = data_dir / "tokenizers" / "dolma_test_tokenizers"
    neo = tokenizer_fingerprint(load_tokenizer(base / "gpt-neo-test-tokenizer.json"))
    llama = tokenizer_fingerprint(load_tokenizer(base / "llama-test-tokenizer.json"))
    assert neo != llama and len(neo) == 64


def test_missing_tokenizer_is_a_user_error(tmp_path: Path):
    with pytest.raises(CurationError, match="tokenizer not found"):
        load_tokenizer(tmp_path / "nope.json")
    with pytest.raises(CurationError, match="not found locally"):
        load_tokenizer("no-such-org/no-such-tokenizer")
