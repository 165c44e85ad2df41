"""CPU time per document of every heuristic rule (``heuristics.measure``: word tokenization and all signals),
warm (tokenizers loaded), min of 3 passes, on real text cut into documents of about 1,000 characters, with the
shipped preset of each language (its segmenter: spaCy for pt/en/de, SudachiPy, jieba, PyThaiNLP).

``python benchmarks/heuristics_cpu.py [DATA]``: the table, also kept in ``benchmarks/results/languages_cpu.json``
(a section of ``benchmarks/results/languages.md``, see ``languages.py report``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DOC_CHARS = 1000
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


def measure(data: Path) -> dict[str, Any]:
    from curation.filters import heuristics
    from curation.filters.heuristics.presets import load_preset

    udhr = data / "text" / "multi" / "udhr2"
    sets = {
        "pt": sorted((data / "text" / "pt" / "machado_de_assis").glob("*.txt"))[10:14],
        "en": sorted((data / "text" / "en" / "nltk" / "state_union").glob("*.txt"))[:8],
        "de": [udhr / "deu.txt"],
        "ja": [udhr / "jpn.txt"],
        "zh": [udhr / "cmn_hans.txt", udhr / "cmn_hant.txt"],
        "th": [udhr / "tha.txt"],
    }
    rows = []
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
        rows.append(
            {
                "lang": lang,
                "docs": len(docs),
                "chars_per_doc": round(sum(map(len, docs)) / len(docs)),
                "cpu_ms_per_doc": round(min(passes) * 1000, 2),
                "passes_ms": [round(p * 1000, 2) for p in passes],
            }
        )
    return {"rows": rows}


def markdown(result: dict[str, Any]) -> str:
    out = ["| lang | docs | chars/doc | CPU ms/doc (min of 3) | all 3 passes |", "|---|---|---|---|---|"]
    out += [
        f"| {r['lang']} | {r['docs']} | {r['chars_per_doc']} | {r['cpu_ms_per_doc']:.2f} | "
        f"{', '.join(map(str, r['passes_ms']))} |"
        for r in result["rows"]
    ]
    return "\n".join(out)


def main() -> None:
    from languages import meta

    data = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CURATION_DATA", "../shared/data"))
    result = {"meta": meta(), **measure(data)}
    out = Path(__file__).parent / "results" / "languages_cpu.json"
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
