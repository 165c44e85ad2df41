"""Column names and Parquet schemas: defined once here, imported everywhere else.

Build output (``<output>/<lang>/*.parquet``) has one row per kept document. Rejected documents
(``<output>/rejected/*.parquet``, with ``--keep-rejected``) have the same columns plus ``drop_reason``.
Later stages only add columns (``<task>_score``, ``dup_cluster_id``...), they never rename these.
"""

from __future__ import annotations

import pyarrow as pa

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
# --- size
N_CHARS = "n_chars"
N_WORDS = "n_words"
N_LINES = "n_lines"
# --- decision
DROP_REASON = "drop_reason"

# --- heuristic signals (measured values; thresholds live in the language presets)
MEAN_WORD_LENGTH = "mean_word_length"
SYMBOL_WORD_RATIO = "symbol_word_ratio"
BULLET_LINES_RATIO = "bullet_lines_ratio"
ELLIPSIS_LINES_RATIO = "ellipsis_lines_ratio"
ALPHA_WORDS_RATIO = "alpha_words_ratio"
STOP_WORDS_COUNT = "stop_words_count"
DUP_LINE_FRAC = "dup_line_frac"
DUP_PARA_FRAC = "dup_para_frac"
DUP_LINE_CHAR_FRAC = "dup_line_char_frac"
DUP_PARA_CHAR_FRAC = "dup_para_char_frac"
TOP_NGRAM_CHAR_FRAC = "top_{n}gram_char_frac"
DUP_NGRAM_CHAR_FRAC = "dup_{n}gram_char_frac"
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
C4_LINES_REMOVED_RATIO = "c4_lines_removed_ratio"
C4_HAS_LOREM_IPSUM = "c4_has_lorem_ipsum"
C4_HAS_CURLY_BRACKET = "c4_has_curly_bracket"
C4_POLICY_LINES = "c4_policy_lines"
LINE_PUNCT_RATIO = "line_punct_ratio"
SHORT_LINE_RATIO = "short_line_ratio"
CHAR_DUP_RATIO = "char_dup_ratio"
NEWLINE_RATIO = "newline_ratio"

FLOAT_SIGNALS: tuple[str, ...] = (
    MEAN_WORD_LENGTH,
    SYMBOL_WORD_RATIO,
    BULLET_LINES_RATIO,
    ELLIPSIS_LINES_RATIO,
    ALPHA_WORDS_RATIO,
    DUP_LINE_FRAC,
    DUP_PARA_FRAC,
    DUP_LINE_CHAR_FRAC,
    DUP_PARA_CHAR_FRAC,
    *(TOP_NGRAM_CHAR_FRAC.format(n=n) for n in TOP_NGRAM_SIZES),
    *(DUP_NGRAM_CHAR_FRAC.format(n=n) for n in DUP_NGRAM_SIZES),
    C4_LINES_REMOVED_RATIO,
    LINE_PUNCT_RATIO,
    SHORT_LINE_RATIO,
    CHAR_DUP_RATIO,
    NEWLINE_RATIO,
)
INT_SIGNALS: tuple[str, ...] = (STOP_WORDS_COUNT, C4_POLICY_LINES)
BOOL_SIGNALS: tuple[str, ...] = (C4_HAS_LOREM_IPSUM, C4_HAS_CURLY_BRACKET)

# --- later stages
SCORE_SUFFIX = "_score"
DUP_CLUSTER_ID = "dup_cluster_id"
DUP_CLUSTER_SIZE = "dup_cluster_size"
DUP_SURVIVOR_ID = "dup_survivor_id"
DUP_KIND = "dup_kind"  # exact | url | minhash, on removed documents
REMOVED_DIR = "removed"  # `curation dedup` side output, beside the kept shards
WORK_DIR = "work"  # <output>/_run/work: resumable intermediate files of a multi-stage command
# bad-word signal (filters.badwords): matches of the LDNOOBW lists, and their share of the text's words
BADWORD_COUNT = "badword_count"
BADWORD_RATIO = "badword_ratio"


def score_column(task: str) -> str:
    """Name of the float column holding a classifier's score for ``task`` (``edu`` -> ``edu_score``)."""
    return f"{task}{SCORE_SUFFIX}"


_CORE_FIELDS: list[pa.Field] = [
    pa.field(ID, pa.string(), nullable=False),
    pa.field(URL, pa.string()),
    pa.field(WARC_PATH, pa.string()),
    pa.field(WARC_RECORD_OFFSET, pa.int64()),
    pa.field(CRAWL_DATE, pa.string()),
    pa.field(SNAPSHOT, pa.string()),
    pa.field(TEXT, pa.string()),
    pa.field(LANG, pa.string()),
    pa.field(LANG_SCORE, pa.float32()),
    pa.field(HTML_LANG, pa.string()),
    pa.field(N_CHARS, pa.int64()),
    pa.field(N_WORDS, pa.int64()),
    pa.field(N_LINES, pa.int64()),
]

BUILD_SCHEMA = pa.schema(
    _CORE_FIELDS
    + [pa.field(name, pa.float32()) for name in FLOAT_SIGNALS]
    + [pa.field(name, pa.int32()) for name in INT_SIGNALS]
    + [pa.field(name, pa.bool_()) for name in BOOL_SIGNALS]
)
REJECTED_SCHEMA = BUILD_SCHEMA.append(pa.field(DROP_REASON, pa.string()))

# --- layout of a run directory
RUN_DIR = "_run"
CONFIG_FILE = "config.yaml"
STATS_FILE = "stats.json"
PARTS_DIR = "parts"
REJECTED_DIR = "rejected"
# --- a trained classifier's directory (filters.training) and the LLM-judge annotation cache
CLASSIFIER_CARD = "classifier.json"
CLASSIFIER_REPORT = "report.json"
CLASSIFIER_HELDOUT = "heldout.parquet"
ANNOTATION_CACHE = "cache.jsonl"

# --- mixer artefacts (`curation inventory`, `curation mix`, `curation pack`)
INVENTORY_FILE = "inventory.parquet"
MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
SUMMARY_FILE = "summary.txt"
PACK_INFO_FILE = "pack.json"
PACK_FORMAT_VERSION = 1
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
