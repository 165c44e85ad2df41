"""Document signals and rules: heuristics, bad words, classifiers.

Scores are columns; thresholds are config.
"""
