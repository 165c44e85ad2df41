"""LLM judges for annotation: an OpenAI-compatible chat-completions client and a local transformers causal LM.

Both expose ``name`` and ``complete(prompt) -> str``; ``parse_score`` reads the 0-5 score from the answer
(``Pontuação: 3``, ``Score: 3``...; the last such line wins) and returns ``None`` for a malformed answer.
"""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path
from typing import Any

from curation.core.errors import CurationError

_SCORE = re.compile(r"(?:pontua[çc][ãa]o|score|puntuaci[óo]n|note|punteggio|bewertung)\W{0,5}([0-5])\b", re.I)
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


def parse_score(answer: str) -> int | None:
    """The last ``<word for score>: N`` (N in 0-5) in ``answer``, else None."""
    matches = _SCORE.findall(answer or "")
    return int(matches[-1]) if matches else None


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
