"""`curation build`: WARC -> extracted, language-identified, filtered Parquet shards."""
