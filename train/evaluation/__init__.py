"""Evaluation of a checkpoint: held-out bits per byte and offline early-signal tasks (`curation evalsets`,
`curation eval`), on held-out parts of the sample data that no training run reads (``heldout``)."""
