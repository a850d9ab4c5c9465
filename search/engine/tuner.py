"""The project's KerasTuner tuner: reports every epoch to the oracle and stops pruned trials."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import keras
import keras_tuner
from keras_tuner.src.engine import tuner_utils

from search.engine.hooks import TrialContext, TrialHook
from search.engine.oracle import OptunaOracle

if TYPE_CHECKING:
    from keras_tuner.engine.trial import Trial

    from search.space import Space
    from search.tracking.tracker import Tracker


class LeanSearch:
    """Tuner mixin that keeps a long search from slowing down and growing.

    - ``search`` runs with the objects alive at its start frozen for the GC. KerasTuner's
      ``_try_build`` runs ``clear_session()`` and ``gc.collect()`` before every build: two
      full collections per trial that, with TensorFlow, Optuna, MLflow and matplotlib
      loaded, would scan millions of long-lived objects. Freezing what exists at the start
      makes them scan only what the trials create (whose garbage is still freed);
      unfreezing afterwards returns the rest to the collector.
    - Each trial's traced graphs are let go when it ends. Keras's TensorFlow optimizer sums
      gradients through ``tf.custom_gradient``, which registers a gradient function in
      TensorFlow's global gradient registry every time a train step is traced; that
      function holds the traced graph, so every trial's graphs would stay alive and every
      collection would scan them. The entries a trial registered are dropped after it
      (nothing traces that trial's model again).

    The figures behind both are in ``tests/perf/README.md``.
    """

    def search(self, *args: Any, **kwargs: Any) -> Any:
        gc.freeze()
        try:
            return super().search(*args, **kwargs)
        finally:
            gc.unfreeze()

    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        with traced_graphs_dropped():
            return super().run_trial(trial, *args, **kwargs)


@contextlib.contextmanager
def traced_graphs_dropped() -> Iterator[None]:
    """Drops the ``tf.custom_gradient`` registrations the block made (see :class:`LeanSearch`):
    for a block that trains a model nothing traces again."""
    before = _custom_gradients()
    try:
        yield
    finally:
        _forget_custom_gradients(before)


def _gradient_table() -> dict | None:
    """TensorFlow's gradient registry (name -> entry), or None if its layout changed."""
    from tensorflow.python.framework import ops

    table = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return table if isinstance(table, dict) else None


def _custom_gradients() -> set[str]:
    table = _gradient_table()
    return set() if table is None else {n for n in table if n.startswith("CustomGradient-")}


def _forget_custom_gradients(keep: set[str]) -> None:
    """Drops the ``tf.custom_gradient`` registrations made since ``keep`` was taken."""
    table = _gradient_table()
    if table is not None:
        for name in [n for n in table if n.startswith("CustomGradient-") and n not in keep]:
            del table[name]


class Tuner(LeanSearch, keras_tuner.Tuner):
    """A ``keras_tuner.Tuner`` that reports each epoch to an :class:`OptunaOracle`.

    KerasTuner stopped passing per-epoch results to its oracle in 2021; this tuner
    reports them from ``on_epoch_end`` and sets ``model.stop_training`` when Optuna's
    pruner says so (raising ``optuna.TrialPruned`` inside ``fit`` would count as a
    failed trial). With any other oracle it behaves as ``keras_tuner.Tuner``.

    Args:
        seed: each trial trains with ``keras.utils.set_random_seed(seed + number)``,
            so a trial can be reproduced from its number alone.
        trial_hooks: :class:`~search.engine.hooks.TrialHook` objects; each makes a Keras
            callback for every trial execution.
        space: the :class:`~search.space.Space` being searched (for hooks).
        tracker: the MLflow :class:`~search.tracking.tracker.Tracker` (for hooks).
        **kwargs: passed to ``keras_tuner.Tuner``.
    """

    def __init__(
        self,
        *args: Any,
        seed: int | None = None,
        trial_hooks: Sequence[TrialHook] = (),
        space: Space | None = None,
        tracker: Tracker | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.trial_hooks = list(trial_hooks)
        self.space = space
        self.tracker = tracker
        self._best_epoch: dict[tuple[str, int], BestEpochAtTrainEnd] = {}  # (trial, KT's callback) -> ours

    def _build_and_fit_model(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        # KerasTuner's documented override point; kwargs are this execution's own copy,
        # so hook callbacks are added here, after KerasTuner's deep copy of `callbacks`.
        context = TrialContext(self, trial, args, kwargs)
        made = [hook.callback(context) for hook in self.trial_hooks]
        callbacks = [self._in_memory(trial, c) for c in kwargs.get("callbacks", [])]
        kwargs["callbacks"] = [*callbacks, *(c for c in made if c is not None)]
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def _in_memory(self, trial: Trial, callback: keras.callbacks.Callback) -> keras.callbacks.Callback:
        """KerasTuner's best-epoch checkpoint, replaced by one that writes its file once."""
        if type(callback) is not tuner_utils.SaveBestEpoch:
            return callback
        # KerasTuner shares one SaveBestEpoch across a trial's executions: so does this.
        key = (trial.trial_id, id(callback))
        if key not in self._best_epoch:
            self._best_epoch = {key: BestEpochAtTrainEnd(callback.objective, callback.filepath)}
        return self._best_epoch[key]

    def checkpoint_weights(self, trial_id: str) -> list[Any] | None:
        """The weights in trial ``trial_id``'s checkpoint file, as ``model.get_weights()``
        gives them (None until this process has written one)."""
        for (owner, _), callback in self._best_epoch.items():
            if owner == trial_id:
                return callback.written
        return None

    def on_trial_begin(self, trial: Trial) -> None:
        super().on_trial_begin(trial)
        # KerasTuner first saves its state when a trial ends; save it now too, so a
        # process killed in its first trial still resumes (and retries that trial).
        self.save()

    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> Any:
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed + int(trial.trial_id))
        return super().run_trial(trial, *args, **kwargs)

    def on_epoch_end(self, trial: Trial, model: keras.Model, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(trial, model, epoch, logs)
        if isinstance(self.oracle, OptunaOracle) and logs:
            floats = {k: float(v) for k, v in logs.items() if _is_number(v)}
            if self.oracle.report(trial.trial_id, epoch, floats):
                model.stop_training = True


class BestEpochAtTrainEnd(keras.callbacks.Callback):
    """KerasTuner's ``SaveBestEpoch``, but the best epoch's weights are kept in memory and
    written to the checkpoint file once, when training ends (pruned trials too).

    ``SaveBestEpoch`` writes an HDF5 file at every improving epoch, a write per epoch of a
    short trial; copying the weights costs microseconds for the models searched here. A
    trial that raises out of ``fit`` (a numerics failure, an interrupt) leaves no
    checkpoint: nothing loads one for a failed trial, and an interrupted one is retried.

    ``written`` keeps the weights last written to the file, so what needs them next (the
    export hook's probe) sets them instead of reading the file back.
    """

    def __init__(self, objective: keras_tuner.Objective, filepath: str) -> None:
        super().__init__()
        self.objective = objective
        self.filepath = filepath
        self.best_value = float("-inf") if objective.direction == "max" else float("inf")
        self._weights: list[Any] | None = None
        self.written: list[Any] | None = None  # the weights in the checkpoint file

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.objective.has_value(logs):
            value = self.objective.get_value(logs)
            if not self.objective.better_than(value, self.best_value):
                return
            self.best_value = value
        self._weights = self.model.get_weights()  # as SaveBestEpoch: every epoch when no objective value

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._weights is None:
            return
        trained = self.model.get_weights()
        self.model.set_weights(self._weights)
        try:
            self.model.save_weights(self.filepath)
            self.written = self._weights
        finally:
            self.model.set_weights(trained)
            self._weights = None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
