"""KernelPlusOffset: the seed's "true kernel plus a small offset" start."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.signal

from search.initializers import KernelPlusOffset

TUKEY = scipy.signal.windows.tukey(64)


def test_constant_offset_and_reshape_to_a_conv1d_kernel():
    values = keras.ops.convert_to_numpy(KernelPlusOffset(TUKEY, 1e-4)((64, 1, 1)))
    assert values.shape == (64, 1, 1) and values.dtype == np.float32
    np.testing.assert_allclose(values[:, 0, 0], (TUKEY + 1e-4).astype("float32"))


def test_gaussian_offset_is_seeded_with_the_given_size():
    init = KernelPlusOffset(np.zeros(4000), 0.01, mode="gaussian", seed=3)
    first = keras.ops.convert_to_numpy(init((4000,), dtype="float64"))
    again = keras.ops.convert_to_numpy(init((4000,), dtype="float64"))
    np.testing.assert_array_equal(first, again)
    assert np.std(first) == pytest.approx(0.01, rel=0.05) and abs(first.mean()) < 1e-3
    unseeded = KernelPlusOffset(np.zeros(10), 0.01, mode="gaussian")
    assert not np.array_equal(unseeded((10,)), unseeded((10,)))


def test_shape_mismatch_and_bad_arguments():
    with pytest.raises(ValueError, match=r"kernel of shape \(64,\) does not fit a weight "
                                         r"of shape \(32, 1, 1\)"):
        KernelPlusOffset(TUKEY)((32, 1, 1))
    with pytest.raises(ValueError, match=r"Received: mode='uniform'"):
        KernelPlusOffset(TUKEY, mode="uniform")
    with pytest.raises(ValueError, match=r"Received: offset=-0.1"):
        KernelPlusOffset(TUKEY, offset=-0.1)
    with pytest.raises(ValueError, match=r"finite values"):
        KernelPlusOffset([1.0, np.nan])
    with pytest.raises(ValueError, match=r"Received: seed=1.5"):
        KernelPlusOffset(TUKEY, seed=1.5)


def test_config_round_trip_and_safe_mode_reload(tmp_path):
    init = KernelPlusOffset(TUKEY, 1e-5, mode="gaussian", seed=7)
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert type(restored) is KernelPlusOffset
    assert restored.get_config() == init.get_config()
    inputs = keras.Input((128, 1))
    model = keras.Model(inputs, keras.layers.Conv1D(1, 64, use_bias=False,
                                                    kernel_initializer=init)(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    layer_init = loaded.layers[-1].kernel_initializer
    assert isinstance(layer_init, KernelPlusOffset) and layer_init.offset == 1e-5
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
