"""Loading a search space: a Python module with ``build(hp)`` and ``load_data(seed)``.

A space module defines:

- ``build(hp)``: returns a compiled Keras model; or a ``keras_tuner.HyperModel`` instead:
  a module-level instance, whatever its name (``hypermodel = MyHyperModel()``, also when
  the file only keeps ``build = hypermodel.build``), is the space, its ``fit`` included
  (searching a batch size there works); ``HYPERMODEL = ...`` names the one to use when
  the file holds two (two and no ``HYPERMODEL`` are refused). A module-level ``fit``
  trains it when the HyperModel does not override ``fit``;
- ``load_data(seed, **settings)``: returns ``{"x": ..., "y": ..., "validation_data": (x, y)}``
  or ``((x, y), (x_val, y_val))``;
- ``OBJECTIVE``: the metric to optimise, ``"val_loss"`` or ``("val_accuracy", "max")``
  (default ``"val_loss"``, minimised; ``val_*`` names minimise unless they are
  accuracies/AUC-like, as in KerasTuner), or a function ``OBJECTIVE(settings)``
  returning one of those when the metric depends on a setting (resolved by
  :meth:`Space.with_settings`; ``load_space`` resolves it with the defaults);
  A list of those, ``[("val_accuracy", "max"), ("params", "min")]``, asks for several
  objectives: the study searches their Pareto front (the harness's cost metrics ``params``,
  ``model_bytes`` and ``latency_ms`` may be named without the model logging them);
- optionally ``CONSTRAINTS``: bounds every trial must keep to be feasible, such as
  ``["params<=20000", "latency_ms<2"]`` (:mod:`search.engine.objectives`);
- ``EPOCHS``: default epochs per trial (default 10);
- optionally ``SETTINGS``: ``{name: [default, other, ...]}`` fixed, non-searched
  settings chosen with ``--set name=value``: each is passed to ``load_data`` and
  declared in ``hp`` as ``hp.Fixed``, so ``build`` reads it with ``hp.get(name)``;
- optionally ``fit(hp, model, *args, **kwargs)`` to train differently (batch size
  from ``hp``, extra callbacks), returning the ``History``;
- optionally ``TRIAL_HOOKS``: :class:`~search.engine.hooks.TrialHook` objects attached to
  every trial, and ``plots(model, data[, hp])``: the space's own figures of each trial;
- optionally ``SUGGESTED``: configurations the author believes in (dicts of hyperparameter
  values, each naming some or all of them), or a function ``SUGGESTED(settings)`` returning
  them; a new study runs them first;

``search run NAME`` finds ``spaces/NAME.py``; ``search run path/to/space.py`` any file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable

from search.errors import SpaceError
from search.space.data import Data

if TYPE_CHECKING:
    import keras
    import keras_tuner

    from search.engine.hooks import TrialHook

DEFAULT_EPOCHS = 10


@dataclass(frozen=True)
class Space:
    """A loaded search space."""

    name: str
    path: Path
    module: ModuleType
    objective: str  # the first objective (the one that picks a trial's best epoch)
    direction: str
    epochs: int
    settings: dict[str, tuple] = field(default_factory=dict)
    objectives: tuple[tuple[str, str], ...] = ()  # every (metric, direction); () means the one above
    constraints: tuple[str, ...] = ()  # the space's CONSTRAINTS, as text

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", ((self.objective, self.direction),))

    @property
    def several(self) -> bool:
        """Whether the space searches several objectives (a Pareto front)."""
        return len(self.objectives) > 1

    @property
    def build(self) -> Callable:
        """``build(hp)``: the module's HyperModel's, else its function."""
        found = module_hypermodel(self.module, self.path)
        return found[1].build if found else self.module.build

    @property
    def fit(self) -> Callable | None:
        """``fit(hp, model, ...)``: the module's HyperModel's own, else its function (None: ``model.fit``)."""
        found = module_hypermodel(self.module, self.path)
        if found and _overrides_fit(found[1]):
            return found[1].fit
        return getattr(self.module, "fit", None)

    @property
    def source_hash(self) -> str:
        """SHA-256 of the space file's content."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def default_settings(self) -> dict[str, Any]:
        return {name: values[0] for name, values in self.settings.items()}

    def with_settings(self, settings: dict[str, Any]) -> Space:
        """This space with its objective resolved for ``settings`` (a callable ``OBJECTIVE``)."""
        return self.with_objectives(_objectives(self.module, self.path, settings))

    def with_objectives(self, objectives: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> Space:
        """This space with ``objectives`` (``--objective``, or a study's stored ones) in place of its own."""
        objectives = tuple((str(n), str(d)) for n, d in objectives)
        return replace(self, objective=objectives[0][0], direction=objectives[0][1], objectives=objectives)

    def hypermodel(self) -> keras_tuner.HyperModel:
        """The space as a ``keras_tuner.HyperModel``."""
        from search.space.hypermodel import SpaceHyperModel

        found = module_hypermodel(self.module, self.path)
        if found and (_overrides_fit(found[1]) or not callable(getattr(self.module, "fit", None))):
            return found[1]
        return SpaceHyperModel(self)  # build(hp) and fit: the module's functions (or its HyperModel's build)

    def suggested(self, settings: dict[str, Any]) -> Any:
        """The module's optional ``SUGGESTED`` for ``settings`` (checked against the space by
        :func:`search.engine.warm.check_configs`); [] without one."""
        suggested = getattr(self.module, "SUGGESTED", None) or []
        return suggested(settings) if callable(suggested) else suggested

    def trial_hooks(self) -> list[TrialHook]:
        """The space's own hooks: its module's optional ``TRIAL_HOOKS`` list."""
        return list(getattr(self.module, "TRIAL_HOOKS", ()) or ())

    def figures(self, model: keras.Model, x: Any, y: Any, x_val: Any, y_val: Any,
                hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        """The space's own figures of a trained model: its module's optional ``plots(model, data)``
        or ``plots(model, data, hp)`` (``data`` a :class:`Data`), as ``{name: figure}`` ({} without one)."""
        draw = getattr(self.module, "plots", None)
        if not callable(draw):
            return {}
        data = Data(x, y, x_val, y_val)
        figures = draw(model, data, hp) if "hp" in inspect.signature(draw).parameters else draw(model, data)
        if not isinstance(figures or {}, dict):
            raise TypeError(f"the space's plots() returned {type(figures).__name__}; expected a dict of name -> Figure")
        return figures or {}


def spaces_dir() -> Path:
    """The folder of the shipped spaces (the ``spaces`` package)."""
    spec = importlib.util.find_spec("spaces")
    if spec is None or not spec.submodule_search_locations:
        raise SpaceError("The 'spaces' package is not installed; reinstall the project.")
    return Path(next(iter(spec.submodule_search_locations)))


def list_spaces() -> list[str]:
    """Names of the shipped spaces."""
    return sorted(p.stem for p in spaces_dir().glob("*.py") if not p.stem.startswith("_"))


def _resolve(spec: str) -> Path:
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise SpaceError(f"Space file {spec!r} does not exist.")
        return path.resolve()
    path = spaces_dir() / f"{spec}.py"
    if not path.is_file():
        raise SpaceError(f"Unknown space {spec!r}; accepted: {', '.join(list_spaces())} or a path to a .py file.")
    return path


def _import(path: Path) -> ModuleType:
    module_name = f"search_space_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise SpaceError(f"Space {str(path)!r} has a syntax error at line {e.lineno}: {e.msg}.") from None
    except Exception as e:  # a space's import-time error is the user's to fix: say which
        raise SpaceError(f"Space {str(path)!r} failed to import: {type(e).__name__}: {e}") from None
    sys.modules[module_name] = module
    return module


def _objectives(module: ModuleType, path: Path, settings: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    from search.engine.objectives import check_objectives

    objective = getattr(module, "OBJECTIVE", "val_loss")
    if callable(objective) and not hasattr(objective, "direction"):
        defaults = {k: v[0] for k, v in (getattr(module, "SETTINGS", None) or {}).items()}
        try:
            objective = objective({**defaults, **(settings or {})})
        except Exception as e:  # the space's own bug: say where
            raise SpaceError(f"Space {str(path)!r}: OBJECTIVE(settings) failed: {type(e).__name__}: {e}") from None
    one = _one_objective(objective)
    if one is not None:
        return [one]
    several = [_one_objective(o) for o in objective] if isinstance(objective, (list, tuple)) else [None]
    if several and None not in several:
        try:
            check_objectives(several)
        except Exception as e:
            raise SpaceError(f"Space {str(path)!r}: OBJECTIVE: {e}") from None
        return several
    raise SpaceError(
        f"Space {str(path)!r}: OBJECTIVE={objective!r} is not accepted; use a metric name, "
        "(name, 'min'|'max'), a keras_tuner.Objective, a list of those (several objectives), "
        "or a function of the settings returning one."
    )


def _one_objective(objective: Any) -> tuple[str, str] | None:
    """One objective as ``(name, direction)``; None when ``objective`` is not one."""
    from search.engine.objectives import default_direction

    if isinstance(objective, str):
        return objective, default_direction(objective)
    if hasattr(objective, "name") and hasattr(objective, "direction") and not hasattr(objective, "objectives"):
        return str(objective.name), str(objective.direction)
    if isinstance(objective, (tuple, list)) and len(objective) == 2 and objective[1] in ("min", "max") \
            and isinstance(objective[0], str):
        return objective[0], objective[1]
    return None


def _constraints(module: ModuleType, path: Path) -> tuple[str, ...]:
    from search.engine.objectives import parse_constraint

    given = getattr(module, "CONSTRAINTS", ()) or ()
    if isinstance(given, str) or not isinstance(given, (list, tuple)):
        raise SpaceError(f"Space {str(path)!r}: CONSTRAINTS must be a list of texts such as 'params<=20000'.")
    try:
        return tuple(str(parse_constraint(str(c))) for c in given)
    except Exception as e:
        raise SpaceError(f"Space {str(path)!r}: CONSTRAINTS: {e}") from None


def module_hypermodel(module: ModuleType, path: Path) -> tuple[str, keras_tuner.HyperModel] | None:
    """``(name, instance)`` of the module's HyperModel: ``HYPERMODEL``, else the one
    ``keras_tuner.HyperModel`` instance among its names or owning its ``build``; None without one.

    Two instances and no ``HYPERMODEL`` are refused. A module that never imported KerasTuner
    holds no instance, so KerasTuner (and TensorFlow) is not imported to look.
    """
    explicit = getattr(module, "HYPERMODEL", None)
    if explicit is not None:
        return "HYPERMODEL", explicit
    kt = sys.modules.get("keras_tuner")
    if kt is None:
        return None
    found: dict[int, tuple[str, Any]] = {}
    for name, value in vars(module).items():
        if isinstance(value, kt.HyperModel):
            found.setdefault(id(value), (name, value))
    owner = getattr(getattr(module, "build", None), "__self__", None)  # build = MyHyperModel().build
    if isinstance(owner, kt.HyperModel):
        found.setdefault(id(owner), ("build", owner))
    if len(found) > 1:
        names = [name for name, _ in found.values()]
        count = {2: "two", 3: "three"}.get(len(names), str(len(names)))
        raise SpaceError(f"Space {str(path)!r} defines {count} HyperModels, {', '.join(names[:-1])} and "
                         f"{names[-1]}; keep one, or name the one to use HYPERMODEL.")
    return next(iter(found.values()), None)


def _overrides_fit(hypermodel: Any) -> bool:
    """Whether the HyperModel trains its own way (``keras_tuner.HyperModel.fit`` is ``model.fit``)."""
    import keras_tuner

    return "fit" in vars(hypermodel) or getattr(type(hypermodel), "fit", None) is not keras_tuner.HyperModel.fit


def load_space(spec: str) -> Space:
    """Loads a space by name (``spaces/NAME.py``) or by path, and checks its contract."""
    path = _resolve(spec)
    module = _import(path)
    hypermodel = module_hypermodel(module, path)  # refuses two HyperModels
    if not callable(getattr(module, "build", None)) and hypermodel is None:
        raise SpaceError(f"Space {str(path)!r} defines no build(hp) function (nor HYPERMODEL).")
    if not callable(getattr(module, "load_data", None)):
        raise SpaceError(f"Space {str(path)!r} defines no load_data(seed) function.")
    epochs = getattr(module, "EPOCHS", DEFAULT_EPOCHS)
    if not isinstance(epochs, int) or epochs < 1:
        raise SpaceError(f"Space {str(path)!r}: EPOCHS must be a positive integer, got {epochs!r}.")
    settings = getattr(module, "SETTINGS", {}) or {}
    if not isinstance(settings, dict) or not all(isinstance(v, (list, tuple)) and v for v in settings.values()):
        raise SpaceError(f"Space {str(path)!r}: SETTINGS must map names to non-empty lists of values.")
    objectives = _objectives(module, path)
    return Space(
        name=path.stem,
        path=path,
        module=module,
        objective=objectives[0][0],
        direction=objectives[0][1],
        epochs=epochs,
        settings={k: tuple(v) for k, v in settings.items()},
        objectives=tuple(objectives),
        constraints=_constraints(module, path),
    )
