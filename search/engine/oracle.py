"""``OptunaOracle``: a KerasTuner ``Oracle`` backed by an Optuna study.

Optuna's sampler chooses each trial's hyperparameters, Optuna's pruner judges its
per-epoch values, and Optuna's storage holds the study, so several processes (or
machines) can share one study. Any KerasTuner tuner accepts it::

    tuner = keras_tuner.RandomSearch(...)          # before
    tuner = keras_tuner.Tuner(oracle=OptunaOracle(objective="val_loss", max_trials=20),
                              hypermodel=build)    # after: TPE, pruning, any storage

A stock ``keras_tuner.Tuner`` reports only the final score; :class:`search.Tuner` also
reports every epoch, so Optuna's pruner can stop a trial.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras_tuner
import optuna
from keras_tuner.engine import trial as kt_trial
from optuna.trial import TrialState

from search.engine import distributions, failures, retries
from search.engine.heartbeat import LOST
from search.engine.hooks import TrialListener, notify
from search.engine.objectives import Constraint
from search.engine.reports import EpochReports, pruner_may_act
from search.records import keys
from search.records.summary import reaches
from search.storage import ask_lock

if TYPE_CHECKING:
    from search.engine.heartbeat import Heartbeat, StaleTrials

TrialStatus = kt_trial.TrialStatus

IDLE_POLL_S = 0.25  # how often a worker at the budget looks whether the other workers' trials ended


def _study_for(objectives: Sequence[keras_tuner.Objective], study: optuna.Study | None, storage: Any,
               study_name: str | None, sampler: Any, pruner: Any) -> optuna.Study:
    """``study``, or the one created (or loaded) in ``storage``; its directions must be the objectives'."""
    directions = ["maximize" if o.direction == "max" else "minimize" for o in objectives]
    if study is None:
        study = optuna.create_study(storage=storage, study_name=study_name, sampler=sampler, pruner=pruner,
                                    directions=directions, load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    if have != directions and len(have) == len(directions) == 1:
        raise ValueError(f"The study's direction is {have[0]}, but the objective {objectives[0].name!r} asks to "
                         f"{directions[0]}.")
    if have != directions:
        names = ", ".join(o.name for o in objectives)
        raise ValueError(f"The study's directions are {have}, but the objectives ({names}) ask for {directions}.")
    return study


def _objectives(objective: Any) -> list[keras_tuner.Objective] | None:
    """Several objectives (a list, or KerasTuner's ``MultiObjective``) as a list; None for one."""
    if hasattr(objective, "objectives"):  # keras_tuner's MultiObjective
        return list(objective.objectives)
    if isinstance(objective, (list, tuple)) and len(objective) > 1:
        from keras_tuner.src.engine.objective import create_objective

        return [create_objective(o) for o in objective]
    return None


class OptunaOracle(keras_tuner.Oracle):
    """A KerasTuner oracle whose trials are asked of, and told to, an Optuna study.

    Args:
        objective: the KerasTuner objective (name, ``keras_tuner.Objective``); its
            direction becomes the study's direction. Several (a list, or KerasTuner's
            ``MultiObjective``) make a multi-objective study that searches their Pareto front
            (not KerasTuner's signed sum): the first picks each trial's best epoch (KerasTuner's
            score and checkpoint), and each objective's value at that epoch is told to Optuna;
            a cost metric of :mod:`search.engine.costs` is told as measured. Optuna cannot prune
            such trials, so their epochs are not reported to its pruner.
        constraints: :class:`~search.engine.objectives.Constraint` objects; each trial's value
            of their metric is set as an Optuna constraint before it is told, so TPE and
            NSGA-II treat a trial that breaks one as infeasible.
        max_trials: the study's trial budget, counted in the Optuna study (so shared
            by every process working on it); retries of a trial do not count again.
        study: an existing Optuna study; otherwise one is created or loaded from
            ``storage``/``study_name`` with ``sampler`` and ``pruner``.
        timeout: no new trial starts after this many seconds.
        listeners: notified when trials start, finish an epoch and end (MLflow
            tracking, progress display).
        heartbeat: a :class:`~search.engine.heartbeat.Heartbeat` that beats for this process's
            running trials (RDB storages with heartbeats enabled).
        stale_trials: a :class:`~search.engine.heartbeat.StaleTrials`; when given, each trial of a
            dead worker (no heartbeat for the grace period) that this process fails is
            retried here with the same values.
        max_local_trials: at most this many trials (retries included) in this process.
        worker_name: recorded as the ``worker`` user attribute of each trial run here.
        target: the objective value that answers the search: a trial whose epoch reaches it
            stops training there (and completes), and no trial starts once a completed
            trial of the study reached it (whichever process ran it).
        **kwargs: passed to ``keras_tuner.Oracle`` (``hyperparameters``,
            ``max_retries_per_trial``, ``max_consecutive_failed_trials``, ...).

    Who owns what: the Optuna study owns each trial's state, values and budget (so any
    number of processes share them); KerasTuner's state (``trials``, ``ongoing_trials``,
    ``start_order``, ``end_order``, the retry queue) is this process's view, saved in its
    project folder so a restarted ``search run`` resumes. KerasTuner members this class
    relies on, as KerasTuner 1.4 defines them: ``_retry_queue``, ``_display``,
    ``_save_trial``, ``_get_trial_dir`` and ``_directory`` (set by the tuner).
    """

    def __init__(
        self,
        objective: str | keras_tuner.Objective | None = None,
        max_trials: int | None = None,
        *,
        study: optuna.Study | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
        pruner: optuna.pruners.BasePruner | None = None,
        timeout: float | None = None,
        listeners: Sequence[TrialListener] = (),
        heartbeat: Heartbeat | None = None,
        stale_trials: StaleTrials | None = None,
        max_local_trials: int | None = None,
        worker_name: str | None = None,
        target: float | None = None,
        device: str | None = None,
        constraints: Sequence[Constraint] = (),
        **kwargs: Any,
    ) -> None:
        several = _objectives(objective)
        super().__init__(objective=several[0] if several else objective, max_trials=max_trials, **kwargs)
        self.objectives: list[keras_tuner.Objective] = several or [self.objective]
        self.constraints = list(constraints)
        if len(self.objectives) > 1 and target is not None:
            raise ValueError("A target needs a single objective; several search their Pareto front.")
        self.study = _study_for(self.objectives, study, storage, study_name, sampler, pruner)
        self.timeout = timeout
        self.listeners = list(listeners)
        self.heartbeat = heartbeat
        self.stale_trials = stale_trials
        self.max_local_trials = max_local_trials
        self.worker_name = worker_name
        self.device = device
        self.target = target
        self._started = time.monotonic()
        self._running: dict[str, optuna.Trial] = {}  # KT trial id -> its live Optuna trial
        self._numbers: dict[str, int] = {}  # KT trial id -> its latest Optuna trial number
        self._pruned: dict[str, str] = {}  # KT trial id -> which pruner stopped it, when
        self._reports = EpochReports()
        self._costs: dict[str, dict[str, float]] = {}  # KT trial id -> its cost metrics (record_costs)
        self._feasible: dict[str, bool] = {}  # KT trial id -> kept its constraints (when there are some)

    # -- asking ------------------------------------------------------------------------
    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Asks Optuna for a trial and suggests the active hyperparameters in it."""
        otrial = self._running.get(trial_id) or self._ask(trial_id)
        values = distributions.suggest_values(self.hyperparameters, otrial)
        otrial.set_user_attr(keys.HP, retries.jsonable(values))
        return {"status": TrialStatus.RUNNING, "values": values}

    def _ask(self, trial_id: str | None = None) -> optuna.Trial:
        with warnings.catch_warnings():
            # Optuna warns that heartbeats are meant for optimize(); this oracle beats itself.
            warnings.filterwarnings("ignore", message="Heartbeat of storage")
            otrial = self.study.ask()
        if self.heartbeat is not None:  # first: only a trial that beat once can be found stale
            self.heartbeat.add(otrial._trial_id)
        trial_id = trial_id or self.trial_id_for(otrial.number)
        otrial.set_user_attr(keys.KT_TRIAL_ID, trial_id)
        self._track(trial_id, otrial)
        return otrial

    def _track(self, trial_id: str, otrial: optuna.Trial) -> None:
        self._reports.flush(trial_id, self._running.get(trial_id), last=True)  # to the attempt it replaces
        if self.worker_name:
            otrial.set_user_attr(keys.WORKER, self.worker_name)
        if self.device:
            otrial.set_user_attr(keys.DEVICE, self.device)
        if getattr(self, "_directory", None) is not None:  # set by the tuner; checkpoints live there
            otrial.set_user_attr(keys.TRIAL_DIR, self._get_trial_dir(trial_id))
        self._running[trial_id] = otrial
        self._numbers[trial_id] = otrial.number
        if self.heartbeat is not None:
            self.heartbeat.add(otrial._trial_id)

    @staticmethod
    def trial_id_for(number: int) -> str:
        """The KerasTuner trial id of a trial first asked as Optuna trial ``number``."""
        return f"{number:04d}"

    def _stop_reason(self) -> str | None:
        if self.timeout is not None and time.monotonic() - self._started > self.timeout:
            return "timeout"
        if self.target is not None and self._target_reached():
            return "target reached"
        if self.max_trials and self.trials_used() >= self.max_trials and not self._waiting_retries():
            return "budget"
        if self.max_local_trials is not None and len(self.start_order) >= self.max_local_trials:
            return "this worker's --trials"
        sampler = self.study.sampler
        if isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(self.study):
            return "grid exhausted"
        return None

    def _target_reached(self) -> bool:
        """Whether a completed trial of the study reached :attr:`target`."""
        done = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return any(reaches(t.value, self.target, self.objective.direction) for t in done)

    def _others_running(self) -> bool:
        """Whether trials of other processes run (only watched when heartbeats are on)."""
        if self.heartbeat is None or self.stale_trials is None:
            return False
        mine = {t.number for t in self._running.values()}
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return any(t.number not in mine for t in running)

    def _waiting_retries(self) -> bool:
        """Retries queued in Optuna (by ``search reconcile``) still to run; they cost no budget."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return any(keys.is_retry(t) for t in waiting)

    def trials_used(self) -> int:
        """Trials of the study that count against the budget (retries do not)."""
        return keys.trials_used(self.study.get_trials(deepcopy=False))

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> kt_trial.Trial:
        """Creates the next trial: a dead worker's trial, a retry, else a new Optuna trial."""
        if tuner_id in self.ongoing_trials:
            return self.ongoing_trials[tuner_id]
        adopted = self._adopt_stale(tuner_id)
        if adopted is not None:
            return adopted
        if self._retry_queue:
            trial = super().create_trial(tuner_id)  # pops the retry queue
            self._reask_same(trial, self._numbers.get(trial.trial_id))
            self._notify("trial_started", self, trial, self._running[trial.trial_id])
            return trial
        with ask_lock(self.study):  # no other worker checks the budget and asks meanwhile
            reason = self._stop_reason()
            otrial = None if reason else self._ask()
        if reason == "budget" and self._others_running():
            # Another worker's trial may still die; stay to retry it once it goes stale,
            # looking again within a second so `run --workers` returns soon after the last trial.
            time.sleep(min(self.heartbeat.interval, IDLE_POLL_S))
            return kt_trial.Trial(self.get_space(), trial_id=None, status=TrialStatus.IDLE)
        if reason:
            return kt_trial.Trial(self.get_space(), trial_id=None, status=TrialStatus.STOPPED)
        trial_id = self.trial_id_for(otrial.number)
        hps = self.hyperparameters.copy()
        hps.values = self.populate_space(trial_id)["values"]
        trial = kt_trial.Trial(hyperparameters=hps, trial_id=trial_id, status=TrialStatus.RUNNING)
        return self._register(tuner_id, trial)

    def _register(self, tuner_id: str, trial: kt_trial.Trial) -> kt_trial.Trial:
        """Makes ``trial`` (its Optuna trial already running) the tuner's next trial, as
        ``keras_tuner.Oracle.create_trial`` does, and tells the listeners."""
        self.tuner_ids.add(tuner_id)
        self.ongoing_trials[tuner_id] = trial
        self.trials[trial.trial_id] = trial
        self.start_order.append(trial.trial_id)
        self._save_trial(trial)
        self.save()
        self._display.on_trial_begin(trial)
        self._notify("trial_started", self, trial, self._running[trial.trial_id])
        return trial

    def _adopt_stale(self, tuner_id: str) -> kt_trial.Trial | None:
        """Fails the trials of dead workers and retries one of them here, same values."""
        if self.stale_trials is None:
            return None
        for frozen in self.stale_trials.collect(self.study):
            self._notify("trial_lost", self, frozen, LOST)
            self.stale_trials.pending.append(frozen)
        while self.stale_trials.pending:
            frozen = self.stale_trials.pending.pop(0)
            trial_id = frozen.user_attrs.get(keys.KT_TRIAL_ID)
            values = frozen.user_attrs.get(keys.HP)
            if trial_id is None or values is None or trial_id in self.trials:
                continue
            hps = self.hyperparameters.copy()
            hps.values = dict(values)
            trial = kt_trial.Trial(hyperparameters=hps, trial_id=trial_id, status=TrialStatus.RUNNING)
            self._reask_same(trial, frozen.number)
            return self._register(tuner_id, trial)
        return None

    def _reask_same(self, trial: kt_trial.Trial, old: int | None) -> None:
        """Retries ``trial`` in Optuna: fails its stale trial, starts one with the same values."""
        values = trial.hyperparameters.values
        self._track(trial.trial_id, retries.same_values_again(self.study, self.hyperparameters, trial.trial_id,
                                                              values, old))
        self._pruned.pop(trial.trial_id, None)

    # -- per-epoch reports ---------------------------------------------------------------
    def report(self, trial_id: str, step: int, logs: dict[str, float]) -> bool:
        """Reports one epoch's metrics; returns True when Optuna's pruner says stop, or the
        value reaches :attr:`target`.

        The objective's value reaches the storage before the pruner is asked, and in
        bursts while the pruner cannot act (:mod:`search.engine.reports`).
        """
        self._notify("epoch_ended", self, trial_id, step, logs)
        otrial = self._running.get(trial_id)
        value = logs.get(self.objective.name)
        if otrial is None or value is None or not math.isfinite(value) or self.several:
            return False
        if reaches(float(value), self.target, self.objective.direction):
            self._reports.add(trial_id, otrial, step, float(value), urgent=True)
            return True  # the answer: the trial stops here and completes (it is not pruned)
        may_act = pruner_may_act(self.study.pruner, step)
        self._reports.add(trial_id, otrial, step, float(value), urgent=may_act)
        if may_act and otrial.should_prune():
            self._pruned[trial_id] = f"{type(self.study.pruner).__name__} at step {step}"
            return True
        return False

    @property
    def several(self) -> bool:
        """Whether the study has several objectives (a Pareto front; no pruning)."""
        return len(self.objectives) > 1

    def pruned_reason(self, trial_id: str) -> str | None:
        """Which pruner stopped the trial, and at which step; None if it was not pruned."""
        return self._pruned.get(trial_id)

    def set_trial_user_attr(self, trial_id: str, key: str, value: Any) -> bool:
        """Sets a user attribute on the running Optuna trial of ``trial_id``; False if none runs."""
        otrial = self._running.get(trial_id)
        if otrial is not None:
            otrial.set_user_attr(key, value)
        return otrial is not None

    def record_costs(self, trial_id: str, costs: dict[str, float]) -> bool:
        """Records the harness's cost metrics of the running trial ``trial_id`` (``params``,
        ``model_bytes``, ``latency_ms``, :mod:`search.engine.costs`) as user attributes, kept
        to be told as objective values or checked against constraints; False if none runs."""
        otrial = self._running.get(trial_id)
        if otrial is None:
            return False
        self._costs.setdefault(trial_id, {}).update(costs)
        for name, value in costs.items():
            otrial.set_user_attr(name, value)
        return True

    def set_trial_constraint(self, trial_id: str, key: str, value: float) -> bool:
        """Sets an Optuna constraint (> 0: violated) on the running trial of ``trial_id``."""
        otrial = self._running.get(trial_id)
        if otrial is not None and key not in otrial.constraints:
            otrial.set_constraint(key, value)
        return otrial is not None

    def _check_consecutive_failures(self) -> None:
        failures.check_consecutive_failures((self.trials[i] for i in self.end_order),
                                            self.max_consecutive_failed_trials)

    # -- telling ---------------------------------------------------------------------------
    @keras_tuner.synchronized
    def end_trial(self, trial: kt_trial.Trial) -> None:
        """Ends the trial in KerasTuner, then tells Optuna COMPLETE, PRUNED or FAIL."""
        trial_id = trial.trial_id
        try:
            super().end_trial(trial)
        finally:
            self._tell(self.trials[trial_id])

    def _tell(self, trial: kt_trial.Trial) -> None:
        trial_id = trial.trial_id
        self._reports.flush(trial_id, self._running.get(trial_id), last=True)
        otrial = self._running.pop(trial_id, None)
        if otrial is None:
            return
        if self.heartbeat is not None:
            self.heartbeat.remove(otrial._trial_id)
        retrying = trial_id in self._retry_queue
        # Hyperparameters first declared in fit() join the values only now.
        otrial.set_user_attr(keys.HP, retries.jsonable(trial.hyperparameters.values))
        if trial.status == TrialStatus.COMPLETED and trial_id in self._pruned:
            state, value, reason = TrialState.PRUNED, None, self._pruned[trial_id]
            otrial.set_user_attr(keys.PRUNED_BY, reason)
        elif trial.status == TrialStatus.COMPLETED:
            state, value, reason = TrialState.COMPLETE, float(trial.score), None
            self._constrain(trial, otrial)
            missing = None
            if self.several:
                value, missing = self._values(trial)
            if missing:
                state, value, reason = TrialState.FAIL, None, f"objective {missing} was not measured"
                otrial.set_user_attr(keys.FAIL_REASON, reason)
        else:
            state, value = TrialState.FAIL, None
            reason = failures.reason_line(trial.message)
            if trial.score is not None and not math.isfinite(trial.score):
                reason = f"objective {self.objective.name} is {trial.score}"
            if retrying:
                reason = f"{reason} (will retry)"
            otrial.set_user_attr(keys.FAIL_REASON, reason[:1000])
        self.study.tell(otrial, value, state=state, skip_if_finished=True)
        self._costs.pop(trial_id, None)
        self._notify("trial_ended", self, trial, otrial.number, state, value, reason)

    def metric_value(self, trial: kt_trial.Trial, name: str) -> float | None:
        """The trial's value of ``name``: a cost metric as measured, the first objective as scored,
        any other metric at the trial's best epoch (its last epoch when none is known)."""
        costs = self._costs.get(trial.trial_id, {})
        if name in costs:
            return float(costs[name])
        if name == self.objective.name and trial.score is not None:
            return float(trial.score)
        if not trial.metrics.exists(name):
            return None
        history = trial.metrics.get_history(name)
        at = [obs for obs in history if obs.step == trial.best_step] or history[-1:]
        return float(at[0].mean()) if at else None

    def _values(self, trial: kt_trial.Trial) -> tuple[list[float] | None, str | None]:
        """Every objective's value of a completed trial; the name of the first one missing."""
        values = []
        for objective in self.objectives:
            value = self.metric_value(trial, objective.name)
            if value is None or not math.isfinite(value):
                return None, objective.name
            values.append(value)
        return values, None

    def _constrain(self, trial: kt_trial.Trial, otrial: optuna.Trial) -> None:
        """Sets each constraint's violation on the Optuna trial (> 0: infeasible)."""
        violations = [c.violation(self.metric_value(trial, c.metric)) for c in self.constraints]
        for constraint, violation in zip(self.constraints, violations):
            otrial.set_constraint(str(constraint), violation)
        if self.constraints:
            self._feasible[trial.trial_id] = all(v <= 0 for v in violations)

    def feasible(self, trial_id: str) -> bool | None:
        """Whether the last completed attempt of ``trial_id`` kept every constraint; None without constraints."""
        return self._feasible.get(trial_id)

    @keras_tuner.synchronized
    def abort_running(self, reason: str) -> None:
        """Tells Optuna FAIL for every running trial (on interrupt or crash)."""
        for trial_id in list(self._running):
            trial = self.trials.get(trial_id)
            if trial is not None:
                trial.status = TrialStatus.FAILED
                trial.message = reason
                self._tell(trial)
            else:
                self._reports.flush(trial_id, self._running.get(trial_id), last=True)
                self.study.tell(self._running.pop(trial_id), state=TrialState.FAIL, skip_if_finished=True)

    # -- queries -----------------------------------------------------------------------------
    def get_best_trials(self, num_trials: int = 1) -> list[kt_trial.Trial]:
        """The best completed trials; pruned trials never count as best. With several objectives:
        the trials of the study's Pareto front (feasible ones), best first by the first objective."""
        done = [
            t for t in self.trials.values()
            if t.status == TrialStatus.COMPLETED and t.trial_id not in self._pruned
            and t.score is not None
        ]
        if self.several:
            front = {t.user_attrs.get(keys.KT_TRIAL_ID) for t in self.study.best_trials}
            done = [t for t in done if t.trial_id in front]
        done.sort(key=lambda t: t.score, reverse=self.objective.direction == "max")
        return done[:num_trials]

    def optuna_number(self, trial_id: str) -> int | None:
        """The number of the Optuna trial that last ran ``trial_id``."""
        return self._numbers.get(trial_id)

    def _notify(self, event: str, *args: Any) -> None:
        notify(self.listeners, event, *args)

    def reload(self) -> None:
        """Reloads KerasTuner's state and reconciles its interrupted trials with Optuna.

        KerasTuner puts every trial that was running when the process ended in the
        retry queue. Its Optuna trial is failed here if still RUNNING (this trial
        folder belongs to one process at a time, so that process is gone); a trial that
        another worker already failed and retried is not retried twice.
        """
        super().reload()
        trials = None
        for trial_id in list(self._retry_queue):
            number = self._numbers.get(trial_id)
            if number is None:
                continue
            trials = trials or self.study.get_trials(deepcopy=False)
            frozen = trials[number]
            if frozen.state == TrialState.RUNNING:
                retries.fail_interrupted(self.study, frozen)
                self._notify("trial_lost", self, frozen, retries.INTERRUPTED)
            elif retries.retried_already(trials, number):
                self._retry_queue.remove(trial_id)
                self.trials[trial_id].status = TrialStatus.FAILED

    # -- state (saved beside KerasTuner's own, so reload() keeps the Optuna links) ----------
    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["optuna"] = {"numbers": self._numbers, "pruned": self._pruned}
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        saved = state.get("optuna", {})
        self._numbers = {k: int(v) for k, v in saved.get("numbers", {}).items()}
        self._pruned = dict(saved.get("pruned", {}))

