"""Proxy-model data ablations (`curation ablate`): variants of a mixture trained at equal tokens with the same
proxy model, tokenizer, schedule and seeds, compared on held-out evaluations."""
