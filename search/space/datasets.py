"""The classification sets bundled with scikit-learn, and the one fixed way to split them.

Spaces and baselines share these functions, so a space's trials and the baselines it is
compared with see exactly the same rows. The split is fixed, independent of ``--seed``:
stratified 5-fold (``StratifiedKFold(5, shuffle=True, random_state=0)``); fold ``k``
holds out its fifth for validation and trains on the other four. Fold 0 is a space's
default validation split; cross-validation uses all five. Features are standardised
with the mean and standard deviation of the training part only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search.errors import UsageError

DATASETS = ("digits", "iris", "wine", "breast_cancer")
N_FOLDS = 5
FOLDS = tuple(range(N_FOLDS))
SPLIT_SEED = 0


@lru_cache(maxsize=None)
def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a bundled set: float64 features (samples, features), int labels."""
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    if name not in loaders:
        raise UsageError(f"Unknown dataset {name!r}; accepted: {', '.join(DATASETS)}.")
    bunch = loaders[name]()
    x, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


@lru_cache(maxsize=None)
def fold_indices(name: str, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(train_rows, validation_rows)`` of fold ``fold`` of the fixed stratified 5-fold split."""
    from sklearn.model_selection import StratifiedKFold

    if fold not in FOLDS:
        raise UsageError(f"Invalid fold {fold!r}; accepted: {', '.join(map(str, FOLDS))}.")
    x, y = load(name)
    splits = StratifiedKFold(N_FOLDS, shuffle=True, random_state=SPLIT_SEED).split(x, y)
    train, val = list(splits)[fold]
    return train, val


def standardize(x_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Centres and scales every array with the training part's statistics (constant features stay 0)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (x_train, *others)]


def split(name: str, fold: int = 0, scaled: bool = True):
    """``((x_train, y_train), (x_val, y_val))`` of ``fold``; standardised on the training part if ``scaled``."""
    x, y = load(name)
    train, val = fold_indices(name, fold)
    x_train, x_val = x[train], x[val]
    if scaled:
        x_train, x_val = standardize(x_train, x_val)
    return (x_train, y[train]), (x_val, y[val])


def num_classes(name: str) -> int:
    return int(load(name)[1].max()) + 1


__all__ = ["DATASETS", "FOLDS", "N_FOLDS", "SPLIT_SEED", "fold_indices", "load", "num_classes", "split", "standardize"]
