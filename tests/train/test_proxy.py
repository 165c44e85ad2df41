"""Proxy presets: the parameter counts the budget rule uses are those of the models `curation train` builds."""

from __future__ import annotations

import pytest

from curation.core.errors import CurationError
from curation.train.proxy import CHINCHILLA_TOKENS_PER_PARAM, PROXIES, proxy


@pytest.mark.parametrize("name", list(PROXIES))
def test_parameter_count_and_budget_rule(name: str) -> None:
    import torch

    from curation.train.model import new_model

    size = proxy(name)
    with torch.device("meta"):  # no memory: 400m would take 1.6 GB
        model = new_model(size.model_config(size.seq_len), 32_000, 0, "sdpa")
    assert sum(p.numel() for p in model.parameters()) == size.params(32_000)
    assert size.tokens(32_000) == int(CHINCHILLA_TOKENS_PER_PARAM * size.params(32_000))
    assert size.hidden_size % size.num_heads == 0 and size.global_batch_tokens % size.seq_len == 0
    nominal = float(name.removesuffix("m")) * 1e6  # the name: non-embedding parameters, within 15%
    assert abs(size.non_embedding_params() - nominal) / nominal < 0.15


def test_unknown_proxy_is_a_user_error() -> None:
    with pytest.raises(CurationError, match="unknown proxy '7b'"):
        proxy("7b")
