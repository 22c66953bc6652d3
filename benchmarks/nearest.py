"""The nearest-neighbour baseline of the inversion benchmarks: k-NN over pooled log-STFT features."""

from __future__ import annotations

import numpy as np


def _pool(feats: np.ndarray) -> np.ndarray:
    """(n, frames, bins) log features -> pooled (n, frames/2 * bins/4) vectors for k-NN."""
    n, t, b = feats.shape
    t2, b4 = t // 2, b // 4
    x = feats[:, :t2 * 2, :b4 * 4].reshape(n, t2, 2, b4, 4).mean(axis=(2, 4))
    return x.reshape(n, -1).astype(np.float32)


def nearest_neighbour_scores(train_feats: np.ndarray, train_classes: np.ndarray,
                             test_feats: np.ndarray, n_classes: int, k: int = 16
                             ) -> tuple[np.ndarray, np.ndarray]:
    """k-NN class votes ``(n_test, n_params, n_classes)`` (top-1 neighbour weighted k) and the
    index of each test sound's nearest training sound."""
    a, b = _pool(test_feats), _pool(train_feats)
    k = min(k, len(b) - 1)  # argpartition needs k < the number of training sounds
    b_sq = (b * b).sum(axis=1)
    nearest = np.empty(len(a), np.int64)
    scores = np.zeros((len(a), train_classes.shape[1], n_classes), np.float32)
    rows = np.arange(train_classes.shape[1])
    for i in range(0, len(a), 256):
        d = b_sq[None, :] - 2.0 * a[i:i + 256] @ b.T
        idx = np.argpartition(d, k, axis=1)[:, :k]
        order = np.take_along_axis(d, idx, axis=1).argsort(axis=1)
        idx = np.take_along_axis(idx, order, axis=1)
        nearest[i:i + 256] = idx[:, 0]
        for j, neigh in enumerate(idx):
            for rank, t in enumerate(neigh):
                scores[i + j, rows, train_classes[t]] += float(k) if rank == 0 else 1.0
    return scores, nearest
