"""Kernel scores over prototypes: s_k(x) = Σ_i a_ki·f(x_i, p_ki) + b_k (seeds 003, 004)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from search.layers._positive import (
    add_positive_weight,
    as_float_or_tuple,
    positive,
    to_config,
)

PER_FEATURE_KERNELS = ("exp", "gaussian", "laplacian")
KERNELS = (*PER_FEATURE_KERNELS, "rbf")
AGGREGATIONS = ("none", "softmax", "logsumexp")
# Largest exponent passed to exp per compute dtype: exp(80) ≈ 5.5e34 < float32 max.
_EXP_MAX = {"float16": 10.0, "bfloat16": 80.0, "float32": 80.0, "float64": 700.0}


def _validate_prototypes(prototypes) -> np.ndarray:
    array = np.asarray(prototypes, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape or not np.all(np.isfinite(array)):
        raise ValueError(
            "Expected `prototypes` to be a non-empty 2-D array (prototypes, features) "
            f"of finite values. Received: prototypes with shape {array.shape}"
        )
    return array


def _validate_classes(prototype_classes, m: int) -> tuple[int, ...] | None:
    if prototype_classes is None:
        return None
    classes = np.asarray(prototype_classes)
    ok = classes.shape == (m,) and np.issubdtype(classes.dtype, np.integer)
    if not ok or set(classes.tolist()) != set(range(classes.max() + 1)):
        raise ValueError(
            f"Expected `prototype_classes` to be {m} integer class ids (one per "
            "prototype) covering 0..C-1, each at least once. "
            f"Received: prototype_classes={prototype_classes!r}"
        )
    return tuple(classes.tolist())


@keras.saving.register_keras_serializable(package="search")
class KernelDistance(keras.layers.Layer):
    """Scores of inputs ``x`` (batch, n) against m prototypes ``p`` (m, n).

    Per-feature kernels, with trainable coefficients ``a`` (m, n) and widths ``c``
    (one per feature), score ``s_k(x) = Σ_i a_ki·f(x_i, p_ki) + b_k``:

    - ``"exp"``: the seed's ``exp((x_i − p_ki)/c_i)``. It factorizes as
      ``exp(x_i/c_i)·exp(−p_ki/c_i)``, so it is computed with one matmul, without a
      (batch, m, n) tensor; each feature's largest exponent is clamped at 80 (700
      in float64) so float32 cannot overflow. The model is softmax regression on
      ``exp(x/c)`` features: the prototypes fold into the coefficients.
    - ``"gaussian"``: ``exp(−(x_i − p_ki)²/c_i)``; needs the (batch, m, n) tensor.
    - ``"laplacian"``: ``exp(−|x_i − p_ki|/c_i)``; needs the (batch, m, n) tensor.

    The isotropic ``"rbf"`` kernel, with one coefficient ``a_k``, width ``c_k`` and
    ``γ_k = 1/c_k`` per prototype, scores ``s_k(x) = a_k·exp(−‖x − p_k‖²/c_k) + b_k``.
    Squared distances are one matmul, ``‖x‖² − 2x·pᵀ + ‖p‖²`` clamped at 0; the input
    is never replicated to (batch, m, n).

    Prototypes are weights (non-trainable unless ``trainable_prototypes``), so they
    survive save/load; ``get_config`` holds their initial values. Widths are
    ``softplus(ρ)``, trainable if ``trainable_width``.

    Aggregation of the m scores: ``"none"`` returns them (batch, m); ``"logsumexp"``
    returns per-class logits ``log Σ_{k in class} exp(s_k)`` (batch, C) and needs
    ``prototype_classes``; ``"softmax"`` returns probabilities: the softmax of those
    class logits if ``prototype_classes`` is given (the summed row probabilities of
    each class), else the softmax over the m rows (the seed's model).

    Args:
        prototypes: (m, n) array-like, the (initial) prototypes; see
            :func:`search.layers.select_prototypes`.
        kernel: One of ``"exp"``, ``"gaussian"``, ``"laplacian"``, ``"rbf"``.
        width: Initial width c > 0: a float, or a list of n (per-feature kernels) or
            m (``"rbf"``) values; see :func:`search.layers.initial_width`.
        trainable_prototypes: Whether the prototypes are trained.
        trainable_width: Whether the widths are trained.
        prototype_classes: Optional list of m class ids in 0..C-1.
        aggregation: One of ``"none"``, ``"softmax"``, ``"logsumexp"``.
        use_bias: Whether to add ``b_k``.
        coefficient_initializer: Initializer of ``a``; ``"ones"`` starts from a plain
            sum of similarities.
        bias_initializer: Initializer of ``b``.
        **kwargs: Base ``Layer`` arguments.
    """

    def __init__(self, prototypes, kernel: str = "gaussian", width=1.0,
                 trainable_prototypes: bool = False, trainable_width: bool = False,
                 prototype_classes=None, aggregation: str = "none",
                 use_bias: bool = True, coefficient_initializer="ones",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        array = _validate_prototypes(prototypes)
        m, n = array.shape
        if kernel not in KERNELS:
            raise ValueError(
                f"Expected `kernel` to be one of {KERNELS}. Received: kernel={kernel!r}"
            )
        width = as_float_or_tuple(width, "width")
        expected = n if kernel in PER_FEATURE_KERNELS else m
        if isinstance(width, tuple) and len(width) != expected:
            raise ValueError(
                f"Expected a float or {expected} `width` values for kernel={kernel!r} "
                f"with prototypes of shape {array.shape}. Received: width={list(width)}"
            )
        if aggregation not in AGGREGATIONS:
            raise ValueError(
                f"Expected `aggregation` to be one of {AGGREGATIONS}. "
                f"Received: aggregation={aggregation!r}"
            )
        classes = _validate_classes(prototype_classes, m)
        if aggregation == "logsumexp" and classes is None:
            raise ValueError(
                "aggregation='logsumexp' needs `prototype_classes`. "
                "Received: prototype_classes=None"
            )
        self._prototypes = array  # numpy: a list attribute would be tracked by Keras
        self.kernel = kernel
        self.width = width
        self.trainable_prototypes = bool(trainable_prototypes)
        self.trainable_width = bool(trainable_width)
        self.prototype_classes = classes
        self.aggregation = aggregation
        self.use_bias = bool(use_bias)
        self.coefficient_initializer = keras.initializers.get(coefficient_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self._shape = (m, n)
        self._num_classes = None if classes is None else max(classes) + 1

    def build(self, input_shape):
        m, n = self._shape
        if len(input_shape) != 2 or input_shape[-1] != n:
            raise ValueError(
                f"KernelDistance expects inputs of shape (batch, {n}) to match "
                f"prototypes of shape {self._shape}. Received: input_shape={input_shape}"
            )
        per_feature = self.kernel in PER_FEATURE_KERNELS
        self.prototype_weight = self.add_weight(
            name="prototypes", shape=(m, n), initializer="zeros",
            trainable=self.trainable_prototypes,
        )
        self.prototype_weight.assign(self._prototypes)
        self.width_rho = add_positive_weight(
            self, "width_rho", self.width, (n,) if per_feature else (m,),
            trainable=self.trainable_width,
        )
        self.coefficients = self.add_weight(
            name="coefficients", shape=(m, n) if per_feature else (m,),
            initializer=self.coefficient_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(m,), initializer=self.bias_initializer
            )

    def call(self, inputs):
        score_fns = {
            "exp": self._exp_scores,
            "gaussian": self._gaussian_scores,
            "laplacian": self._laplacian_scores,
            "rbf": self._rbf_scores,
        }
        scores = score_fns[self.kernel](inputs)
        if self.bias is not None:
            scores = scores + self.bias
        if self.aggregation == "none":
            return scores
        if self._num_classes is not None:
            scores = self._class_logsumexp(scores)
        return ops.softmax(scores, axis=-1) if self.aggregation == "softmax" else scores

    def _exp_scores(self, x):
        c = positive(self.width_rho)
        v = -self.prototype_weight / c  # (m, n)
        v_max = ops.stop_gradient(ops.max(v, axis=0))  # (n,)
        limit = _EXP_MAX.get(self.compute_dtype, 80.0)
        features = ops.exp(ops.minimum(x / c + v_max, limit))  # (batch, n)
        weights = self.coefficients * ops.exp(v - v_max)  # (m, n), entries of exp <= 1
        return ops.matmul(features, ops.transpose(weights))

    def _per_feature_diff(self, x):
        return ops.expand_dims(x, 1) - ops.expand_dims(self.prototype_weight, 0)

    def _gaussian_scores(self, x):
        f = ops.exp(-ops.square(self._per_feature_diff(x)) / positive(self.width_rho))
        return ops.sum(f * self.coefficients, axis=-1)

    def _laplacian_scores(self, x):
        f = ops.exp(-ops.abs(self._per_feature_diff(x)) / positive(self.width_rho))
        return ops.sum(f * self.coefficients, axis=-1)

    def _rbf_scores(self, x):
        p = self.prototype_weight
        sq = (
            ops.sum(ops.square(x), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(x, ops.transpose(p))
            + ops.sum(ops.square(p), axis=-1)
        )
        sq = ops.maximum(sq, 0.0)  # rounding can make ‖x − p‖² slightly negative
        return self.coefficients * ops.exp(-sq / positive(self.width_rho))

    def _class_logsumexp(self, scores):
        ids = ops.convert_to_tensor(self.prototype_classes, dtype="int32")
        rows = ops.transpose(scores)  # (m, batch): segment ops reduce the first axis
        top = ops.stop_gradient(ops.segment_max(rows, ids, self._num_classes))
        shifted = ops.exp(rows - ops.take(top, ids, axis=0))  # <= 1, class max is 1
        sums = ops.segment_sum(shifted, ids, self._num_classes)
        return ops.transpose(ops.log(sums) + top)

    def compute_output_shape(self, input_shape):
        units = self._shape[0] if self.aggregation == "none" else (
            self._num_classes or self._shape[0]
        )
        return (input_shape[0], units)

    def get_config(self):
        return {
            **super().get_config(),
            "prototypes": self._prototypes.tolist(),
            "kernel": self.kernel,
            "width": to_config(self.width),
            "trainable_prototypes": self.trainable_prototypes,
            "trainable_width": self.trainable_width,
            "prototype_classes": to_config(self.prototype_classes),
            "aggregation": self.aggregation,
            "use_bias": self.use_bias,
            "coefficient_initializer": keras.initializers.serialize(
                self.coefficient_initializer
            ),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
