"""`curation report`: one self-contained HTML page with the evidence of a run directory."""
