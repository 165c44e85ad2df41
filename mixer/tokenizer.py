"""Load the target model's tokenizer from a local path (or a cached hub id) and fingerprint it.

Accepted forms: a ``tokenizers`` JSON file, a saved Hugging Face tokenizer directory, a SentencePiece
``.model`` file (or a directory holding exactly one), or a hub id already in the local cache. The
returned tokenizer always has an EOS token (the document separator in packed data).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from curation.core import io
from curation.core.errors import CurationError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eos|>")
ADDED_EOS = "<|endoftext|>"


def _from_spm(model_file: str) -> PreTrainedTokenizerFast:
    from types import SimpleNamespace

    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter

    backend = SpmConverter(SimpleNamespace(vocab_file=model_file)).converted()
    return PreTrainedTokenizerFast(tokenizer_object=backend)


def _from_hub(name: str) -> PreTrainedTokenizerFast:
    """A hub id from the local cache; downloaded only when ``HF_HUB_OFFLINE`` is not set."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except (OSError, ValueError) as exc:
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
            raise CurationError(f"tokenizer not found locally: {name} ({type(exc).__name__})") from None
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise CurationError(f"tokenizer not found: {name} ({type(exc).__name__})") from None


def _load(name_or_path: str) -> PreTrainedTokenizerFast:
    from transformers import PreTrainedTokenizerFast

    path = Path(name_or_path)
    if path.is_file() and path.suffix == ".json":
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    if path.is_file() and path.suffix == ".model":
        return _from_spm(str(path))
    if path.is_dir():
        spm = sorted(path.glob("*.model"))
        if not (path / "tokenizer.json").exists() and not (path / "tokenizer_config.json").exists():
            if len(spm) == 1:
                return _from_spm(str(spm[0]))
            raise CurationError(f"tokenizer directory has no tokenizer.json: {name_or_path}")
    elif path.exists():
        raise CurationError(f"unsupported tokenizer file (want .json, .model or a directory): {name_or_path}")
    elif name_or_path.startswith((".", os.sep)) or name_or_path.endswith((".json", ".model")):
        raise CurationError(f"tokenizer not found: {name_or_path}")
    tok = _from_hub(name_or_path)
    if not getattr(tok, "is_fast", False) or not hasattr(tok, "backend_tokenizer"):
        raise CurationError(f"tokenizer is not a fast (Rust) tokenizer: {name_or_path}")
    return tok


def ensure_eos(tok: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """Set an EOS token: keep the declared one, else a known one from the vocabulary, else add one."""
    if tok.eos_token is not None and tok.eos_token_id is not None:
        return tok
    vocab = tok.get_vocab()
    found = next((t for t in EOS_CANDIDATES if t in vocab), None)
    if found is not None:
        tok.eos_token = found
    else:
        tok.add_special_tokens({"eos_token": ADDED_EOS})
    return tok


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> PreTrainedTokenizerFast:
    """A fast tokenizer with an EOS token, from a local file/directory, a URL (read from a local copy made
    once per node) or a cached hub id."""
    name = os.fspath(name_or_path)
    return ensure_eos(_load(io.local_mirror(name) if io.is_remote(name) else name))


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerFast) -> str:
    """sha256 hex of the tokenizer's canonical JSON: equal fingerprints tokenize identically."""
    return hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()


def vocab_size(tokenizer: PreTrainedTokenizerFast) -> int:
    """Number of ids the tokenizer can emit (base vocabulary plus added tokens)."""
    return max(len(tokenizer), tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True))


def train_bpe(texts: Iterable[str], vocab_size: int, path: str | os.PathLike[str]) -> str:
    """A byte-level BPE with the EOS ``<|endoftext|>`` trained on ``texts``, saved as a `tokenizers` JSON
    (the stand-in for a base model's tokenizer in the demo, the tests and the benchmarks)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[ADDED_EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tok.save(os.fspath(path))
    return os.fspath(path)
