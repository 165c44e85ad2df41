"""Column names, the document fields every build writes, and the layout of run directories: defined once here.

Build output (``<output>/<lang>/*.parquet``) has one row per kept document: the fields below, then the signal
columns of every registered heuristic rule (``curation.filters.heuristics``). Rejected documents
(``<output>/rejected/*.parquet``, with ``--keep-rejected``) have the same columns plus ``drop_reason``.
Later stages only add columns (``<task>_score``, ``dup_cluster_id``...), they never rename these.
"""

from __future__ import annotations

# --- document identity and provenance
ID = "id"
URL = "url"
WARC_PATH = "warc_path"
WARC_RECORD_OFFSET = "warc_record_offset"
CRAWL_DATE = "crawl_date"
SNAPSHOT = "snapshot"
TEXT = "text"
# --- language identification
LANG = "lang"
LANG_SCORE = "lang_score"
HTML_LANG = "html_lang"
# --- size (words: the gopher_quality rule's n_words)
N_CHARS = "n_chars"
N_LINES = "n_lines"
# --- decision
DROP_REASON = "drop_reason"

# --- later stages
SCORE_SUFFIX = "_score"
DUP_CLUSTER_ID = "dup_cluster_id"
DUP_CLUSTER_SIZE = "dup_cluster_size"
DUP_SURVIVOR_ID = "dup_survivor_id"
DUP_KIND = "dup_kind"  # exact | url | minhash, on removed documents
REMOVED_DIR = "removed"  # `curation dedup` side output, beside the kept shards
WORK_DIR = "work"  # <output>/_run/work: intermediate files of a multi-step stage (removed when it finishes)
# bad-word signal (filters.badwords): matches of the LDNOOBW lists, and their share of the text's words
BADWORD_COUNT = "badword_count"
BADWORD_RATIO = "badword_ratio"


def score_column(task: str) -> str:
    """Name of the float column holding a classifier's score for ``task`` (``edu`` -> ``edu_score``)."""
    return f"{task}{SCORE_SUFFIX}"


# Arrow types (by alias) of the fields every built document has, in column order; ``id`` is never null.
DOCUMENT_FIELDS: dict[str, str] = {
    ID: "string",
    URL: "string",
    WARC_PATH: "string",
    WARC_RECORD_OFFSET: "int64",
    CRAWL_DATE: "string",
    SNAPSHOT: "string",
    TEXT: "string",
    LANG: "string",
    LANG_SCORE: "float32",
    HTML_LANG: "string",
    N_CHARS: "int64",
    N_LINES: "int64",
}

# --- layout of a run directory
RUN_DIR = "_run"
CONFIG_FILE = "config.yaml"
STATS_FILE = "stats.json"
DONE_DIR = "done"  # _run/done/<step>/<unit>.json: completion records, written after the unit's outputs
REJECTED_DIR = "rejected"
# --- a trained classifier's directory (filters.training) and the LLM-judge annotation cache
CLASSIFIER_CARD = "classifier.json"
CLASSIFIER_REPORT = "report.json"
CLASSIFIER_HELDOUT = "heldout.parquet"
ANNOTATION_CACHE = "cache.jsonl"

# --- mixer artefacts (`curation inventory`, `curation mix`, `curation pack`)
INVENTORY_FILE = "inventory.parquet"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 2
SUMMARY_FILE = "summary.txt"
PACK_INFO_FILE = "pack.json"
PACK_FORMAT_VERSION = 2
PACK_SHARD_ARRAYS = ("tokens", "sources", "doc_starts", "doc_index")  # keys of a pack.json shard entry
PACK_TOKENIZER_DIR = "tokenizer"
TOKEN_CACHE_DIR = "token_cache"

# --- `curation train` output directory
CHECKPOINTS_DIR = "checkpoints"
EXPORT_DIR = "export"
METRICS_FILE = "metrics.jsonl"
CURVES_PLOT = "curves.png"
CHECKPOINT_STEP_DIR = "step_{step:08d}"  # checkpoints/step_00000200/ holds the files below
CHECKPOINT_MODEL_FILE = "model.pt"
CHECKPOINT_OPTIMIZER_FILE = "optimizer.pt"
CHECKPOINT_STATE_FILE = "trainer_state.json"
CHECKPOINT_RNG_FILE = "rng_rank{rank}.pt"

# --- `curation vocab extend`: the record it leaves beside the extended model and tokenizer
VOCAB_EXTENSION_FILE = "vocab_extension.json"
FERTILITY_FILE = "fertility.json"  # `curation vocab report`
