"""``fit_arrays``: ``model.fit`` for NumPy arrays with one ``tf.data`` iterator per ``fit``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

# model.fit's keyword arguments that fit_arrays handles itself; any other one (sample or
# class weights, validation_split, steps, generators) goes to model.fit unchanged.
_FIT_ARRAYS_KWARGS = {"epochs", "verbose", "callbacks", "initial_epoch", "shuffle", "validation_freq"}


def _dataset_options() -> tf.data.Options:
    """``tf.data`` options for fit_arrays' datasets: tf.data's autotuning off.

    With it on, letting an iterator go (at the end of each ``fit``, and in ``evaluate`` every
    epoch) waits, idle, on a thread's growing timed sleeps, so a small model's trials pinned
    to one core (as each of two workers on two cores is) sit idle part of their time; with
    it off they do not (``tests/perf/fit_iterators.py --cores 1``; figures in
    ``tests/perf/README.md``). The prefetch buffer still sizes itself (tf.data's older
    prefetch autotuner, which needs none of that)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def fit_arrays(model: keras.Model, x: Any, y: Any, batch_size: int | None = None, validation_data: Any = None,
               **kwargs: Any) -> keras.callbacks.History:
    """``model.fit`` for NumPy arrays, with one ``tf.data`` iterator per ``fit``, not per epoch.

    Given arrays, Keras builds a new ``tf.data`` iterator for every epoch's training pass
    and every validation pass, and its autotuned iterators leave the core idle while they
    are let go: for a small model on ~1,000 rows, a large share of its time
    (``tests/perf/fit_iterators.py``). Here the training arrays become
    one shuffled, repeated dataset read with ``steps_per_epoch`` and the validation arrays
    one repeated dataset read with ``validation_steps``, both with tf.data's autotuning off.
    Every epoch still sees every row once, in a new order (drawn from NumPy's global
    generator, which ``keras.utils.set_random_seed`` seeds, so a seeded trial repeats
    exactly), with the last batch partial as Keras makes it. Anything else (a dataset,
    sample or class weights, ``validation_split``, ``shuffle="batch"``) is passed to
    ``model.fit`` unchanged.

    Use it in a space's ``fit``: ``return fit_arrays(model, *args, batch_size=hp.get("batch_size"),
    **kwargs)`` (``from search.space import fit_arrays``); hooks still see the arrays.
    """
    import math

    import tensorflow as tf

    shuffle = kwargs.get("shuffle", True)
    rows, val_rows = _rows(x), _rows(validation_data[0]) if _is_pair(validation_data) else None
    if (set(kwargs) - _FIT_ARRAYS_KWARGS or not isinstance(shuffle, bool) or not rows or _rows(y) != rows
            or validation_data is not None and (not val_rows or _rows(validation_data[1]) != val_rows)):
        return model.fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)
    kwargs.pop("shuffle", None)
    batch = int(batch_size or 32)
    train = tf.data.Dataset.from_tensor_slices((_slices(x), y))
    if shuffle:
        seed = int(np.random.randint(0, 2**31 - 1))
        train = train.shuffle(rows, seed=seed, reshuffle_each_iteration=True)
    options = _dataset_options()
    train = train.batch(batch).repeat().prefetch(tf.data.AUTOTUNE).with_options(options)
    validation = None
    if validation_data is not None:
        x_val, y_val = validation_data
        validation = tf.data.Dataset.from_tensor_slices((_slices(x_val), y_val)).batch(batch).repeat()
        validation = validation.with_options(options)
        kwargs["validation_steps"] = math.ceil(val_rows / batch)
    # shuffle=False: the dataset is shuffled already (Keras warns about shuffle=True with a dataset)
    return model.fit(train, steps_per_epoch=math.ceil(rows / batch), validation_data=validation, shuffle=False,
                     **kwargs)


def _is_pair(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2


def _rows(value: Any) -> int | None:
    """The row count of an array, or of a list, tuple or dict of arrays that agree; else None."""
    parts = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
    if not parts or not all(isinstance(p, np.ndarray) for p in parts):
        return None
    counts = {len(p) for p in parts}
    return counts.pop() if len(counts) == 1 else None


def _slices(x: Any) -> Any:
    """``x`` as ``tf.data.Dataset.from_tensor_slices`` takes it (a list of inputs as a tuple)."""
    return tuple(x) if isinstance(x, list) else x
