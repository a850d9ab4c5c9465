"""``--set NAME=VALUE``: a space setting or a fixed hyperparameter, typed and checked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search.errors import SpaceError, UsageError

if TYPE_CHECKING:
    import keras_tuner
    from keras_tuner.engine.hyperparameters import HyperParameter

    from search.space.loader import Space

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _coerce_like(raw: str, examples: tuple | list) -> Any:
    """The value among ``examples`` whose text is ``raw`` (None when there is none)."""
    for value in examples:
        if str(value) == raw or (isinstance(value, bool) and raw.lower() in (_TRUE if value else _FALSE)):
            return value
    for value in examples:  # numeric spellings: "1e-3" for 0.001
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                if float(raw) == float(value):
                    return value
            except ValueError:
                pass
    return None


def coerce_hp(hp: HyperParameter, raw: str) -> Any:
    """Types ``raw`` for KerasTuner hyperparameter ``hp`` and checks it is inside its range."""
    from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed, Float, Int

    bad = f"Invalid --set {hp.name}={raw}"
    if isinstance(hp, Boolean):
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise UsageError(f"{bad}; accepted: true or false.")
    if isinstance(hp, Choice):
        value = _coerce_like(raw, hp.values)
        if value is None:
            raise UsageError(f"{bad}; accepted: {', '.join(map(str, hp.values))}.")
        return value
    if isinstance(hp, Fixed):
        value = _coerce_like(raw, (hp.value,))
        if value is not None:
            return value
        try:
            return type(hp.value)(raw)
        except (TypeError, ValueError):
            raise UsageError(f"{bad}; expected a {type(hp.value).__name__}.") from None
    if isinstance(hp, (Int, Float)):
        kind = int if isinstance(hp, Int) else float
        try:
            value = kind(raw)
        except ValueError:
            raise UsageError(f"{bad}; expected {'an integer' if kind is int else 'a number'}.") from None
        if not hp.min_value <= value <= hp.max_value:
            raise UsageError(f"{bad}; accepted: {hp.min_value} to {hp.max_value}.")
        return value
    raise UsageError(f"{bad}: hyperparameter type {type(hp).__name__} cannot be set.")


_DECLARED: dict[tuple, Any] = {}


def declared_space(space: Space, settings: dict[str, Any]) -> keras_tuner.HyperParameters:
    """The hyperparameters the space declares when built with ``settings``.

    One model build per space file content and settings in a process: ``--set``
    checking and the space fingerprint both need it. Callers only read the result.
    """
    key = (str(space.path), space.source_hash, repr(sorted(settings.items())))
    if key not in _DECLARED:
        _DECLARED[key] = _build_declared(space, settings)
    return _DECLARED[key]


def _build_declared(space: Space, settings: dict[str, Any]) -> keras_tuner.HyperParameters:
    import keras
    import keras_tuner

    from search.space.hypermodel import NotATrainableModel

    hp = keras_tuner.HyperParameters()
    for name, value in settings.items():
        hp.Fixed(name, value)
    try:
        space.hypermodel().declare_hyperparameters(hp)
        space.hypermodel().build(hp)
    except NotATrainableModel as e:  # says what build returned
        raise SpaceError(str(e)) from None
    except Exception as e:  # the space's own bug: say where
        raise SpaceError(f"build(hp) of space {space.name!r} failed with its defaults: {type(e).__name__}: {e}") from None
    finally:
        keras.backend.clear_session()
    return hp


def fixed_space(space: Space, settings: dict[str, Any], fixed: dict[str, Any]) -> keras_tuner.HyperParameters:
    """The oracle's starting hyperparameters: the settings and the ``--set`` values as ``hp.Fixed``.

    KerasTuner tells hyperparameters apart by name *and* conditions: a value fixed for a
    hyperparameter that ``build`` declares inside a ``conditional_scope`` must be a
    ``Fixed`` under the same conditions, declared after its parents (so the walk that
    suggests values meets the parents first), or the conditional one is sampled anyway.
    So when a fixed hyperparameter is conditional, the whole declared space is
    registered in ``build``'s order, with the fixed ones replaced.
    """
    import keras_tuner
    from keras_tuner.engine.hyperparameters import Fixed

    hp = keras_tuner.HyperParameters()
    for name, value in settings.items():
        hp.Fixed(name, value)
    declared = declared_space(space, settings).space if fixed else []
    if not any(d.conditions for d in declared if d.name in fixed):
        for name, value in fixed.items():
            hp.Fixed(name, value)
        return hp
    for d in declared:
        if d.name not in settings:
            hp.merge([Fixed(d.name, fixed[d.name], conditions=d.conditions) if d.name in fixed else d])
    return hp


def checking_space(space: Space, settings: dict[str, Any], fixed: dict[str, Any]) -> keras_tuner.HyperParameters:
    """The space's declared hyperparameters with the ``--set`` values Fixed: what enqueued and
    suggested configurations are checked against (a value outside it is refused before a trial runs)."""
    import keras_tuner
    from keras_tuner.engine.hyperparameters import Fixed

    out = keras_tuner.HyperParameters()
    out.merge([Fixed(h.name, fixed[h.name], conditions=h.conditions) if h.name in fixed else h
               for h in declared_space(space, settings).space])
    return out


def agreeing(suggested: Any, fixed: dict[str, Any]) -> Any:
    """The suggested configurations that agree with every ``--set`` value: the user's fixed values
    come first, and a configuration the author suggested with another value is not the same one."""
    if not fixed or not isinstance(suggested, (list, tuple)):
        return suggested
    return [c for c in suggested if not isinstance(c, dict) or all(c[k] == v for k, v in fixed.items() if k in c)]


def resolve_sets(space: Space, sets: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits ``--set`` pairs into space settings and fixed hyperparameters, typed and checked.

    Returns:
        ``(settings, fixed)``: every setting of the space (defaults filled in) and the
        hyperparameters the user fixed.
    """
    settings = space.default_settings()
    for name, raw in sets.items():
        if name in space.settings:
            value = _coerce_like(raw, space.settings[name])
            if value is None:
                accepted = ", ".join(map(str, space.settings[name]))
                raise UsageError(f"Invalid --set {name}={raw}; accepted: {accepted}.")
            settings[name] = value
    hp_sets = {k: v for k, v in sets.items() if k not in space.settings}
    if not hp_sets:
        return settings, {}
    declared = {hp.name: hp for hp in declared_space(space, settings).space}
    fixed = {}
    for name, raw in hp_sets.items():
        if name not in declared:
            names = sorted({*space.settings, *(n for n in declared if n not in settings)})
            raise UsageError(f"Unknown --set name {name!r} for space {space.name!r}; accepted: {', '.join(names)}.")
        fixed[name] = coerce_hp(declared[name], raw)
    return settings, fixed


def describe_hp(hp: HyperParameter) -> str:
    """One readable line for a hyperparameter: name, kind, range or choices, default, condition."""
    from keras_tuner.engine.hyperparameters import Boolean, Choice, Fixed

    if isinstance(hp, Fixed):
        text = f"{hp.name}: fixed {hp.value}"
    elif isinstance(hp, Boolean):
        text = f"{hp.name}: true | false (default {str(hp.default).lower()})"
    elif isinstance(hp, Choice):
        text = f"{hp.name}: {' | '.join(map(str, hp.values))} (default {hp.default})"
    else:
        kind = "int" if type(hp).__name__ == "Int" else "float"
        step = f", step {hp.step}" if hp.step else ""
        scale = "" if hp.sampling == "linear" else f", {hp.sampling}"
        text = f"{hp.name}: {kind} {hp.min_value} to {hp.max_value}{step}{scale} (default {hp.default})"
    conditions = getattr(hp, "conditions", [])
    if conditions:
        text += " when " + " and ".join(f"{c.name} in {{{', '.join(map(str, c.values))}}}" for c in conditions)
    return text


def describe_space(space: Space) -> list[str]:
    """``search spaces``: the space's first docstring line, objective, settings and hyperparameters."""
    doc = (space.module.__doc__ or "").strip().splitlines()
    lines = [f"{space.name}: {doc[0] if doc else ''}",
             f"  objective {space.objective} ({space.direction}), epochs {space.epochs}"]
    lines += [f"  setting {key}: {' | '.join(map(str, values))} (default {values[0]})"
              for key, values in space.settings.items()]
    lines += [f"  {describe_hp(hp)}" for hp in declared_space(space, space.default_settings()).space
              if hp.name not in space.settings]
    return lines
