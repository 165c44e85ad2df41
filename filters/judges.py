"""LLM judges for annotation: an OpenAI-compatible chat-completions client and a local transformers causal LM.

Both expose ``name`` and ``complete(prompt) -> str``; ``parse_score`` reads the 0-5 score from the answer in
the formats LLMs write (JSON, ``Score: 3``, ``Score (0-5): 3``, ``Pontuação final: 4``, ``**3**/5``, a score
after the reasoning...) in the languages of the prompts, and returns ``None`` when there is no unambiguous 0-5
integer: such answers are counted as parse failures, never read as 0.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

from curation.core.errors import CurationError

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})

# Words that name the score, in the prompt languages (en, pt, es, fr, de, it, nl, pl, ru, zh, ja, ko).
_SCORE_WORDS = (
    r"score|rating|grade|points?|total|answer|result"
    r"|pontua[çc][ãa]o|nota|pontos|avalia[çc][ãa]o|resultado"
    r"|puntuaci[óo]n|puntaje|calificaci[óo]n|valoraci[óo]n|puntos"
    r"|note|[ée]valuation|bewertung|(?:gesamt)?punktzahl|punkte|wertung|ergebnis"
    r"|punteggio|voto|valutazione|punti|beoordeling|punten|wynik|ocena|punkty"
    r"|оценка|балл(?:ы|ов)?|итог"
)
_CJK_SCORE_WORDS = r"评分|得分|分数|總分|总分|スコア|点数|評価|得点|점수|평가"
_POINTS = r"points?|pts?\.?|pontos?|puntos?|punti|punkte?|punten|punkty|балл(?:а|ов)?|分|点|점"
_OUT_OF_5 = r"\(?\s*(?:/|out of|of|de|sobre|sur|von|su|из|op)\s*5\s*\)?"
_NUMBER = r"[<\[]?\s*(?<![\d.])([0-5])(?![\d]|[.,]\d)\s*[>\])]?"
_TAIL = rf"(?:\s*{_OUT_OF_5})?(?:\s*(?:{_POINTS}))?"
_END = (
    r"(?=[ \t]*(?:$|\n|[.,;!?)\]}。，！；]|\s[-–—]\s(?!\d)|\((?!\d)"
    r"|\b(?:because|since|as|porque|pois|pues|car|weil|perché|так как)\b))"
)
_SEP = r"(?:[:=]|->|=>|→|[-–—]|\b(?:is|of|was|equals|é|de|es|est|ist|è|wynosi|составляет)\b|为|為|是|は)"
_LABELLED = re.compile(
    rf"(?:\b(?:{_SCORE_WORDS})|{_CJK_SCORE_WORDS})[\"'“”]?(?:\s*\([^()\n]{{0,30}}\))?"
    rf"(?:(?:[ \t]+[^\W\d_]{{1,20}}){{0,4}}?\s*{_SEP}|)\s*{_NUMBER}{_TAIL}{_END}",
    re.IGNORECASE | re.MULTILINE,
)
_FRACTION = re.compile(rf"(?<![\d.])([0-5])\s*{_OUT_OF_5}(?![\d./])", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{\s*([0-5])\s*\}")
_LAST_LINE_BARE = re.compile(rf"^\W*([0-5])\W*$|\b([0-5])\s*(?:{_POINTS})\W*$", re.IGNORECASE)
_THINKING = re.compile(r"<think(?:ing)?>.*?(?:</think(?:ing)?>|\Z)", re.DOTALL | re.IGNORECASE)
_MARKUP = re.compile(r"[*`#]+")
_JSON_EXCLUDE = re.compile(r"max|min|scale|range|possible|out_of|reason|justif|explan|criteri", re.IGNORECASE)
_JSON_KEY = re.compile(rf"{_SCORE_WORDS}|{_CJK_SCORE_WORDS}", re.IGNORECASE)


def _score_value(value: Any) -> int | None:
    """A JSON value as a 0-5 integer score: 3, 3.0, "3" or "3/5"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer() and 0 <= value <= 5:
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(rf"\s*([0-5])\s*(?:{_OUT_OF_5})?\s*", value, re.IGNORECASE)
        return int(match.group(1)) if match else None
    return None


def _json_items(obj: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs of every object nested in ``obj``, in document order."""
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            items += [(str(key), value), *_json_items(value)]
        return items
    if isinstance(obj, list):
        return [item for value in obj for item in _json_items(value)]
    return []


def _json_score(answer: str) -> int | None:
    """The score field of the last JSON object in ``answer`` that has one (a key naming a score, 0-5)."""
    decoder = json.JSONDecoder()
    found = None
    start = answer.find("{")
    while start != -1:
        try:
            obj, end = decoder.raw_decode(answer, start)
        except ValueError:
            start = answer.find("{", start + 1)
            continue
        scores = [
            (key, _score_value(value))
            for key, value in _json_items(obj)
            if _JSON_KEY.search(key) and not _JSON_EXCLUDE.search(key)
        ]
        scores = [(key, v) for key, v in scores if v is not None]
        final = [v for key, v in scores if re.search(r"final|total|overall", key, re.IGNORECASE)]
        if final or scores:
            found = (final or [v for _, v in scores])[-1]
        start = answer.find("{", end)
    return found


def parse_score(answer: str | None) -> int | None:
    """The 0-5 integer score in a judge's answer, else None (never 0 for "no score").

    In order: a JSON object's score field; ``\\boxed{N}``; the last labelled score (``Score: 3``,
    ``Score (0-5): 3``, ``Pontuação final: 4``, ``a score of 3.``, ``评分：3分``...); the last ``N/5`` or
    ``N out of 5``; the last line being only a score (``3``, ``**3**``) or ending in ``N points``. Reasoning
    inside ``<think>`` blocks is skipped. A decimal (3.5), a range (2-3) or a number above 5 is no score.
    """
    text = unicodedata.normalize("NFKC", answer or "")
    text = _THINKING.sub(" ", text)
    json_score = _json_score(text)
    if json_score is not None:
        return json_score
    text = _MARKUP.sub("", text)
    for pattern in (_BOXED, _LABELLED, _FRACTION):
        matches = pattern.findall(text)
        if matches:
            return int(matches[-1])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    match = _LAST_LINE_BARE.search(lines[-1]) if lines else None
    return int(match.group(1) or match.group(2)) if match else None


class RequestFailed(Exception):
    """A request still failing after every retry (counted, not fatal: the item is retried on resume)."""


class ChatClient:
    """POST ``{base_url}/chat/completions``; retries with exponential back-off on 429/5xx and I/O errors."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 60.0,
        max_answer_tokens: int = 512,
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.name = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.max_answer_tokens = max_answer_tokens
        self.client = httpx.Client(headers=headers, timeout=timeout_seconds)
        self.retries = 0
        self._lock = threading.Lock()

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_seconds * (2**attempt) * (1 + 0.25 * random.random())
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = max(delay, float(retry_after))
        time.sleep(delay)

    def complete(self, prompt: str) -> str:
        import httpx

        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_answer_tokens,
            "messages": [{"role": "user", "content": prompt}],
        }
        last = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                response = self.client.post(self.url, json=body)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()["choices"][0]["message"]["content"] or ""
                    except (ValueError, KeyError, IndexError, TypeError):
                        return ""  # a malformed body is a parse failure, not a transport failure
                if response.status_code in (401, 403, 404):
                    raise CurationError(
                        f"judge endpoint {self.url} answered {response.status_code}: "
                        "check base_url, model and the API key variable"
                    )
                if response.status_code not in RETRY_STATUS:
                    raise RequestFailed(f"HTTP {response.status_code}")
                last = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after")
            if attempt < self.max_retries:
                with self._lock:
                    self.retries += 1
                self._wait(attempt, retry_after)
        raise RequestFailed(last)


class LocalJudge:
    """A local causal LM (transformers) answering the same prompts with greedy decoding."""

    def __init__(self, path: str, max_answer_tokens: int = 64, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not Path(path).is_dir():
            raise CurationError(f"judge model directory not found: {path}")
        self.name = Path(path).name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.max_answer_tokens = max_answer_tokens
        self.retries = 0

    def _inputs(self, prompt: str) -> Any:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}],
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
        return self.tokenizer(prompt, return_tensors="pt")

    def complete(self, prompt: str) -> str:
        import torch

        inputs = self._inputs(prompt).to(self.device)
        limit = getattr(self.model.config, "max_position_embeddings", 4096) - self.max_answer_tokens
        inputs = {k: v[:, -limit:] for k, v in inputs.items()}
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_answer_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
