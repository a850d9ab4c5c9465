"""The retrains of ``search confirm``: one trial's configuration trained with a fresh seed, leanly.

A :class:`Trainer` trains many retrains in one process: the space is loaded once and each fold's
data once (the data seed is the study's, so every retrain of a fold sees the same split), and a
retrain costs what a bare ``build`` + ``fit`` costs plus Keras's session reset without its full
garbage collection and the drop of the graphs the retrain traced. Before each build the session
is cleared and ``keras.utils.set_random_seed(seed)`` called, so a retrain's result depends on its
seed alone, not on what the process trained before: a resumed confirmation, or one spread over
``--workers``, trains the same retrains.

Run as ``python -m search.study.confirm_train`` it is a worker process of ``search confirm
--workers N``: its first stdin line is the :class:`Job` as JSON, each further line a
:class:`Task`; for each it writes one JSON line, the :class:`Outcome` (or ``{"error": ...}``,
then it exits). It writes to no store: the process that started it records what it returns.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.space import Data, Space

FOLD_SETTING = "fold"  # the space setting that `--cv` runs over (search.baseline's rule too)


@dataclass(frozen=True)
class Job:
    """What every retrain of one confirmation shares."""

    space_path: str
    settings: dict[str, Any]  # the study's
    epochs: int
    data_seed: int
    objective: str


@dataclass(frozen=True)
class Task:
    """One retrain: trial ``number``'s values trained with ``seed`` on ``fold`` (None: the study's split)."""

    number: int
    values: dict[str, Any]
    seed: int
    fold: Any = None


@dataclass(frozen=True)
class Outcome:
    """A finished retrain: every metric per epoch (Keras's history)."""

    number: int
    seed: int
    fold: Any
    history: dict[str, list[float]]
    seconds: float


class Trainer:
    """Trains :class:`Task` after :class:`Task` of one :class:`Job` in this process."""

    def __init__(self, job: Job) -> None:
        from search.space.loader import load_space

        self.job = job
        self.space = load_space(job.space_path)
        self._folds: dict[Any, tuple[Space, Any, Data, dict[str, Any]]] = {}

    def _prepared(self, fold: Any) -> tuple[Space, Any, Data, dict[str, Any]]:
        """The space, its hypermodel, the data and the settings of ``fold``, loaded once."""
        if fold not in self._folds:
            from search.space.data import load_data

            settings = {**self.job.settings, **({} if fold is None else {FOLD_SETTING: fold})}
            space = self.space.with_settings(settings)
            self._folds[fold] = (space, space.hypermodel(), load_data(space, self.job.data_seed, settings), settings)
        return self._folds[fold]

    def train(self, task: Task) -> Outcome:
        """Builds and trains the task's configuration for the job's epochs."""
        import keras

        from search.engine.tuner import traced_graphs_dropped
        from search.export.weights import restore_hp

        space, hypermodel, data, settings = self._prepared(task.fold)
        hp = restore_hp({**task.values, **settings}, settings)
        started = time.perf_counter()
        keras.backend.clear_session(free_memory=False)  # a full collection costs more than short retrains
        keras.utils.set_random_seed(task.seed)
        with traced_graphs_dropped():
            model = hypermodel.build(hp)
            history = hypermodel.fit(hp, model, **data.fit_kwargs(), epochs=self.job.epochs, verbose=0)
        logs = getattr(history, "history", None) or {}
        if self.job.objective not in logs:
            from search.errors import StudyFailedError

            raise StudyFailedError(f"The retrained model of trial {task.number} logs no {self.job.objective!r} "
                                   f"(it logs: {', '.join(logs) or 'nothing'}).")
        return Outcome(task.number, task.seed, task.fold, {k: [float(v) for v in vs] for k, vs in logs.items()},
                       time.perf_counter() - started)


def _serve() -> int:
    """The worker loop: the job, then one outcome line per task line; 1 after a failed retrain."""
    from search._quiet import quiet_imports, quiet_warnings

    replies = os.fdopen(os.dup(1), "w")  # the protocol's own stream: stray prints go to stderr
    os.dup2(2, 1)
    quiet_warnings()
    quiet_imports()
    first = sys.stdin.readline()
    if not first.strip():
        return 0
    trainer = Trainer(Job(**json.loads(first)))
    for line in sys.stdin:
        try:
            reply = asdict(trainer.train(Task(**json.loads(line))))
        except Exception as e:  # noqa: BLE001 - the parent reports it in one line
            message = next((part.strip() for part in str(e).splitlines() if part.strip()), "")
            replies.write(json.dumps({"error": f"{type(e).__name__}: {message}"}) + "\n")
            replies.flush()
            return 1
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    code = _serve()
    sys.stderr.flush()
    os._exit(code)  # skip TensorFlow's slow finalization (search.cli.console does the same)
