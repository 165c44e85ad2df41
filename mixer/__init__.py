"""Mixer: inventory, mixture specs and manifests, packed token shards, and the PyTorch dataset over them."""
