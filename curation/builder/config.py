"""`curation build` configuration: every key is also a flag (``--preselect.max-chars``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from curation.core.config import RUNTIME, ParallelConfig, StageConfig, StrictModel
from curation.core.errors import CurationError
from curation.core.io import DEFAULT_CC_BASE_URL
from curation.core.lang import normalise_target
from curation.core.remote import RemoteConfig


class ExtractConfig(StrictModel):
    """trafilatura options (the defaults are trafilatura's own, without comments) and page-size guards."""

    favor_precision: bool = Field(False, description="trafilatura favor_precision.")
    favor_recall: bool = Field(False, description="trafilatura favor_recall.")
    include_comments: bool = Field(False, description="Keep comment sections.")
    include_tables: bool = Field(True, description="Keep tables.")
    deduplicate: bool = Field(False, description="trafilatura's in-document deduplication.")
    timeout_seconds: float = Field(10.0, description="Give up extracting a page after this long.")
    max_html_chars: int = Field(5_000_000, description="Skip pages with more characters of HTML.")
    max_html_depth: int = Field(1000, description="Skip pages nested deeper (parsers slow down sharply).")


# Languages CLD2 may report for a page of the target (close relatives LID systems confuse): a page whose cld2
# record lists one of them is not skipped on cld2's word alone but goes to the quick-text check.
CONFUSABLE_LANGUAGES: dict[str, list[str]] = {
    "es": ["gl", "ca", "pt", "ast", "an"],
    "pt": ["gl", "es"],
    "gl": ["es", "pt"],
    "ca": ["es", "oc"],
    "no": ["nb", "nn", "da", "sv"],
    "nb": ["no", "nn", "da", "sv"],
    "nn": ["no", "nb", "da", "sv"],
    "da": ["no", "nb", "nn", "sv"],
    "sv": ["no", "nb", "nn", "da"],
    "id": ["ms"],
    "ms": ["id"],
    "hr": ["sr", "bs"],
    "sr": ["hr", "bs"],
    "bs": ["hr", "sr"],
    "cs": ["sk"],
    "sk": ["cs"],
    "ru": ["uk", "be", "bg"],
    "uk": ["ru", "be"],
    "be": ["ru", "uk"],
    "bg": ["ru", "mk"],
    "zh": ["ja"],
    "ja": ["zh"],
    "en": ["sco"],
    "de": ["lb"],
    "nl": ["af"],
    "af": ["nl"],
}


class PreselectConfig(StrictModel):
    """Cheap language pre-selection before extraction (on by default, for one or several target languages).

    Permissive by design: a page skips extraction only when every signal points away from every target. In
    order: Common Crawl's ``languages-cld2`` record lists a target -> extract; ``Content-Language`` or
    ``<html lang>`` names one -> extract; a reliable cld2 record that saw enough text and lists only languages
    unrelated to the targets -> skip (the page is never decoded); anything else (no record, no language,
    unreliable, little text, a confusable language) -> the quick-text check: fastText on a fast plain-text
    rendering, a target among its top guesses passes.
    """

    enabled: bool = Field(
        True, description="Skip extraction of pages no cheap signal places in a target language."
    )
    cld2: bool = Field(
        True, description="Use Common Crawl's languages-cld2 record: it passes or skips most pages unparsed."
    )
    cld2_min_text_bytes: int = Field(
        1000, description="A cld2 record that saw less text than this never skips a page alone."
    )
    confusable: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in CONFUSABLE_LANGUAGES.items()},
        description="Per target, languages cld2 may report instead of it: such pages get the quick-text check.",
    )
    trust_markup: bool = Field(
        True, description="<html lang> or Content-Language naming the target pass a page."
    )
    max_chars: int = Field(1500, description="Characters of the quick text rendering given to fastText.")
    lid_top_k: int = Field(5, description="fastText guesses considered on the quick text.")
    min_target_prob: float = Field(0.02, description="Lowest probability of the target among them.")

    @field_validator("confusable", mode="before")
    @classmethod
    def _normalise_codes(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        return {
            normalise_target(str(k)): [normalise_target(str(c)) for c in ([c] if isinstance(c, str) else c)]
            for k, c in v.items()
        }


class IndexConfig(StrictModel):
    """Which records of Common Crawl's columnar index ``--cc-index`` selects (languages: ``--lang``)."""

    fetch_status: list[int] = Field([200], description="HTTP statuses to keep (fetch_status).")
    mime_detected: list[str] = Field(
        ["text/html", "application/xhtml+xml"],
        description="Detected MIME types to keep (content_mime_detected).",
    )
    hosts: list[str] = Field(
        default_factory=list, description="Keep only URLs on these hosts or below them (empty: every host)."
    )
    missing_languages: bool = Field(
        False, description="Also fetch records without index languages (CLD2 found none it trusted)."
    )
    warc_base_url: str | None = Field(None, description="Base URL of warc_filename (default: cc_base_url).")


class PlanConfig(StrictModel):
    """Assumptions of ``--dry-run``'s cost estimate (measured figures; see benchmarks/RESULTS.md)."""

    scan_pages_per_core_second: float = Field(
        195.2,
        description="Pages/s/core of a full scan with pre-selection (build_throughput, bench WARCs, pt).",
    )
    extract_pages_per_core_second: float = Field(
        17.2, description="Pages/s/core when every page is extracted (build_throughput, --no-preselect)."
    )
    pages_per_warc_byte: float = Field(
        40_000 / 1e9, description="HTML pages per WARC byte (Common Crawl: 35-45k pages per ~1 GB WARC)."
    )
    warc_bytes: float = Field(1e9, description="Bytes of a listed WARC whose size is not looked up.")
    lang_share: float = Field(
        0.02, description="Share of pages in the target language(s), for a listing without an index."
    )
    kept_share: float = Field(0.5, description="Share of target-language pages the rules keep.")
    output_bytes_per_doc: float = Field(3000.0, description="Parquet bytes per kept document.")
    probe_files: int = Field(20, description="Listed files whose size is looked up (the rest: their mean).")


class BuildConfig(StageConfig, ParallelConfig):
    """Read WARCs, extract main text, identify language, filter, and write Parquet shards."""

    lang: list[str] = Field(
        min_length=1, description="Target language(s): ISO 639-1/639-3 or BCP-47 codes (pt, por, pt-BR)."
    )
    input: list[str] = Field(
        default_factory=list,
        description="WARC paths, globs, directories, s3:// or https:// URLs, warc.paths.gz listings.",
        json_schema_extra={"short": "-i"},
    )
    cc_index: list[str] = Field(
        default_factory=list,
        description="Common Crawl columnar index Parquet (paths, globs, URLs): fetch only the records it selects.",
    )
    index: IndexConfig = Field(default_factory=IndexConfig)
    split_bytes: int | None = Field(
        None,
        gt=0,
        description="Split gzip WARCs larger than this into byte ranges (record boundaries), one unit each.",
    )
    dry_run: bool = Field(
        False,
        description="Estimate bytes, pages, core-hours and output size; build nothing.",
        json_schema_extra=RUNTIME,
    )
    plan: PlanConfig = Field(default_factory=PlanConfig)
    limit: int | None = Field(None, description="Take at most N files (per listing and overall).")
    cc_base_url: str = Field(DEFAULT_CC_BASE_URL, description="Base URL for warc.paths.gz entries.")
    lid_model: str | None = Field(None, description="fastText LID model path (default: lid.176.ftz).")
    keep_rejected: bool = Field(False, description="Also write dropped target-language docs (rejected/).")
    max_payload_bytes: int = Field(20 * 1024 * 1024, description="Skip larger HTTP payloads unread.")
    shard_max_docs: int = Field(100_000, description="Documents per output shard.")
    max_worker_rss_mb: int | None = Field(4096, description="Peak worker memory reported against this.")
    remote: RemoteConfig = Field(default_factory=RemoteConfig)
    classifier: list[str] = Field(default_factory=list, description="[TASK=]model: add <task>_score columns.")
    badwords: list[str] = Field(default_factory=list, description="Folders of LDNOOBW lists: add badword_*.")
    preselect: PreselectConfig = Field(default_factory=PreselectConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    presets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-language preset overrides: pt.gopher_quality.min_doc_words=100.",
    )

    @field_validator("lang", mode="before")
    @classmethod
    def _split_langs(cls, v: Any) -> Any:
        items = [v] if isinstance(v, str) else v
        if isinstance(items, list):
            codes = [
                normalise_target(code) for item in items for code in str(item).split(",") if code.strip()
            ]
            return list(dict.fromkeys(codes))
        return v

    @field_validator("presets", mode="before")
    @classmethod
    def _preset_langs(cls, v: Any) -> Any:
        return {normalise_target(str(k)): val for k, val in v.items()} if isinstance(v, dict) else v

    @field_validator("input", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_source(self) -> BuildConfig:
        if bool(self.input) == bool(self.cc_index):
            raise CurationError("give either input files or --cc-index, not both or neither")
        return self
