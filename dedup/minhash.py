"""MinHash signatures (vectorised numpy), LSH band keys, and the bands/rows choice for a Jaccard threshold."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from curation.dedup.shingles import Shingles, mix64

EMPTY = np.uint32(0xFFFFFFFF)
DEFAULT_CHUNK_SHINGLES = 1 << 15


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising ``fp_weight*FP + (1-fp_weight)*FN``.

    FP is the area under the S-curve ``1-(1-s^r)^b`` below the threshold, FN the area above it of the
    miss probability (the same criterion as datasketch's ``MinHashLSH``). Both integrands are polynomials
    of degree ``b*r <= num_perm``, so Gauss-Legendre quadrature with ``num_perm/2 + 1`` nodes is exact;
    all candidates are scored at once.
    """
    b, r = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]).T
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def miss_area(lo: float, hi: float) -> np.ndarray:
        s = (hi - lo) / 2 * nodes + (hi + lo) / 2
        return (hi - lo) / 2 * ((1 - s[None, :] ** r[:, None]) ** b[:, None] @ weights)

    fp = threshold - miss_area(0.0, threshold)
    fn = miss_area(threshold, 1.0)
    best = int(np.argmin(fp_weight * fp + (1 - fp_weight) * fn))  # the first of equals, as a loop would
    return int(b[best]), int(r[best])


class MinHasher:
    """``num_perm`` hash functions ``h -> (a*h + b) mod 2^64 >> 32`` (multiply-shift), applied as one
    ``(num_perm x n_shingles)`` numpy operation per chunk of documents."""

    def __init__(self, num_perm: int = 128, seed: int = 1, chunk_shingles: int = DEFAULT_CHUNK_SHINGLES):
        rng = np.random.default_rng(seed)
        self.num_perm = num_perm
        self.a = (rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.chunk_shingles = chunk_shingles

    def signatures(self, shingles: Shingles) -> np.ndarray:
        """(n_docs, num_perm) uint32 signatures; a document without shingles gets all ``EMPTY``."""
        counts = shingles.counts
        out = np.full((len(counts), self.num_perm), EMPTY, dtype=np.uint32)
        ends = np.cumsum(counts)
        starts = ends - counts
        doc = 0
        while doc < len(counts):
            stop = max(doc + 1, int(np.searchsorted(ends, starts[doc] + self.chunk_shingles, side="right")))
            self._chunk(shingles.hashes, starts[doc:stop], counts[doc:stop], out[doc:stop])
            doc = stop
        return out

    def _chunk(self, hashes: np.ndarray, starts: np.ndarray, counts: np.ndarray, out: np.ndarray) -> None:
        nonempty = counts > 0
        if not nonempty.any():
            return
        lo = int(starts[nonempty][0])
        hi = int(starts[-1] + counts[-1])
        h = hashes[lo:hi]
        values = ((self.a[:, None] * h[None, :] + self.b[:, None]) >> np.uint64(32)).astype(np.uint32)
        out[nonempty] = np.minimum.reduceat(values, starts[nonempty] - lo, axis=1).T


def band_keys(signatures: np.ndarray, bands: int, rows: int, seed: int = 1) -> np.ndarray:
    """(n_docs, bands) uint64 keys: each band's ``rows`` values hashed together with the band index."""
    n = len(signatures)
    rng = np.random.default_rng(seed + 7919)
    coef = rng.integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    band_salt = rng.integers(0, 2**63, size=bands, dtype=np.uint64)
    grid = signatures[:, : bands * rows].astype(np.uint64).reshape(n, bands, rows)
    acc = np.broadcast_to(band_salt, (n, bands)).copy()
    for j in range(rows):
        acc = mix64(acc * np.uint64(31) + grid[:, :, j] * coef[j])
    return acc
