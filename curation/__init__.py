"""curation: Common Crawl to a target-language corpus, and continued pretraining on it."""

__version__ = "0.1.0"
