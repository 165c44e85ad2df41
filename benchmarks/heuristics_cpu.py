"""CPU time per document of every heuristic rule (``heuristics.measure``: word tokenization and all signals),
warm (tokenizers loaded), min of 3 passes, on real text cut into documents of about 3,000 characters.

``python benchmarks/heuristics_cpu.py [DATA]``; run it from outside the repository with ``PYTHONPATH`` at another
checkout's package to compare two versions of the code (see ``benchmarks/results/languages.md``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

DOC_CHARS = 3000
DOCS = 60


def documents(paths: list[Path]) -> list[str]:
    docs, lines = [], []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                lines.append(line.strip())
            if sum(map(len, lines)) >= DOC_CHARS:
                docs.append("\n".join(lines))
                lines = []
    return docs[:DOCS]


def main() -> None:
    from curation.filters import heuristics
    from curation.filters.heuristics.presets import load_preset

    data = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CURATION_DATA", "../shared/data"))
    udhr = data / "text" / "multi" / "udhr2"
    sets = {
        "pt": sorted((data / "text" / "pt" / "machado_de_assis").glob("*.txt"))[10:14],
        "en": sorted((data / "text" / "en" / "nltk" / "state_union").glob("*.txt"))[:8],
        "de": [udhr / "deu.txt"],
        "ja": [udhr / "jpn.txt"],
        "zh": [udhr / "cmn_hans.txt", udhr / "cmn_hant.txt"],
        "th": [udhr / "tha.txt"],
    }
    print("| lang | docs | chars/doc | CPU ms/doc |\n|---|---|---|---|")
    for lang, paths in sets.items():
        docs = documents(paths)
        preset = load_preset(lang)
        heuristics.measure(docs[0], preset)  # loads the tokenizer
        passes = []
        for _ in range(3):
            started = time.process_time()
            for doc in docs:
                heuristics.measure(doc, preset)
            passes.append((time.process_time() - started) / len(docs))
        chars = sum(map(len, docs)) / len(docs)
        print(f"| {lang} | {len(docs)} | {chars:.0f} | {min(passes) * 1000:.2f} |")


if __name__ == "__main__":
    main()
