"""Vocabulary extension: learn new target-language tokens and add them to a base tokenizer, leaving the ids
and the behaviour of every existing token alone.

**BPE** (byte-level like GPT-2/GPT-NeoX, or SentencePiece-style like Llama-2): new merges are learned by
continuing BPE on the target corpus *from the base tokenizer's own segmentation* of each word, and are
appended after every existing merge. The ``tokenizers`` BPE always applies the lowest-rank merge available,
so on any word the base merges run to completion exactly as before and only then may new merges apply:
existing ids never change, and a word's tokens change only where its base segmentation holds a learned
pair. Three rules keep that exact:

- words are what the model sees: the base normalizer and pre-tokenizer (byte-level pre-tokens in the
  byte alphabet; with no pre-tokenizer, as in Llama-2, the text is cut before each ``▁``/space), so a merge
  never spans a pre-token boundary, where it could never fire;
- a merge creates a *new* string: a pair whose concatenation is already a token is skipped (re-entering
  the base vocabulary would let base merges start again after a new one), as are pairs with special,
  unknown or byte-fallback tokens;
- pairs that occur adjacent inside a word of the *protected* text (English) are never learned, so the
  protected text's token sequences stay identical (checked after the fact). Other English text changes only
  where a word's base segmentation holds a Portuguese pair the protected text never showed.

**Unigram** (SentencePiece unigram models, e.g. PTT5): a unigram model with the base's normalizer and
pre-tokenizer is trained on the target corpus; its pieces missing from the base become new pieces, appended
(new ids) with their learned log-probability as score. Viterbi has no priorities, so a new piece could win
on English text: pieces that appear in the extended tokenization of the protected text are dropped (and the
next candidates taken) until none does.
"""

from __future__ import annotations

import heapq
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curation.core.errors import CurationError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

BYTE_FALLBACK = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
WORD_START = re.compile(r"(?=[▁\s])")  # cut points of a text with no pre-tokenizer (Metaspace-style BPE)
KINDS = ("bpe", "unigram")
Pair = tuple[str, str]


@dataclass
class Extension:
    """New tokens added to a base tokenizer: strings and ids in order, how each was learned."""

    kind: str
    tokenizer: Tokenizer
    tokens: list[str]
    ids: list[int]
    counts: list[float]  # corpus frequency: bpe, of the pair when merged; unigram, of the piece once added
    rejected_protected: int = 0
    merges: list[Pair] = field(default_factory=list)


def tokenizer_json(backend: Tokenizer) -> dict[str, Any]:
    return json.loads(backend.to_str())


def model_kind(backend: Tokenizer) -> str:
    """``bpe`` or ``unigram``; other models (WordPiece, WordLevel) cannot be extended."""
    model = tokenizer_json(backend)["model"]
    kind = str(model.get("type", "")).lower()
    if kind not in KINDS:
        raise CurationError(f"cannot extend a {model.get('type')} tokenizer (BPE or Unigram only)")
    if kind == "bpe" and (model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")):
        raise CurationError("cannot extend a BPE with a continuing_subword_prefix or end_of_word_suffix")
    return kind


def words(backend: Tokenizer, texts: Iterable[str]) -> Counter[str]:
    """Pre-token words of the texts as the model sees them (normalized, byte-mapped), with their counts."""
    counts: Counter[str] = Counter()
    for text in texts:
        normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
        if backend.pre_tokenizer is not None:
            counts.update(w for w, _ in backend.pre_tokenizer.pre_tokenize_str(normalized))
        else:
            counts.update(w for w in WORD_START.split(normalized) if w)
    return counts


def segment(backend: Tokenizer, word: str) -> list[str]:
    """The base model's tokens of one pre-token word."""
    return [t.value for t in backend.model.tokenize(word)]


def base_ids(backend: Tokenizer, token: str) -> list[int]:
    """Ids of the base tokens a new token's string decomposes into (the sub-tokens it replaces)."""
    return [t.id for t in backend.model.tokenize(token)]


def protected_pairs(backend: Tokenizer, texts: Sequence[str]) -> set[Pair]:
    """Adjacent token pairs within each pre-token word of the protected texts' base tokenization."""
    pairs: set[Pair] = set()
    for enc in backend.encode_batch(list(texts), add_special_tokens=False):
        toks, wids = enc.tokens, enc.word_ids
        pairs.update(
            (toks[i], toks[i + 1])
            for i in range(len(toks) - 1)
            if wids[i] is not None and wids[i] == wids[i + 1]
        )
    return pairs


def unmergeable(backend: Tokenizer) -> set[str]:
    """Tokens no new merge may use: special and added tokens, the unknown token."""
    model = tokenizer_json(backend)["model"]
    out = {str(a.content) for a in backend.get_added_tokens_decoder().values()}
    if model.get("unk_token"):
        out.add(model["unk_token"])
    return out


def _merge(seq: list[str], a: str, b: str, new: str) -> list[str]:
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


def learn_merges(
    counts: Counter[str],
    segments: dict[str, list[str]],
    n: int,
    vocab: set[str],
    blocked_tokens: set[str],
    forbidden: set[Pair],
    min_frequency: int,
    byte_fallback: bool,
) -> tuple[list[tuple[str, str, int]], int]:
    """Up to ``n`` merges ``(a, b, frequency)`` continuing BPE from ``segments`` (most frequent pair first;
    ties by the pair's strings, so the result is deterministic), and how many pairs were passed over
    because the protected text holds them."""
    seqs = [list(segments[w]) for w in counts]
    freqs = list(counts.values())
    pair_counts: Counter[Pair] = Counter()
    where: dict[Pair, set[int]] = defaultdict(set)
    for i, s in enumerate(seqs):
        for pair in zip(s, s[1:]):
            pair_counts[pair] += freqs[i]
            where[pair].add(i)

    def usable(pair: Pair) -> bool:
        a, b = pair
        if a + b in vocab or a in blocked_tokens or b in blocked_tokens:
            return False
        return not (byte_fallback and (BYTE_FALLBACK.match(a) or BYTE_FALLBACK.match(b)))

    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str, int]] = []
    protected: set[Pair] = set()
    while heap and len(merges) < n:
        neg, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -neg:  # a stale entry: its count changed since it was pushed
            continue
        if count < min_frequency:
            break
        if not usable(pair):
            continue
        if pair in forbidden:
            protected.add(pair)
            continue
        a, b = pair
        new = a + b
        merges.append((a, b, count))
        vocab.add(new)
        touched: set[Pair] = set()
        for i in where.pop(pair, ()):
            s, f = seqs[i], freqs[i]
            merged = _merge(s, a, b, new)
            if len(merged) == len(s):
                continue
            for p in zip(s, s[1:]):
                pair_counts[p] -= f
                touched.add(p)
            for p in zip(merged, merged[1:]):
                pair_counts[p] += f
                where[p].add(i)
                touched.add(p)
            seqs[i] = merged
        pair_counts.pop(pair, None)
        for p in touched - {pair}:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
    return merges, len(protected)


def next_id(backend: Tokenizer) -> int:
    return max(backend.get_vocab(with_added_tokens=True).values()) + 1


def add_merges(backend: Tokenizer, merges: Sequence[tuple[str, str, Any]]) -> tuple[Tokenizer, list[int]]:
    """A copy of ``backend`` with the merges appended (lowest priority) and their tokens at new ids."""
    from tokenizers import Tokenizer

    data = tokenizer_json(backend)
    model = data["model"]
    first = next_id(backend)
    for added in data["added_tokens"]:  # an added token beyond the model's vocabulary would be renumbered
        model["vocab"].setdefault(added["content"], added["id"])  # after the new ids on loading: pin it
    ids = list(range(first, first + len(merges)))
    for (a, b, _), new_id in zip(merges, ids, strict=True):
        model["vocab"][a + b] = new_id
        model["merges"].append([a, b])
    return Tokenizer.from_str(json.dumps(data)), ids


def extend_bpe(
    backend: Tokenizer, texts: Sequence[str], n: int, protect: Sequence[str], min_frequency: int
) -> Extension:
    model = tokenizer_json(backend)["model"]
    counts = words(backend, texts)
    segments = {w: segment(backend, w) for w in counts}
    forbidden = protected_pairs(backend, protect)
    if model.get("ignore_merges"):  # a whole word found in the vocabulary skips merges: keep such words out
        forbidden_words = set(words(backend, protect))
        counts = Counter({w: c for w, c in counts.items() if w not in forbidden_words})
    merges, rejected = learn_merges(
        counts,
        segments,
        n,
        set(backend.get_vocab(with_added_tokens=True)),
        unmergeable(backend),
        forbidden,
        min_frequency,
        bool(model.get("byte_fallback")),
    )
    extended, ids = add_merges(backend, merges)
    return Extension(
        kind="bpe",
        tokenizer=extended,
        tokens=[a + b for a, b, _ in merges],
        ids=ids,
        counts=[float(c) for _, _, c in merges],
        rejected_protected=rejected,
        merges=[(a, b) for a, b, _ in merges],
    )


def add_pieces(backend: Tokenizer, pieces: Sequence[tuple[str, float]]) -> tuple[Tokenizer, list[int]]:
    """A copy of a Unigram ``backend`` with the pieces appended (new ids) with their scores."""
    from tokenizers import Tokenizer

    data = tokenizer_json(backend)
    vocab = data["model"]["vocab"]
    if next_id(backend) != len(vocab):
        raise CurationError("cannot extend a Unigram tokenizer whose added tokens lie beyond its vocabulary")
    ids = list(range(len(vocab), len(vocab) + len(pieces)))
    vocab.extend([piece, score] for piece, score in pieces)
    return Tokenizer.from_str(json.dumps(data)), ids


def train_unigram(backend: Tokenizer, texts: Sequence[str], vocab_size: int) -> list[tuple[str, float]]:
    """Pieces and log-probabilities of a unigram model trained on ``texts`` with the base's normalizer and
    pre-tokenizer, best first."""
    from tokenizers import Tokenizer, models, trainers

    target = Tokenizer(models.Unigram())
    target.normalizer = backend.normalizer
    target.pre_tokenizer = backend.pre_tokenizer
    target.train_from_iterator(texts, trainers.UnigramTrainer(vocab_size=vocab_size, show_progress=False))
    pieces = [(p, float(s)) for p, s in tokenizer_json(target)["model"]["vocab"]]
    return sorted(pieces, key=lambda ps: -ps[1])


def new_token_counts(extended: Tokenizer, ids: Sequence[int], texts: Sequence[str]) -> Counter[int]:
    """How often each new id occurs in the extended tokenization of ``texts``."""
    wanted = set(ids)
    return Counter(
        i
        for enc in extended.encode_batch(list(texts), add_special_tokens=False)
        for i in enc.ids
        if i in wanted
    )


def extend_unigram(
    backend: Tokenizer, texts: Sequence[str], n: int, protect: Sequence[str], min_frequency: int
) -> Extension:
    """New pieces, best score first; a piece is dropped (and the next candidate taken) when the extended
    tokenizer uses it on the protected text or fewer than ``min_frequency`` times on the corpus."""
    vocab = set(backend.get_vocab(with_added_tokens=True))
    candidates = [
        (p, s) for p, s in train_unigram(backend, texts, max(4 * n, 2000)) if p not in vocab and p.strip("▁")
    ]
    chosen: list[tuple[str, float]] = []
    taken = rejected = 0
    while True:
        short = n - len(chosen)
        if short > 0 and taken < len(candidates):  # take twice what is missing: some will be dropped
            chosen = sorted(chosen + candidates[taken : taken + 2 * short], key=lambda ps: -ps[1])
            taken += 2 * short
        extended, ids = add_pieces(backend, chosen)
        in_protect = new_token_counts(extended, ids, protect) if protect else Counter()
        in_corpus = new_token_counts(extended, ids, texts)
        drop = {i for i in ids if in_protect[i] or in_corpus[i] < min_frequency}
        rejected += len(drop & set(in_protect))
        if drop:
            chosen = [c for c, i in zip(chosen, ids, strict=True) if i not in drop]
        elif len(chosen) > n:
            chosen = chosen[:n]  # the best n; checked again, as removing pieces changes segmentations
        else:
            break
    return Extension(
        kind="unigram",
        tokenizer=extended,
        tokens=[p for p, _ in chosen],
        ids=ids,
        counts=[float(in_corpus[i]) for i in ids],
        rejected_protected=rejected,
    )


def extend_tokenizer(
    tokenizer: PreTrainedTokenizerFast,
    texts: Sequence[str],
    n: int,
    protect: Sequence[str] = (),
    min_frequency: int = 2,
) -> Extension:
    """Learn up to ``n`` new tokens from ``texts`` and add them to a copy of ``tokenizer``'s backend."""
    backend = tokenizer.backend_tokenizer
    if model_kind(backend) == "bpe":
        return extend_bpe(backend, texts, n, protect, min_frequency)
    return extend_unigram(backend, texts, n, protect, min_frequency)


def wrap(backend: Tokenizer, like: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """A Hugging Face fast tokenizer around ``backend`` with the special tokens of ``like``."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=backend, **like.special_tokens_map)
