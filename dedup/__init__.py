"""Deduplication: exact, URL and MinHash LSH near-duplicates across all shards, partitioned on Ray."""
