"""Offline early-signal tasks built from held-out text, and their metrics.

- ``lastword`` (LAMBADA / CALAME-PT style): a passage of ``PASSAGE_WORDS`` words ends with a word; the model
  must produce it. Only passages whose last word (letters only, at least 3) already occurs earlier in the
  passage are kept: the word is predictable from the context, as for most LAMBADA targets, so the task
  measures the use of context rather than world knowledge. Context and target are split as
  lm-evaluation-harness splits LAMBADA (``context``, ``" " + target``). Metrics: ``acc`` (every target token
  is the model's greedy choice) and ``target_bpb`` (bits per UTF-8 byte of the target: a continuous signal
  that moves before accuracy does).
- ``continuation`` (HellaSwag style): ``CONTEXT_WORDS`` words of a document, then its true next sentence and
  3 distractor sentences drawn from the same document (far from the context, of similar length), shuffled.
  Metrics: ``acc`` (highest summed log-likelihood) and ``acc_norm`` (highest log-likelihood per UTF-8 byte of
  the ending, lm-evaluation-harness's length normalisation); chance is 0.25.

Building is deterministic: documents in the given order, a seeded generator for distractors, ending order
and the final shuffle (so the first N examples are a random subset).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LASTWORD = "lastword"
CONTINUATION = "continuation"
PRIMARY_METRIC = {LASTWORD: "acc", CONTINUATION: "acc_norm"}
CHANCE = {LASTWORD: 0.0, CONTINUATION: 0.25}

PASSAGE_WORDS = (40, 160)  # words of a lastword passage (the target sentence included)
CONTEXT_WORDS = (25, 120)  # words of a continuation context
ENDING_WORDS = (6, 40)  # words of a continuation ending
ENDINGS = 4
MIN_DISTANCE = 4  # sentences between a distractor and the true ending

_BOUNDARY = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”»’)]))\s+")
_LAST_WORD = re.compile(r"^(.*\S)\s+(\w+)\W*$", re.S)
_WORD = re.compile(r"\w+")

# (log-likelihood of the continuation in nats, whether it is the greedy choice) per (context, continuation)
Scorer = Callable[[list[tuple[str, str]]], list[tuple[float, bool]]]


def sentences(text: str) -> list[str]:
    """Sentences of a text, paragraph by paragraph; a piece that starts in lower case continues the
    previous sentence (an abbreviation, a quoted exclamation)."""
    out: list[str] = []
    for paragraph in text.splitlines():
        paragraph = " ".join(paragraph.split())
        first = True
        for piece in _BOUNDARY.split(paragraph):
            letter = next((ch for ch in piece if ch.isalpha()), "")
            if out and not first and letter.islower():
                out[-1] += " " + piece
            elif piece:
                out.append(piece)
            first = False
    return out


def _words(text: str) -> int:
    return len(text.split())


def lastword_examples(docs: Sequence[str]) -> list[dict[str, str]]:
    """Non-overlapping passages ending in a word that occurs earlier in them (see the module docstring)."""
    lo, hi = PASSAGE_WORDS
    examples = []
    for doc in docs:
        sents = sentences(doc)
        free = 0  # first sentence not yet used by an example
        for end in range(len(sents)):
            start, words = end, _words(sents[end])
            while start > free and words < lo:
                start -= 1
                words += _words(sents[start])
            if not lo <= words <= hi:
                continue
            match = _LAST_WORD.match(" ".join(sents[start : end + 1]))
            if match is None:
                continue
            context, target = match.groups()
            earlier = {w.lower() for w in _WORD.findall(context)}
            if target.isalpha() and len(target) >= 3 and target.lower() in earlier:
                examples.append({"context": context, "target": target})
                free = end + 1
    return examples


def continuation_examples(docs: Sequence[str], rng: np.random.Generator) -> list[dict[str, Any]]:
    """A context, its true next sentence and 3 distractors from the same document, in shuffled order."""
    ctx_lo, ctx_hi = CONTEXT_WORDS
    end_lo, end_hi = ENDING_WORDS
    examples = []
    for doc in docs:
        sents = sentences(doc)
        free = 0
        for t in range(1, len(sents)):
            ending = sents[t]
            n = _words(ending)
            if not end_lo <= n <= end_hi:
                continue
            start, words = t, 0
            while start > free and words < ctx_lo:
                start -= 1
                words += _words(sents[start])
            if not ctx_lo <= words <= ctx_hi:
                continue
            pool = [
                k
                for k, s in enumerate(sents)
                if abs(k - t) >= MIN_DISTANCE
                and not start <= k < t
                and n / 2 <= _words(s) <= 2 * n
                and s != ending
            ]
            if len(pool) < ENDINGS - 1:
                continue
            picked = [sents[k] for k in rng.choice(pool, ENDINGS - 1, replace=False)]
            order = rng.permutation(ENDINGS)
            endings = [([ending, *picked])[i] for i in order]
            context = " ".join(sents[start:t])
            examples.append({"context": context, "endings": endings, "label": int(np.argmin(order))})
            free = t + 1
    return examples


def build_task(kind: str, docs: Sequence[str], max_examples: int, seed: int) -> list[dict[str, Any]]:
    """Examples of a task from documents, shuffled with ``seed`` and cut to ``max_examples``."""
    rng = np.random.default_rng(seed)
    examples = lastword_examples(docs) if kind == LASTWORD else continuation_examples(docs, rng)
    return [examples[i] for i in rng.permutation(len(examples))[:max_examples]]


def _stderr(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else 0.0


def score_task(kind: str, examples: Sequence[dict[str, Any]], scorer: Scorer) -> dict[str, Any]:
    """The task's metrics (see the module docstring), with binomial standard errors of the accuracies."""
    n = len(examples)
    if kind == LASTWORD:
        scores = scorer([(ex["context"], " " + ex["target"]) for ex in examples])
        acc = sum(greedy for _, greedy in scores) / n
        nats = -sum(ll for ll, _ in scores)
        target_bytes = sum(len((" " + ex["target"]).encode("utf-8")) for ex in examples)
        return {
            "examples": n,
            "acc": acc,
            "acc_stderr": _stderr(acc, n),
            "target_bpb": nats / (math.log(2) * target_bytes),
        }
    pairs = [(ex["context"], " " + ending) for ex in examples for ending in ex["endings"]]
    lls = [ll for ll, _ in scorer(pairs)]
    correct = correct_norm = 0
    for i, ex in enumerate(examples):
        row = lls[i * ENDINGS : (i + 1) * ENDINGS]
        norm = [ll / len((" " + e).encode("utf-8")) for ll, e in zip(row, ex["endings"], strict=True)]
        correct += int(np.argmax(row)) == ex["label"]
        correct_norm += int(np.argmax(norm)) == ex["label"]
    acc, acc_norm = correct / n, correct_norm / n
    return {
        "examples": n,
        "acc": acc,
        "acc_stderr": _stderr(acc, n),
        "acc_norm": acc_norm,
        "acc_norm_stderr": _stderr(acc_norm, n),
    }
