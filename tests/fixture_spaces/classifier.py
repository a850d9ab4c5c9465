"""A tiny 3-class softmax classifier with its own ``plots(model, data, hp)``.

``plots=broken`` makes the space's plots raise, which must not fail the trial.
"""

import keras
import numpy as np

OBJECTIVE = "val_accuracy"
EPOCHS = 2
SETTINGS = {"plots": ["ok", "broken"]}


def load_data(seed):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]], dtype="float32")
    y = rng.integers(0, 3, 120)
    x = (centers[y] + rng.standard_normal((120, 2))).astype("float32")
    return (x[:90], y[:90]), (x[90:], y[90:])


def build(hp):
    units = hp.Int("units", 4, 16, step=4)
    lr = hp.Float("lr", 1e-2, 1e-1, sampling="log")
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(units, activation="relu", name="hidden"),
        keras.layers.Dense(3, activation="softmax", name="probs"),
    ])
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def plots(model, data, hp):
    from matplotlib.figure import Figure

    if hp.get("plots") == "broken":
        raise RuntimeError("this space cannot draw")
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    kernel = model.get_layer("hidden").get_weights()[0]
    ax.imshow(kernel, cmap="coolwarm")
    ax.set_title(f"hidden kernel ({len(data.x_val)} validation rows)")
    return {"hidden_kernel": fig}
