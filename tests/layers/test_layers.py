"""The layers: the shared contract for every configuration, then exact values."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import search
from search.layers import (
    Atan2,
    Bump,
    KernelDistance,
    Truncation,
    initial_width,
    safe_atan2,
    select_prototypes,
)
from search.testing import check_layer, verify_reload_in_fresh_process

RNG = np.random.default_rng(0)
PROTOTYPES = RNG.standard_normal((6, 5))
CLASSES = [0, 0, 1, 1, 2, 2]


def _kd(kernel, **kwargs):
    return lambda: KernelDistance(PROTOTYPES, kernel=kernel, **kwargs)


CONFIGS = {
    "atan2_angle": (lambda: Atan2(), [(7, 1), (7, 1)]),
    "atan2_iq": (lambda: Atan2(output_mode="iq"), [(7, 1), (7, 1)]),
    "bump_scalar": (lambda: Bump(sigma=2.0), (5,)),
    "bump_per_feature": (lambda: Bump(sigma=[1.0, 1.5, 2.0, 2.5, 3.0], per_feature=True),
                         (5,)),
    "truncation_exact": (lambda: Truncation(0.8, mode="exact"), (5,)),
    "truncation_straight_through": (lambda: Truncation(0.8, mode="straight_through"),
                                    (5,)),
    "truncation_trainable": (lambda: Truncation(0.8, mode="trainable"), (5,)),
    "kd_rows_softmax_trainable_width": (
        _kd("gaussian", aggregation="softmax", trainable_width=True), (5,)),
    "kd_rbf_classes_softmax_no_bias": (
        _kd("rbf", prototype_classes=CLASSES, aggregation="softmax", use_bias=False,
            width=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], trainable_prototypes=True), (5,)),
}
for _kernel in ("exp", "gaussian", "laplacian", "rbf"):
    CONFIGS[f"kd_{_kernel}_fixed_none"] = (_kd(_kernel, width=2.0), (5,))
    CONFIGS[f"kd_{_kernel}_trainable_logsumexp"] = (
        _kd(_kernel, width=2.0, trainable_prototypes=True, trainable_width=True,
            prototype_classes=CLASSES, aggregation="logsumexp"), (5,))


@pytest.fixture(scope="module")
def contract_results(tmp_path_factory):
    """Checks every configuration, then reloads all of them in one fresh process."""
    workdir = tmp_path_factory.mktemp("layer_contract")
    errors, jobs = {}, []
    for name, (factory, shapes) in CONFIGS.items():
        try:
            jobs.append(check_layer(factory, shapes, workdir, name=name))
        except AssertionError as error:
            errors[name] = str(error)
    reloads = verify_reload_in_fresh_process(jobs, raise_on_failure=False)
    return errors, reloads


@pytest.mark.parametrize("name", list(CONFIGS))
def test_layer_contract(contract_results, name):
    errors, reloads = contract_results
    assert name not in errors, errors.get(name)
    assert name in reloads and reloads[name] is None, reloads.get(name)


def test_fixed_weights_are_not_trainable():
    layer = KernelDistance(PROTOTYPES, kernel="rbf")
    layer.build((None, 5))
    assert [w.name for w in layer.trainable_weights] == ["coefficients", "bias"]
    assert {w.name for w in layer.non_trainable_weights} == {"prototypes", "width_rho"}


# --- Atan2 -------------------------------------------------------------------------

def _grads(fn, *values, dtype="float32"):
    variables = [tf.Variable(np.asarray(v, dtype=dtype)) for v in values]
    with tf.GradientTape() as tape:
        out = fn(*variables)
    return out.numpy(), [g.numpy() for g in tape.gradient(out, variables)]


def test_atan2_quadrants_and_origin():
    q = np.array([1.0, 1.0, -1.0, -1.0, 0.0, 1.0, 0.0, -1.0, 0.0], dtype="float32")
    i = np.array([1.0, -1.0, -1.0, 1.0, 1.0, 0.0, -1.0, 0.0, 0.0], dtype="float32")
    out = Atan2()([q, i]).numpy()
    np.testing.assert_allclose(out, np.arctan2(q, i), atol=1e-6)
    assert out[-1] == 0.0


def test_atan2_gradient_is_exact_away_from_origin():
    _, (dq, di) = _grads(lambda q, i: safe_atan2(q, i), [0.6], [0.8])
    np.testing.assert_allclose([dq[0], di[0]], [0.8, -0.6], rtol=1e-5)


@pytest.mark.parametrize("r", [0.0, 1e-30, 1e-12, 1e-6, 1e-3])
def test_atan2_gradient_is_finite_at_and_near_origin(r):
    assert not np.all(np.isfinite(_grads(tf.math.atan2, [0.0], [0.0])[1]))  # the seed's
    _, grads = _grads(lambda q, i: Atan2(epsilon=1e-7)([q, i]), [r * 0.6], [r * 0.8])
    for g in grads:
        assert np.isfinite(g).all() and np.abs(g).max() <= 1 / (2 * np.sqrt(1e-7)) + 1


def test_atan2_iq_output_stacks_i_then_q():
    q, i = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    out = Atan2(output_mode="iq")([q, i]).numpy()
    assert out.shape == (3, 4, 2)
    np.testing.assert_allclose(out[..., 0], i, rtol=1e-6)
    np.testing.assert_allclose(out[..., 1], q, rtol=1e-6)


def test_atan2_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"output_mode.*Received: output_mode='phase'"):
        Atan2(output_mode="phase")
    with pytest.raises(ValueError, match=r"Received: epsilon=0"):
        Atan2(epsilon=0)
    with pytest.raises(ValueError, match=r"same shape"):
        Atan2().build([(None, 3), (None, 4)])


# --- KernelDistance --------------------------------------------------------------------

def _direct_scores(x, p, kernel, c):
    diff = x[:, None, :] - p[None, :, :]  # the seed's (batch, m, n) replication
    if kernel == "rbf":
        return np.exp(-np.square(diff).sum(-1) / c)
    f = {"exp": lambda d: np.exp(d / c), "gaussian": lambda d: np.exp(-d**2 / c),
         "laplacian": lambda d: np.exp(-np.abs(d) / c)}[kernel]
    return f(diff).sum(-1)


@pytest.mark.parametrize("kernel", ["exp", "gaussian", "laplacian", "rbf"])
def test_kernel_scores_equal_the_direct_formula(kernel):
    x, p = RNG.standard_normal((16, 8)), RNG.standard_normal((32, 8))
    width = RNG.uniform(0.5, 3.0, 8 if kernel != "rbf" else 32)
    layer = KernelDistance(p, kernel=kernel, width=width.tolist())
    out = layer(x.astype("float32")).numpy()
    np.testing.assert_allclose(out, _direct_scores(x, p, kernel, width), rtol=2e-5,
                               atol=1e-5)


def test_rbf_matmul_form_equals_float32_replicated_form():
    x = RNG.standard_normal((64, 16)).astype("float32") * 3
    p = RNG.standard_normal((128, 16)).astype("float32") * 3
    c = 20.0
    direct = tf.exp(-tf.reduce_sum(tf.square(x[:, None, :] - p[None]), -1) / c).numpy()
    out = KernelDistance(p, kernel="rbf", width=c)(x).numpy()
    np.testing.assert_allclose(out, direct, atol=2e-6)
    # x == p: the matmul form's rounding must not go below 0 distance
    same = KernelDistance(p, kernel="rbf", width=c)(p).numpy()
    assert np.all(np.diag(same) <= 1.0) and np.allclose(np.diag(same), 1.0, atol=1e-5)


def test_exp_kernel_does_not_overflow():
    p = RNG.standard_normal((4, 3))
    x = np.array([[1e3, -1e3, 50.0], [0.0, 0.0, 0.0]], dtype="float32")
    layer = KernelDistance(p, kernel="exp", width=0.5, trainable_prototypes=True,
                           trainable_width=True)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = layer(xv)
    grads = tape.gradient(out, [xv, *layer.trainable_variables])
    assert np.isfinite(out.numpy()).all()
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_aggregations_match_numpy():
    x = RNG.standard_normal((10, 5)).astype("float32")
    scores = KernelDistance(PROTOTYPES, kernel="gaussian")(x).numpy().astype(np.float64)
    lse = np.stack([np.log(np.exp(scores[:, [2 * c, 2 * c + 1]]).sum(-1))
                    for c in range(3)], axis=-1)
    out = KernelDistance(PROTOTYPES, kernel="gaussian", prototype_classes=CLASSES,
                         aggregation="logsumexp")(x).numpy()
    np.testing.assert_allclose(out, lse, rtol=1e-5)
    probs = KernelDistance(PROTOTYPES, kernel="gaussian", prototype_classes=CLASSES,
                           aggregation="softmax")(x).numpy()
    rows = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    np.testing.assert_allclose(probs, rows.reshape(10, 3, 2).sum(-1), rtol=1e-5)
    plain = KernelDistance(PROTOTYPES, kernel="gaussian", aggregation="softmax")(x)
    np.testing.assert_allclose(plain.numpy(), rows, rtol=1e-5)


def test_logsumexp_is_stable_for_large_scores():
    layer = KernelDistance(PROTOTYPES, kernel="rbf", prototype_classes=CLASSES,
                           aggregation="logsumexp", coefficient_initializer="zeros",
                           bias_initializer="zeros")
    layer.build((None, 5))
    layer.bias.assign([500.0, 499.0, -500.0, -501.0, 0.0, 1.0])
    out = layer(np.zeros((1, 5), dtype="float32")).numpy()[0]
    expected = [500 + np.log1p(np.exp(-1)), -500 + np.log1p(np.exp(-1)),
                1 + np.log1p(np.exp(-1))]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_kernel_distance_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"one of .* Received: kernel='foo'"):
        KernelDistance(PROTOTYPES, kernel="foo")
    with pytest.raises(ValueError, match=r"2-D array .* Received: prototypes with shape \(5,\)"):
        KernelDistance(PROTOTYPES[0])
    with pytest.raises(ValueError, match=r"Received: width=-1"):
        KernelDistance(PROTOTYPES, width=-1.0)
    with pytest.raises(ValueError, match=r"Expected a float or 5 `width` values"):
        KernelDistance(PROTOTYPES, width=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"Received: aggregation='max'"):
        KernelDistance(PROTOTYPES, aggregation="max")
    with pytest.raises(ValueError, match=r"needs `prototype_classes`"):
        KernelDistance(PROTOTYPES, aggregation="logsumexp")
    with pytest.raises(ValueError, match=r"covering 0..C-1"):
        KernelDistance(PROTOTYPES, prototype_classes=[0, 0, 2, 2, 3, 3])
    with pytest.raises(ValueError, match=r"inputs of shape \(batch, 5\)"):
        KernelDistance(PROTOTYPES).build((None, 4))


def test_select_prototypes_methods():
    x = np.concatenate([RNG.normal(0, 1, (20, 3)), RNG.normal(5, 1, (30, 3))])
    y = np.array([0] * 20 + [1] * 30)
    means, classes = select_prototypes(x, y, "class_means")
    np.testing.assert_allclose(means, [x[:20].mean(0), x[20:].mean(0)])
    assert classes == [0, 1]
    picked, classes = select_prototypes(x, y, "random", per_class=3, seed=1)
    assert classes == [0] * 3 + [1] * 3
    assert all(any(np.array_equal(r, row) for row in x[y == c])
               for r, c in zip(picked, classes))
    centres, _ = select_prototypes(x, np.eye(2)[y], "kmeans", per_class=2, seed=0)
    again, _ = select_prototypes(x, y, "kmeans", per_class=2, seed=0)
    assert centres.shape == (4, 3) and np.array_equal(centres, again)
    everything, classes = select_prototypes(x, y, "all")
    assert len(everything) == 50 and classes == sorted(y.tolist())
    with pytest.raises(ValueError, match=r"Received: method='median'"):
        select_prototypes(x, y, "median")
    with pytest.raises(ValueError, match=r"smallest class size \(20\).*per_class=21"):
        select_prototypes(x, y, "random", per_class=21)


def test_initial_width():
    x = RNG.normal(0, 2, (200, 4))
    assert initial_width(x) == pytest.approx(4 * x.var())
    assert initial_width(x, multiplier=3.0) == pytest.approx(12 * x.var())
    np.testing.assert_allclose(initial_width(x, per_feature=True), x.var(0))
    median = initial_width(x, "median")
    assert 0.5 * 2 * 4 * 4 < median < 2 * 2 * 4 * 4  # E‖x − x'‖² = 2·n·var
    with pytest.raises(ValueError, match=r"not positive"):
        initial_width(np.ones((5, 2)))


# --- Bump --------------------------------------------------------------------------------

def _bump(sigma, dtype="float32", **kwargs):
    layer = Bump(sigma=sigma, dtype=dtype, **kwargs)
    layer.build((None, 1))
    return layer


def test_bump_values_and_support():
    layer = _bump(1.0)
    x = np.array([0.0, 0.5, -0.9, 0.99, 1.0, -1.0, 1.5, 1e6], dtype="float32")
    out = layer(x).numpy()
    inside = np.abs(x) < 0.99
    sigma = 1.0
    expected = np.exp(-sigma / (sigma - x[inside].astype(np.float64) ** 2))
    np.testing.assert_allclose(out[inside], expected, rtol=1e-5)
    assert out[0] == pytest.approx(np.exp(-1.0))
    assert np.all(out[np.abs(x) >= 1.0] == 0.0)
    np.testing.assert_allclose(layer.sigma_value(), 1.0, rtol=1e-6)


def test_bump_gradients_finite_on_a_grid_with_the_boundary():
    layer = _bump(2.0)
    root = np.sqrt(np.float32(2.0))
    grid = np.concatenate([np.linspace(-3, 3, 601), [root, -root, root * (1 - 1e-7),
                                                     root * (1 + 1e-7), 0.0]])
    xv = tf.Variable(grid.astype("float32"))
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(layer(xv))
    gx, grho = tape.gradient(out, [xv, layer.rho])
    assert np.isfinite(gx.numpy()).all() and np.isfinite(grho.numpy()).all()
    assert grho.numpy() != 0.0  # the seed's bug: sigma got no gradient


@pytest.mark.parametrize("per_feature", [False, True])
def test_bump_sigma_gradient_matches_float64_finite_difference(per_feature):
    sigma = [0.7, 1.3] if per_feature else 1.1
    layer = Bump(sigma=sigma, per_feature=per_feature, dtype="float64")
    x = RNG.uniform(-1.2, 1.2, (50, 2))
    layer.build(x.shape)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(x))
    auto = np.atleast_1d(tape.gradient(total, layer.rho).numpy())
    rho = np.atleast_1d(layer.rho.numpy()).copy()
    numeric = np.zeros_like(rho)
    for k in range(rho.size):
        for sign in (1, -1):
            shifted = rho.copy()
            shifted[k] += sign * 1e-6
            layer.rho.assign(shifted.reshape(layer.rho.shape))
            numeric[k] += sign * float(tf.reduce_sum(layer(x))) / 2e-6
    layer.rho.assign(rho.reshape(layer.rho.shape))
    np.testing.assert_allclose(auto, numeric, rtol=1e-6)
    # and against the closed form ∂f/∂σ = f·x²/(σ − x²)², times dσ/dρ = sigmoid(ρ)
    s = np.broadcast_to(layer.sigma_value(), x.shape)
    f = np.where(x**2 < s, np.exp(-s / np.where(x**2 < s, s - x**2, 1.0)), 0.0)
    closed = f * x**2 / np.where(x**2 < s, s - x**2, 1.0) ** 2 / (1 + np.exp(-rho))
    closed = closed.sum() if not per_feature else closed.sum(0)
    np.testing.assert_allclose(auto, np.atleast_1d(closed), rtol=1e-6)


def test_bump_sigma_stays_above_its_floor():
    layer = _bump(0.5, sigma_min=0.01)
    layer.rho.assign(-100.0)
    assert layer.sigma_value() >= 0.01


def test_bump_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: sigma=0"):
        Bump(sigma=0.0)
    with pytest.raises(ValueError, match=r"needs per_feature=True"):
        Bump(sigma=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"sigma_min.*Received: sigma_min=2"):
        Bump(sigma=1.0, sigma_min=2.0)
    with pytest.raises(ValueError, match=r"Expected 3 `sigma` values"):
        Bump(sigma=[1.0, 2.0], per_feature=True).build((None, 3))


# --- Truncation ---------------------------------------------------------------------------

X_TRUNC = np.array([-3.0, -0.8, -0.5, 0.0, 0.3, 0.8, 2.0], dtype="float32")


@pytest.mark.parametrize("mode", ["exact", "straight_through", "trainable"])
def test_truncation_forward_is_the_clip(mode):
    out = Truncation(0.8, mode=mode)(X_TRUNC).numpy()
    np.testing.assert_allclose(out, np.clip(X_TRUNC, -0.8, 0.8), rtol=1e-6)


def test_straight_through_gradient_is_one_everywhere():
    _, (g,) = _grads(lambda x: Truncation(0.8, mode="straight_through")(x), X_TRUNC)
    np.testing.assert_array_equal(g, np.ones_like(X_TRUNC))


def test_exact_gradient_is_zero_outside():
    _, (g,) = _grads(lambda x: Truncation(0.8, mode="exact")(x), X_TRUNC)
    np.testing.assert_array_equal(g, (np.abs(X_TRUNC) <= 0.8).astype("float32"))


def test_trainable_threshold_gets_the_pact_gradient():
    x = np.array([-3.0, -2.0, -0.5, 0.0, 0.3, 2.0, 4.0], dtype="float32")
    layer = Truncation(0.8, mode="trainable")
    layer.build(x.shape)
    assert layer.threshold_value() == pytest.approx(0.8, rel=1e-6)
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = layer(xv)
    gx, grho = tape.gradient(out, [xv, layer.rho])
    dt = np.sum(np.sign(x) * (np.abs(x) > 0.8))  # ∂y/∂T = sign(x)·1[|x| > T], summed
    sigmoid = 1 / (1 + np.exp(-float(layer.rho.numpy())))  # dT/dρ
    assert float(grho) == pytest.approx(dt * sigmoid, rel=1e-5)
    np.testing.assert_array_equal(gx.numpy(), (np.abs(x) < 0.8).astype("float32"))


def test_truncation_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"Received: threshold=-1"):
        Truncation(-1.0)
    with pytest.raises(ValueError, match=r"Received: mode='ste'"):
        Truncation(1.0, mode="ste")


def test_layers_are_reachable_from_the_package():
    assert search.layers.Atan2 is Atan2 and "KernelDistance" in search.layers.__all__


# --- The contract check catches the seeds' bugs ------------------------------------------

class _Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


@keras.saving.register_keras_serializable(package="search_tests")
class _NoOutputShape(keras.layers.Layer):
    def call(self, x):
        return x


@keras.saving.register_keras_serializable(package="search_tests")
class _ConditionOnlyBump(keras.layers.Layer):
    """Seed 001's bug: sigma only in the predicate, so it gets no gradient."""

    def build(self, input_shape):
        self.sigma = self.add_weight(shape=(), initializer="ones")

    def call(self, x):
        return keras.ops.where(x < self.sigma, keras.ops.exp(-1 / (1 - x * x)), 0.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def test_contract_catches_unregistered_and_gradientless_layers(tmp_path):
    from search.testing import LayerContractError

    with pytest.raises(LayerContractError, match=r"registration"):
        check_layer(_Unregistered, (3,), tmp_path)
    with pytest.raises(LayerContractError, match=r"compute_output_shape"):
        check_layer(_NoOutputShape, (3,), tmp_path)
    with pytest.raises(LayerContractError, match=r"training step: no gradient for"):
        check_layer(_ConditionOnlyBump, (3,), tmp_path, inputs=np.full((2, 3), 0.1))
