"""Classifier backends: each loads a model as a Scorer and trains one from texts and labels."""
