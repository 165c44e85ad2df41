"""Shared inputs of the ablate and plan tests: training prose, a BPE on it and the evaluation sets."""

from __future__ import annotations

from pathlib import Path

from curation.train.evaluation.heldout import prose_split


def prose_inputs(
    data_dir: Path, root: Path, english_works: int, examples: int
) -> tuple[list[Path], list[Path], str]:
    """(Portuguese training works, English training works, tokenizer); writes ``root/evalsets``."""
    from curation.mixer.tokenizer import train_bpe
    from curation.train.evaluation.evalsets import EvalSetsStage

    pt, en = prose_split(data_dir, "pt")[0][:20], prose_split(data_dir, "en")[0][-english_works:]
    tokenizer = train_bpe([p.read_text() for p in pt + en], 512, root / "bpe.json")
    EvalSetsStage.call(data=str(data_dir), output=str(root / "evalsets"), examples_per_task=examples)
    return pt, en, str(tokenizer)
