"""Cluster-pruned exact nearest-neighbour scan over unit vectors (libSQL's in-process copy).

A large scope's rows are grouped by spherical k-means and stored list by list. Each list keeps
its centroid and its angular radius (the widest angle between the centroid and a member), so no
member of a list can be more similar to a query than cos(max(0, angle(query, centroid) - radius))
(the triangle inequality of angles on the sphere). A search scans the most promising lists until
it holds k rows, then every other list whose bound could still beat the k-th similarity, and
nothing else. The answer is the exact top-k, as a full scan would give it; only the work
shrinks, and only as far as the vectors cluster. When the bound leaves too much to probe
(uniformly spread vectors: every bound is close to 1), the caller scans every row instead,
having spent one centroid product to find out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Clusters", "cluster_rows", "pruned_candidates"]

KMEANS_ROUNDS = 8
KMEANS_SAMPLE_PER_LIST = 16
"""k-means runs on a sample of this many rows per list; the bound holds for any centroids,
their quality only decides how much a search can skip."""
BOUND_SLACK = 1e-4
"""A list is skipped only when its bound is this far below the k-th similarity. float32 dot
products of unit vectors are off by at most ~2.3e-5 at 384 dimensions (n * eps32), so a skipped
row can never tie with or beat the cut as the full scan computes it."""
PROBE_MAX_SHARE = 0.3
"""More rows than this share left to probe: pruning is not worth it, scan everything."""
OUTLIER_SHARE = 0.03
"""This share of the rows, those farthest from their centroids, is scanned in full on every
search instead of widening their lists (on the benchmark corpus 0.1 % stray rows were enough to
make every list unskippable)."""
_ASSIGN_BATCH = 8192


@dataclass(frozen=True)
class Clusters:
    """Rows [starts[l], starts[l + 1]) of the matrix form list l; rows from `rows` on are not
    clustered (appended later) and always scanned."""

    centroids: np.ndarray  # (lists, dim) float64, unit length
    starts: np.ndarray  # (lists + 1,) int64
    radius: np.ndarray  # (lists,) float64 angles

    @property
    def rows(self) -> int:
        return int(self.starts[-1])


def _kmeans(sample: np.ndarray, lists: int, rng: np.random.Generator) -> np.ndarray:
    """Spherical k-means centroids (float32, unit length); empty lists are re-seeded."""
    centroids = sample[rng.choice(len(sample), lists, replace=False)].copy()
    for _ in range(KMEANS_ROUNDS):
        labels = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, sample)
        norms = np.linalg.norm(sums, axis=1)
        empty = norms == 0
        if empty.any():
            sums[empty] = sample[rng.choice(len(sample), int(empty.sum()))]
            norms[empty] = np.linalg.norm(sums[empty], axis=1)
        centroids = (sums / norms[:, None]).astype(np.float32)
    return centroids


def cluster_rows(unit: np.ndarray, seed: int = 0) -> tuple[np.ndarray, Clusters]:
    """Group the rows of `unit` (unit-length float32) into about sqrt(n) lists, but for the
    OUTLIER_SHARE farthest from their centroids.

    Returns (order, clusters): `unit[order]` is the matrix the clusters describe, its outliers
    after `clusters.rows`, in the tail. Deterministic
    for a given matrix and seed. About 0.5 s for 100k rows of 384 dimensions on 2 cores.
    """
    n = len(unit)
    lists = max(1, int(np.sqrt(n)))
    rng = np.random.default_rng(seed)
    sample = unit[rng.choice(n, min(n, KMEANS_SAMPLE_PER_LIST * lists), replace=False)]
    centroids32 = _kmeans(sample, lists, rng)
    centroids = centroids32.astype(np.float64)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    labels = np.empty(n, np.int64)
    for at in range(0, n, _ASSIGN_BATCH):
        labels[at : at + _ASSIGN_BATCH] = np.argmax(unit[at : at + _ASSIGN_BATCH] @ centroids32.T, axis=1)
    # each row's cosine to its own centroid in float64: the radius must not be understated
    cosines = np.empty(n, np.float64)
    for at in range(0, n, _ASSIGN_BATCH):
        cosines[at : at + _ASSIGN_BATCH] = np.einsum(
            "ij,ij->i", unit[at : at + _ASSIGN_BATCH].astype(np.float64), centroids[labels[at : at + _ASSIGN_BATCH]]
        )
    # the rows farthest from their centroids go to the always-scanned tail (label `lists`, sorted
    # last): one stray row would otherwise widen its list's radius until the list is never skipped
    outliers = cosines < np.quantile(cosines, OUTLIER_SHARE)
    labels[outliers] = lists
    order = np.argsort(labels, kind="stable")
    lowest = np.ones(lists + 1, np.float64)
    np.minimum.at(lowest, labels, cosines)
    starts = np.zeros(lists + 1, np.int64)
    np.cumsum(np.bincount(labels, minlength=lists + 1)[:lists], out=starts[1:])
    radius = np.arccos(np.clip(lowest[:lists], -1.0, 1.0)) + 1e-6
    return order, Clusters(centroids, starts, radius)


def pruned_candidates(
    unit: np.ndarray, clusters: Clusters, query: np.ndarray, k: int, gone: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, similarities) of a subset of `unit` that holds every row a full scan would rank in
    the top `k` (ties at the cut included); None when the bound leaves too many rows to probe.
    Rows masked by `gone` get similarity -inf: they neither count towards k nor raise the cut."""
    theta = np.arccos(np.clip(clusters.centroids @ query.astype(np.float64), -1.0, 1.0))
    bound = np.cos(np.maximum(theta - clusters.radius, 0.0))
    order = np.argsort(-bound, kind="stable")
    starts = clusters.starts
    rows: list[np.ndarray] = [np.arange(clusters.rows, len(unit))]  # the unclustered tail
    sims: list[np.ndarray] = [unit[clusters.rows :] @ query]
    # k rows from the most promising lists, whatever the tail holds: a tail of unrelated rows
    # would otherwise set a cut so low that no list could be skipped
    held = 0
    probed = 0
    while held < k and probed < len(order):
        first, last = starts[order[probed]], starts[order[probed] + 1]
        rows.append(np.arange(first, last))
        sims.append(unit[first:last] @ query)
        held += int(last - first)
        probed += 1
    found = np.concatenate(sims)
    if gone is not None:
        found[gone[np.concatenate(rows)]] = -np.inf
    if len(found) >= k:
        kth = float(np.partition(found, len(found) - k)[len(found) - k])
        rest = order[probed:]
        rest = rest[bound[rest] >= kth - BOUND_SLACK]
        if held + len(unit) - clusters.rows + int((starts[rest + 1] - starts[rest]).sum()) > PROBE_MAX_SHARE * len(unit):
            return None
        for lst in rest:
            rows.append(np.arange(starts[lst], starts[lst + 1]))
            sims.append(unit[starts[lst] : starts[lst + 1]] @ query)
    rows_out, sims_out = np.concatenate(rows), np.concatenate(sims)
    if gone is not None:
        sims_out[gone[rows_out]] = -np.inf
    return rows_out, sims_out
