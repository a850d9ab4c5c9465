"""Seeds 003/004: class scores from kernels over prototypes (KernelDistance), on a scikit-learn set.

``--set dataset=digits|iris|wine|breast_cancer`` (scikit-learn's bundled copies). The
split is fixed (:mod:`search.space.datasets`): stratified 5-fold with ``random_state=0``; the
study trains on four fifths and validates on fold ``--set fold=0`` (the default), with
features standardised on the training part only. ``search baseline prototype_rbf --cv``
repeats the comparison on all five folds.

Searched: the kernel f (the seed's ``exp((x − p)/c)``, per-feature Gaussian, Laplacian,
isotropic RBF), how prototypes are chosen (class means, k-means or random rows, k per
class, or every training row) and whether they train, the width's initial rule
(scikit-learn's ``scale`` or the median heuristic), its multiplier and whether it trains,
how prototype scores become class logits (log-sum-exp per class, or a dense layer over
the scores, the classic RBF network), decoupled weight decay (an L2 pull on the
coefficients and dense weights; prototypes and widths are excluded), the optimizer and
its learning rate, and the batch size. Objective: ``val_accuracy``.

The prototypes come from the training part of the same fold, read through the
``dataset`` and ``fold`` settings (``build`` calls the cached :func:`training_split`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from search.space import datasets, fit_arrays

OBJECTIVE = ("val_accuracy", "max")
EPOCHS = 30
SETTINGS = {"dataset": list(datasets.DATASETS), "fold": list(datasets.FOLDS)}

KERNELS = ("rbf", "gaussian", "laplacian", "exp")
PER_FEATURE = ("gaussian", "laplacian", "exp")
PROTOTYPES = ("class_means", "kmeans", "random", "all")
PER_CLASS = (1, 2, 4, 8, 16)
AGGREGATIONS = ("logsumexp", "dense")
OPTIMIZERS = ("adam", "sgd_momentum", "rmsprop")
# What a new study runs first: a per-feature Gaussian kernel, the kind of trial that scored best on every
# dataset (spaces/README.md), over 16 trainable k-means prototypes per class (as accurate on digits as all
# training rows, and several times faster).
SUGGESTED = [
    {"kernel": "gaussian", "prototypes": "kmeans", "per_class": 16, "trainable_prototypes": True,
     "width_init": "scale", "width_multiplier": 1.0, "trainable_width": True, "aggregation": "logsumexp",
     "weight_decay": 1e-4, "optimizer": "adam", "learning_rate": 0.01, "batch_size": 32},
]


@lru_cache(maxsize=None)
def training_split(dataset: str, fold: int):
    """The standardised ``((x_train, y_train), (x_val, y_val))`` of the fixed split, float32."""
    (x, y), (x_val, y_val) = datasets.split(dataset, fold)
    return (x.astype("float32"), y), (x_val.astype("float32"), y_val)


def load_data(seed: int, dataset: str = "digits", fold: int = 0):
    # The split is fixed (the seed seeds training only), so every study and baseline shares it.
    return training_split(dataset, fold)


def _prototypes(hp, x, y):
    from search.layers import select_prototypes

    method = hp.Choice("prototypes", list(PROTOTYPES))
    with hp.conditional_scope("prototypes", ["kmeans", "random"]):
        per_class = hp.Choice("per_class", list(PER_CLASS), default=4)
    # NumPy's global generator is seeded by the tuner per trial: reproducible choices.
    seed = int(np.random.randint(2**31 - 1))
    return select_prototypes(x, y, method=method, per_class=per_class or 1, seed=seed)


def _width(x: np.ndarray, method: str, multiplier: float, per_feature: bool):
    """``initial_width``, per feature where the rule gives 0: a constant feature keeps the
    multiplier (its kernel factor is constant anyway) and a mostly-constant one, whose
    median pairwise distance is 0 (digits' border pixels), falls back to its variance."""
    from search.layers import initial_width

    if not per_feature:
        return initial_width(x, method=method, multiplier=multiplier)
    widths = np.full(x.shape[1], multiplier, dtype=np.float64)
    for i in np.flatnonzero(x.std(axis=0) > 0):
        for rule in (method, "scale"):
            try:
                widths[i] = initial_width(x[:, [i]], method=rule, multiplier=multiplier, per_feature=True)[0]
                break
            except ValueError:
                continue
    return widths.tolist()


def _optimizer(name: str, lr: float, weight_decay: float):
    import keras

    make = {
        "adam": lambda: keras.optimizers.Adam(lr, weight_decay=weight_decay),
        "sgd_momentum": lambda: keras.optimizers.SGD(lr, momentum=0.9, weight_decay=weight_decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr, weight_decay=weight_decay),
    }[name]()
    make.exclude_from_weight_decay(var_names=["prototypes", "width_rho"])
    return make


def build(hp):
    import keras

    from search.layers import KernelDistance

    dataset, fold = hp.get("dataset"), hp.get("fold")
    (x, y), _ = training_split(dataset, fold)
    kernel = hp.Choice("kernel", list(KERNELS))
    prototypes, classes = _prototypes(hp, x, y)
    trainable_prototypes = hp.Boolean("trainable_prototypes")
    width_init = hp.Choice("width_init", ["scale", "median"])
    multiplier = hp.Float("width_multiplier", 0.1, 10.0, sampling="log", default=1.0)
    trainable_width = hp.Boolean("trainable_width", default=True)
    aggregation = hp.Choice("aggregation", list(AGGREGATIONS))
    weight_decay = hp.Float("weight_decay", 1e-6, 1e-2, sampling="log", default=1e-4)
    optimizer = hp.Choice("optimizer", list(OPTIMIZERS))
    lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log", default=1e-2)
    hp.Choice("batch_size", [16, 32, 64], default=32)  # read by fit()

    width = _width(x, width_init, multiplier, per_feature=kernel in PER_FEATURE)
    inputs = keras.Input((x.shape[1],), name="x")
    scores = KernelDistance(
        prototypes, kernel=kernel, width=width, trainable_prototypes=trainable_prototypes,
        trainable_width=trainable_width, prototype_classes=classes,
        aggregation="logsumexp" if aggregation == "logsumexp" else "none", name="kernel_distance",
    )(inputs)
    logits = scores if aggregation == "logsumexp" else keras.layers.Dense(datasets.num_classes(dataset), name="dense")(scores)
    model = keras.Model(inputs, logits, name="prototype_rbf")
    model.compile(
        optimizer=_optimizer(optimizer, lr, weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit(hp, model, *args, **kwargs):
    # model.fit on the arrays, with one tf.data iterator per fit (see search.space.fit_arrays)
    return fit_arrays(model, *args, batch_size=hp.get("batch_size"), **kwargs)


# -- baselines (search baseline prototype_rbf) ----------------------------------------------

SVC_GRID = {"svc__C": [0.1, 1.0, 10.0, 100.0], "svc__gamma": ["scale", 1e-3, 1e-2, 1e-1]}
LOGISTIC_GRID = {"logisticregression__C": [0.01, 0.1, 1.0, 10.0, 100.0]}
KNN_GRID = {"kneighborsclassifier__n_neighbors": [1, 3, 5, 7, 9, 15]}


def baselines(seed: int, dataset: str = "digits", fold: int = 0):
    """SVC (RBF kernel), logistic regression and k-NN on the same fold, each tuned on its training part.

    Each is a ``StandardScaler`` + estimator pipeline fitted on the raw training rows of
    ``fold`` (so the scaler sees the training part only, also inside the grid search's
    inner stratified 5-fold CV) and scored on the fold's validation rows.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from search.space import Baseline

    (x, y), (x_val, y_val) = datasets.split(dataset, fold, scaled=False)
    inner = StratifiedKFold(5, shuffle=True, random_state=seed)
    candidates = {
        "svc_rbf": (SVC(kernel="rbf"), SVC_GRID),
        "logistic_regression": (LogisticRegression(max_iter=5000), LOGISTIC_GRID),
        "knn": (KNeighborsClassifier(), KNN_GRID),
    }
    results = []
    for name, (estimator, grid) in candidates.items():
        search = GridSearchCV(make_pipeline(StandardScaler(), estimator), grid, cv=inner).fit(x, y)
        params = {k.split("__", 1)[1]: v for k, v in search.best_params_.items()}
        results.append(Baseline(name, {"val_accuracy": float(search.score(x_val, y_val))}, params=params))
    return results
