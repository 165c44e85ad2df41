"""Continued pretraining on packed mixtures (`curation train`).

Python API::

    from curation.train.run import Train                  # Train.call(**config) -> stats.json dict (["summary"])
    from curation.train.evaluate import bits_per_byte     # bits_per_byte(model, tokenizer, texts_or_paths, ...)
    from curation.train.config import TINY_LLAMA          # config keys of a 2-layer, hidden-64 Llama (tests, demo)
"""
