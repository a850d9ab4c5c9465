"""Choosing prototypes and initial widths for :class:`KernelDistance` (numpy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _labels(y) -> tuple[np.ndarray, int]:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)  # one-hot
    y = y.reshape(-1)
    _, codes = np.unique(y, return_inverse=True)
    return codes, int(codes.max()) + 1


def _class_means(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return rows.mean(axis=0, keepdims=True)


def _random(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return rows[rng.choice(len(rows), size=k, replace=False)]


def _kmeans(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    from sklearn.cluster import KMeans

    seed = int(rng.integers(2**31 - 1))
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit(rows).cluster_centers_


def _all(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return rows


_METHODS: dict[str, Callable] = {
    "class_means": _class_means,
    "random": _random,
    "kmeans": _kmeans,
    "all": _all,
}


def select_prototypes(x, y, method: str = "class_means", per_class: int = 1,
                      seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """Picks prototype rows for each class of a training set.

    Args:
        x: Training inputs, shape (samples, features).
        y: Class labels, shape (samples,), or one-hot (samples, classes). Class ids
            in the result are positions in ``np.unique(y)``.
        method: ``"class_means"`` (one mean per class), ``"random"`` (``per_class``
            rows per class without replacement), ``"kmeans"`` (``per_class`` k-means
            centres per class), or ``"all"`` (every row).
        per_class: Prototypes per class for ``"random"`` and ``"kmeans"``.
        seed: Seed of the random choice and of k-means.

    Returns:
        ``(prototypes, prototype_classes)``: a float64 array (m, features) and a list
        of m class ids, ready for ``KernelDistance(prototypes, prototype_classes=...)``.
    """
    if method not in _METHODS:
        raise ValueError(
            f"Expected `method` to be one of {tuple(_METHODS)}. Received: method={method!r}"
        )
    x = np.asarray(x, dtype=np.float64)
    codes, num_classes = _labels(y)
    if x.ndim != 2 or len(x) != len(codes):
        raise ValueError(
            "Expected `x` of shape (samples, features) and one label per sample. "
            f"Received: x.shape={x.shape}, {len(codes)} labels"
        )
    counts = np.bincount(codes, minlength=num_classes)
    if isinstance(per_class, bool) or not isinstance(per_class, int) or not (
        1 <= per_class <= (counts.min() if method in ("random", "kmeans") else per_class)
    ):
        raise ValueError(
            "Expected `per_class` to be an integer from 1 to the smallest class size "
            f"({counts.min()}). Received: per_class={per_class!r}"
        )
    rng = np.random.default_rng(seed)
    prototypes, classes = [], []
    for c in range(num_classes):
        chosen = _METHODS[method](x[codes == c], per_class, rng)
        prototypes.append(chosen)
        classes.extend([c] * len(chosen))
    return np.concatenate(prototypes), classes


def initial_width(x, method: str = "scale", multiplier: float = 1.0,
                  per_feature: bool = False, max_rows: int = 1000, seed: int = 0):
    """Returns an initial kernel width ``c`` (``γ = 1/c``) from training inputs.

    Args:
        x: Training inputs, shape (samples, features).
        method: ``"scale"``: ``c = n_features·var(x)``, i.e. scikit-learn's
            ``gamma="scale"``; ``"median"``: the median pairwise squared distance
            (the median heuristic), on at most ``max_rows`` random rows.
        multiplier: Factor applied to the width (a searched hyperparameter).
        per_feature: If True, one width per feature (for the per-feature kernels),
            from that feature alone: ``var(x_i)`` or the median of ``(x_i − x_j)²``.
        max_rows: Row subsample for ``"median"``.
        seed: Seed of that subsample.

    Returns:
        A float, or a list of floats if ``per_feature``.
    """
    x = np.asarray(x, dtype=np.float64)
    if method == "scale":
        width = x.var(axis=0) if per_feature else x.shape[1] * x.var()
    elif method == "median":
        from scipy.spatial.distance import pdist

        rows = x[np.random.default_rng(seed).permutation(len(x))[:max_rows]]
        if per_feature:
            width = [
                np.median(pdist(rows[:, [i]], "sqeuclidean")) for i in range(x.shape[1])
            ]
        else:
            width = np.median(pdist(rows, "sqeuclidean"))
    else:
        raise ValueError(
            "Expected `method` to be one of ('scale', 'median'). "
            f"Received: method={method!r}"
        )
    width = multiplier * np.asarray(width)
    if not np.all(width > 0):
        raise ValueError(
            f"The {method!r} width is not positive (a constant feature?). "
            f"Received: multiplier={multiplier!r}, width={width.tolist()}"
        )
    return width.tolist() if per_feature else float(width)
