"""The observer contracts: the order in which hooks and listeners hear of a trial (real training)."""

from __future__ import annotations

import keras
import optuna

from search.engine.hooks import TrialHook, TrialListener, notify
from search.engine.oracle import OptunaOracle
from search.engine.tuner import Tuner
from tests.engine.test_oracle import DATA, build


class Listener(TrialListener):
    def __init__(self, events: list) -> None:
        self.events = events

    def trial_started(self, oracle, trial, optuna_trial):
        self.events.append(("started", trial.trial_id))

    def epoch_ended(self, oracle, trial_id, step, logs):
        self.events.append(("epoch_ended", trial_id, step))

    def trial_ended(self, oracle, trial, number, state, value, reason):
        self.events.append(("ended", trial.trial_id, state.name))


class Hook(TrialHook):
    def __init__(self, events: list) -> None:
        self.events = events

    def callback(self, context):
        events, trial_id = self.events, context.trial_id
        events.append(("callback", trial_id))

        class Watch(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                events.append(("train_begin", trial_id))

            def on_epoch_end(self, epoch, logs=None):
                events.append(("hook_epoch_end", trial_id, epoch))

            def on_train_end(self, logs=None):
                events.append(("train_end", trial_id))

        return Watch()


def test_listeners_and_hooks_hear_of_a_trial_in_the_documented_order(tmp_path):
    events: list = []
    oracle = OptunaOracle(objective="val_loss", max_trials=2, study=optuna.create_study(),
                          listeners=[Listener(events)])
    tuner = Tuner(oracle=oracle, hypermodel=build, directory=tmp_path / "kt", project_name="p", seed=0,
                  trial_hooks=[Hook(events)])
    tuner.search(**DATA, epochs=2)
    for trial_id in ("0000", "0001"):
        assert [e for e in events if e[1] == trial_id] == [
            ("started", trial_id), ("callback", trial_id), ("train_begin", trial_id),
            ("epoch_ended", trial_id, 0), ("hook_epoch_end", trial_id, 0),
            ("epoch_ended", trial_id, 1), ("hook_epoch_end", trial_id, 1),
            ("train_end", trial_id), ("ended", trial_id, "COMPLETE"),
        ]
    assert events.index(("ended", "0000", "COMPLETE")) < events.index(("started", "0001"))


def test_a_failing_listener_is_reported_once_and_the_others_still_hear(capsys):
    class Broken(TrialListener):
        def trial_started(self, *args):
            raise ConnectionError("tracking server gone")

    heard: list = []
    for _ in range(3):
        notify([Broken(), Listener(heard)], "trial_started", None, type("T", (), {"trial_id": "0"})(), None)
    assert heard == [("started", "0")] * 3
    err = capsys.readouterr().err
    assert err.count("Broken.trial_started failed: ConnectionError: tracking server gone") == 1
