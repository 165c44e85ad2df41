"""`classifier annotate` against a real chat-completions HTTP server on 127.0.0.1 that answers with the real
LLM-judge labels of the documents, in the varied formats LLMs write, and injects 429/500 errors and answers
without a score; and the answer parser on a fixture of answer formats (``judge_answer_formats.yaml``)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
import yaml

from curation.core.errors import CurationError
from curation.core.schema import ANNOTATION_CACHE, ID, LANG, TEXT, URL
from curation.filters.annotate import LABELLED_FILE, Annotate
from curation.filters.judges import parse_score
from curation.filters.training import ClassifierTrain

API_KEY = "test-key"
TASK_MARKERS = {"edu": "valor educacional", "stem": "CTEM", "toxicity": "ofensiva"}
LABEL_FIELD = {"edu": "edu", "stem": "stem", "toxicity": "toxic"}


FORMATS = yaml.safe_load((Path(__file__).parent / "judge_answer_formats.yaml").read_text(encoding="utf-8"))
# How the test server words a score (the shapes of the fixture, filled with the document's real label) ...
ANSWER_TEMPLATES = (
    "O texto ... coerente.\nPontuação: {s}",
    "The extract is coherent.\nScore (0-5): {s}",
    "Justificativa: ...\n\nPontuação final: {s}",
    "Overall a mixed page.\n\n**{s}**/5",
    '```json\n{{"reasoning": "...", "score": {s}}}\n```',
    "<think>Criterion 1: 1 point. Criterion 2...</think>\nEducational score: {s}",
    "Considering everything, I would give this extract a score of {s}.",
)
# ... and answers that hold no score: they must be counted, and stored as null, not 0
NO_SCORE = [f["answer"] for f in FORMATS if f["score"] is None and f["answer"]]


def fault(text: str) -> str | None:
    """Which fault a document triggers (deterministic from its text)."""
    bucket = int(hashlib.md5(text.encode()).hexdigest(), 16) % 10
    return {0: "429", 1: "500", 2: "malformed", 3: "bad_json"}.get(bucket)


def _pick(text: str, task: str, options: list | tuple) -> str:
    return options[int(hashlib.md5(f"{task}{text}".encode()).hexdigest(), 16) % len(options)]


class JudgeServer:
    """A threading HTTP server speaking POST /v1/chat/completions."""

    def __init__(self, labels: dict[str, dict], max_doc_chars: int) -> None:
        self.labels = labels
        self.max_doc_chars = max_doc_chars
        self.calls: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    return self._send(401, b'{"error": "bad key"}')
                status, payload = server.answer(body["messages"][0]["content"])
                self._send(status, payload, {"Retry-After": "0"} if status == 429 else {})

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, prompt: str) -> tuple[int, bytes]:
        document = prompt.split("<documento>\n", 1)[1].split("\n</documento>", 1)[0]
        task = next(t for t, marker in TASK_MARKERS.items() if marker in prompt)
        with self.lock:
            n = self.calls[(document, task)] = self.calls.get((document, task), 0) + 1
        kind = fault(document)
        if kind in ("429", "500") and n == 1:
            return int(kind), b'{"error": "try again"}'
        if kind == "bad_json":
            return 200, b"not json"
        label = self.labels[document][LABEL_FIELD[task]]
        if kind == "malformed":
            content = _pick(document, task, NO_SCORE)
        else:
            content = _pick(document, task, ANSWER_TEMPLATES).format(s=label)
        return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


@pytest.fixture()
def server(labels_path):
    records = pl.read_ndjson(labels_path).to_dicts()
    srv = JudgeServer({r["text"][:4000]: r for r in records}, 4000)
    yield srv
    srv.httpd.shutdown()


def annotate(**config) -> dict:
    """Run `classifier annotate` in-process; returns its summary."""
    return Annotate.call(**config)["summary"]


def _config(server, shards_dir, out, **kw) -> dict:
    base = {
        "input": [str(shards_dir)],
        "output": str(out),
        "tasks": ["edu", "stem"],
        "sample_docs": 100,
        "base_url": server.url,
        "model": "judge-test",
        "api_key_env": "CURATION_TEST_KEY",
        "concurrency": 4,
        "backoff_seconds": 0.01,
        "max_doc_chars": 4000,
    }
    return {**base, **kw}


@pytest.mark.parametrize("case", FORMATS, ids=[f["format"] for f in FORMATS])
def test_parse_score_reads_the_formats_llms_write(case):
    assert parse_score(case["answer"]) == case["score"]


def test_answer_fixture_covers_the_issue_formats():
    answers = {f["answer"].splitlines()[-1] if f["answer"] else "" for f in FORMATS}
    for required in ("Score (0-5): 3", "Pontuação final: 4", "**2**/5", '{"score": 3}', "Score: 0"):
        assert any(required in a for a in answers), required
    assert len(NO_SCORE) >= 8 and sum(f["score"] is not None for f in FORMATS) >= 40


def test_annotate_retries_counts_failures_and_resumes(tmp_path, server, shards_dir, labels_path, monkeypatch):
    monkeypatch.setenv("CURATION_TEST_KEY", API_KEY)
    out = tmp_path / "ann"
    summary = annotate(**_config(server, shards_dir, out))
    assert summary["judge"] == "judge-test" and summary["docs"] == 100
    assert summary["labelled"] == str(out / LABELLED_FILE)
    labelled = pl.read_parquet(out / LABELLED_FILE)
    truth = {r["doc_id"]: r for r in pl.read_ndjson(labels_path).to_dicts()}
    assert labelled.height == 100 and set(labelled.columns) == {ID, TEXT, LANG, URL, "edu", "stem"}
    all_langs = set(pl.read_ndjson(labels_path)[LANG].to_list())
    assert set(labelled[LANG].to_list()) == all_langs  # stratified: every language drawn
    faults = [fault(t[:4000]) for t in labelled[TEXT].to_list()]
    assert {"429", "500", "malformed", "bad_json"} <= set(faults)
    assert summary["retries"] == 2 * sum(f in ("429", "500") for f in faults)
    unreadable = sum(f in ("malformed", "bad_json") for f in faults)
    assert summary["parse_failures"] == 2 * unreadable
    assert summary["parse_failures_by_task"] == {"edu": unreadable, "stem": unreadable}
    shown = summary["unparsed_examples"]
    assert len(shown) == 3 and all(e["answer_end"] in ["", *NO_SCORE] for e in shown)
    assert summary["requests_failed"] == 0 and summary["asked"] == 200
    for row, kind in zip(labelled.iter_rows(named=True), faults, strict=True):
        if kind in ("malformed", "bad_json"):
            assert row["edu"] is None and row["stem"] is None
        else:
            assert (row["edu"], row["stem"]) == (truth[row[ID]]["edu"], truth[row[ID]]["stem"])

    # a second run asks nothing: everything is in the cache
    calls = sum(server.calls.values())
    assert annotate(**_config(server, shards_dir, out))["asked"] == 0 and sum(server.calls.values()) == calls

    # a killed run: 50 cache lines survived plus a torn one; the rerun asks only the rest
    cache = out / ANNOTATION_CACHE
    lines = cache.read_text().splitlines()
    cache.write_text("\n".join(lines[:50]) + '\n{"key": "torn')
    assert annotate(**_config(server, shards_dir, out))["asked"] == 150
    assert pl.read_parquet(out / LABELLED_FILE).equals(labelled)

    # the output is what `classifier train` accepts, and it holds out by site
    report = ClassifierTrain.call(
        task="edu", data=str(out / LABELLED_FILE), label_column="edu", output=str(tmp_path / "model")
    )["summary"]
    assert report["train_rows"] + report["test_rows"] == labelled["edu"].drop_nulls().len()
    assert report["split"]["split"] == "site"


def test_exhausted_retries_are_counted_and_redone_on_resume(tmp_path, server, shards_dir, monkeypatch):
    monkeypatch.setenv("CURATION_TEST_KEY", API_KEY)
    out = tmp_path / "ann"
    summary = annotate(**_config(server, shards_dir, out, sample_docs=40, tasks=["toxicity"], max_retries=0))
    texts = pl.read_parquet(out / LABELLED_FILE)[TEXT].to_list()
    transient = sum(fault(t[:4000]) in ("429", "500") for t in texts)
    assert transient > 0 and summary["requests_failed"] == transient and summary["retries"] == 0
    assert (
        annotate(**_config(server, shards_dir, out, sample_docs=40, tasks=["toxicity"]))["asked"] == transient
    )


def test_bad_api_key_is_a_user_error(tmp_path, server, shards_dir, monkeypatch):
    monkeypatch.setenv("CURATION_TEST_KEY", "wrong")
    with pytest.raises(CurationError, match="401"):
        annotate(**_config(server, shards_dir, tmp_path, sample_docs=3, concurrency=1))


def test_local_causal_lm_judge_runs_and_counts_failures(tmp_path, tiny_llama_dir, shards_dir):
    """A random causal LM judges 3 documents: every answer is cached, parsed like an API answer, and one without
    a score is counted and left null, never 0."""
    summary = annotate(
        input=[str(shards_dir)],
        output=str(tmp_path),
        tasks=["edu"],
        sample_docs=3,
        judge_model=str(tiny_llama_dir),
        max_doc_chars=300,
        stratify_column="source",
    )
    assert summary["asked"] == 3 and summary["judge"] == tiny_llama_dir.name
    entries = [json.loads(line) for line in (tmp_path / ANNOTATION_CACHE).read_text().splitlines()]
    assert len(entries) == 3 and all(
        e["judge"] == tiny_llama_dir.name and e["answer"].strip() for e in entries
    )
    assert all(e["score"] == parse_score(e["answer"]) for e in entries)
    failed = [e for e in entries if e["score"] is None]
    assert summary["parse_failures"] == len(failed) == summary["parse_failures_by_task"]["edu"]
    assert summary["scored"]["edu"] == 3 - len(failed)
    labelled = pl.read_parquet(tmp_path / LABELLED_FILE)
    by_id = {e["doc_id"]: e["score"] for e in entries}
    assert labelled.height == 3 and labelled["edu"].to_list() == [by_id[i] for i in labelled[ID].to_list()]
    assert [e["answer_end"] for e in summary["unparsed_examples"]] == [e["answer"][-200:] for e in failed][:3]
