"""``search reproduce``: one trial trained again from its recorded configuration and seed, its
per-epoch objective compared with the one it recorded.

The trial's data come from the space's ``load_data`` with the study's settings and the seed of the
invocation that ran it; the model is built from its hyperparameter values and trained with
``keras.utils.set_random_seed(seed + KerasTuner trial id)``, as :class:`search.Tuner` trained it,
through the space's own ``fit``. TensorFlow's op determinism is on while it trains: an op without a
deterministic kernel on this machine then fails the run and says which, rather than drifting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.errors import UsageError
from search.records import keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

TOLERANCE = 1e-5  # relative, plus the same absolute: what `search export` verifies a model with


@dataclass(frozen=True)
class Reproduction:
    """A trial's recorded per-epoch objective and the one its retraining gave."""

    study: str
    number: int
    objective: str
    seed: int
    recorded: list[float]
    now: list[float]
    tolerance: float = TOLERANCE

    def differences(self) -> list[float]:
        """Per epoch, ``|now - recorded| / |recorded|`` (0 when both are equal, inf when one is not finite)."""
        out = []
        for old, new in zip(self.recorded, self.now):
            if old == new or (math.isnan(old) and math.isnan(new)):
                out.append(0.0)
            elif not (math.isfinite(old) and math.isfinite(new)):
                out.append(math.inf)
            else:
                out.append(abs(new - old) / max(abs(old), 1e-12))
        return out

    @property
    def first_difference(self) -> int | None:
        """The first epoch (from 1) outside the tolerance; None when every epoch is within it."""
        for epoch, (old, new) in enumerate(zip(self.recorded, self.now), start=1):
            within = math.isfinite(old) and math.isfinite(new) and abs(new - old) <= self.tolerance * (1 + abs(old))
            if not within and not (old == new or (math.isnan(old) and math.isnan(new))):
                return epoch
        return None if len(self.now) == len(self.recorded) else min(len(self.now), len(self.recorded)) + 1

    @property
    def reproduced(self) -> bool:
        return self.first_difference is None

    def lines(self) -> list[str]:
        largest = max(self.differences(), default=0.0)
        head = (f"trial {self.number} of {self.study}: {len(self.recorded)} epochs of {self.objective} again with "
                f"seed {self.seed}; largest relative difference {largest:.3g}")
        if self.reproduced:
            return [head, "reproduced"]
        epoch = self.first_difference
        if epoch > min(len(self.now), len(self.recorded)):
            return [head, f"not reproduced (first differs at epoch {epoch}: {len(self.now)} epochs ran, "
                          f"{len(self.recorded)} recorded)"]
        old, new = self.recorded[epoch - 1], self.now[epoch - 1]
        return [head, f"not reproduced (first differs at epoch {epoch}: recorded {old:.9g}, now {new:.9g})"]


def reproduce(study_name: str, number: int, *, home: str | None = None, storage: str | None = None,
              tracking_uri: str | None = None, tolerance: float = TOLERANCE) -> Reproduction:
    """Trains trial ``number`` of ``study_name`` again and compares its objective epoch by epoch."""
    from search.export.trial import trial_info
    from search.records.studies import open_study
    from search.tracking.models import ModelStore

    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise UsageError(f"--tolerance must be a finite number >= 0, got {tolerance!r}.")
    loc = storage_mod.resolve(home, storage, tracking_uri)
    study = open_study(study_name, loc)
    trial = _recorded_trial(study, number)
    info = trial_info(study, trial)
    from search.export.weights import study_seed

    seed = study_seed(ModelStore(loc.tracking_uri) if info.mlflow_run_id else None, info)
    recorded = [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]
    now = _train(study, info, seed, len(recorded))
    return Reproduction(study_name, number, info.objective, seed + int(info.kt_trial_id), recorded, now, tolerance)


def _recorded_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number``, refused unless it finished its epochs (COMPLETE) or some (PRUNED) with every
    epoch's objective recorded."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        known = f"0 to {max(trials)}" if trials else "none"
        raise UsageError(f"Unknown trial {number} in study {study.study_name!r}; trials there: {known}.")
    t = trials[number]
    if t.state.name not in ("COMPLETE", "PRUNED"):
        reason = keys.reason_of(t) or t.state.name
        raise UsageError(f"Trial {number} of study {study.study_name!r} is {t.state.name} ({reason.splitlines()[0]}); "
                         "only COMPLETE or PRUNED trials can be reproduced.")
    steps = sorted(t.intermediate_values)
    if not steps or steps != list(range(len(steps))):
        raise UsageError(f"Trial {number} of study {study.study_name!r} did not record its objective at every "
                         "epoch; it cannot be compared.")
    return t


def _train(study: optuna.Study, info: Any, seed: int, epochs: int) -> list[float]:
    """The objective per epoch of the trial's configuration trained again for ``epochs`` epochs."""
    import keras
    import tensorflow as tf

    from search.export.weights import build_model, restore_hp
    from search.space.data import load_data
    from search.study.plan import space_for_study

    space = space_for_study(study.user_attrs).with_settings(info.settings)
    data = load_data(space, seed, info.settings)
    hp = restore_hp(info.values, info.settings)
    from tensorflow.python.framework import config as tf_config  # the public API cannot switch it off

    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        keras.utils.set_random_seed(seed + int(info.kt_trial_id))
        model = build_model(space, hp)
        history = space.hypermodel().fit(hp, model, **data.fit_kwargs(), epochs=epochs, verbose=0)
    finally:
        if not was_on:
            tf_config.disable_op_determinism()
    logs = getattr(history, "history", None) or {}
    if info.objective not in logs:
        raise UsageError(f"The retrained model logs no {info.objective!r} (it logs: {', '.join(logs) or 'nothing'}).")
    return [float(v) for v in logs[info.objective]]
