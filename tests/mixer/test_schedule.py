import numpy as np
import pytest

from curation.mixer.schedule import interleave, largest_remainder, repetition_order


def test_largest_remainder_sums_exactly_and_stays_within_one_unit():
    rng = np.random.default_rng(0)
    for _ in range(200):
        w = rng.random(rng.integers(1, 7))
        total = int(rng.integers(0, 10_000))
        parts = largest_remainder(total, w)
        assert sum(parts) == total
        assert np.all(np.abs(np.array(parts) - total * w / w.sum()) < 1)
    assert largest_remainder(10, [0.55, 0.2, 0.25]) == [6, 2, 2]
    assert largest_remainder(5, [1, 0, 1]) == [3, 0, 2]


def _deviations(order: np.ndarray, counts: list[int], window: int) -> tuple[float, float]:
    total = sum(counts)
    worst_prefix = worst_window = 0.0
    for s, n in enumerate(counts):
        prefix = np.concatenate(([0], np.cumsum(order == s)))
        worst_prefix = max(worst_prefix, np.abs(prefix - np.arange(total + 1) * n / total).max())
        for w in range(1, min(window, total) + 1):
            got = prefix[w:] - prefix[:-w]
            worst_window = max(worst_window, np.abs(got - w * n / total).max())
    return worst_prefix, worst_window


@pytest.mark.parametrize("k", [2, 3, 5])
def test_interleave_keeps_every_prefix_within_one_sequence(k):
    rng = np.random.default_rng(k)
    for _ in range(40):
        counts = [int(c) for c in rng.integers(1, 400, size=k)]
        order = interleave(counts)
        assert np.bincount(order, minlength=k).tolist() == counts
        prefix, window = _deviations(order, counts, window=64)
        assert prefix <= 1 - 1 / (2 * k - 2) + 1e-9  # Tijdeman's bound: < 1 sequence per source
        assert window < (1 if k == 2 else 2)


def test_repetition_order_hits_the_target_and_respects_caps():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 400, size=300)
    for target in (1, 777, int(lengths.sum()), int(2.5 * lengths.sum())):
        order, taken = repetition_order(lengths, np.ones(300), target, 3.0, np.random.default_rng(1))
        assert taken.sum() == target
        assert np.all(taken[:-1] == lengths[order[:-1]]) and 0 < taken[-1] <= lengths[order[-1]]
        assert np.bincount(order, minlength=300).max() <= 3
    order, _ = repetition_order(lengths, np.ones(300), int(lengths.sum()), 3.0, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(300))  # exactly one epoch: every document once


def test_upweighting_repeats_heavy_documents_more_but_never_past_the_cap():
    rng = np.random.default_rng(0)
    lengths = rng.integers(50, 200, size=400)
    weights = np.where(np.arange(400) < 40, 10.0, 1.0)
    order, taken = repetition_order(lengths, weights, int(1.5 * lengths.sum()), 4.0, np.random.default_rng(2))
    reps = np.bincount(order, minlength=400)
    assert taken.sum() == int(1.5 * lengths.sum())
    assert reps.max() <= 4 and reps[:40].mean() > 3.5 and reps[40:].mean() < 1.5
