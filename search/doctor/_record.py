"""Where the doctor writes what it finds: Optuna user attributes and MLflow tags of the trial."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from search.records import keys

if TYPE_CHECKING:
    import keras

    from search.engine.hooks import TrialContext

def record(context: TrialContext, attrs: dict[str, Any], tags: dict[str, str]) -> None:
    """Writes Optuna user attributes (on the running trial) and MLflow tags (on its run)."""
    setter = getattr(context.oracle, "set_trial_user_attr", None)
    if setter is not None:
        for key, value in attrs.items():
            setter(context.trial_id, key, value)
    context.set_tags(tags)


def add_event(context: TrialContext, event: str, epoch: int, detail: str) -> None:
    """Appends ``{event, epoch, detail}`` to the trial's events and rewrites them.

    Events live on the context (one per trial execution), so a retry starts empty.
    """
    events = vars(context).setdefault("doctor_events", [])
    events.append({"event": event, "epoch": epoch, "detail": detail})
    record(context, {keys.EVENTS: events}, {keys.TAG_EVENTS: json.dumps(events)})


def variable_owners(model: keras.Model) -> dict[int, keras.layers.Layer]:
    """``id(variable) -> layer`` for every trainable variable: its innermost owning layer."""
    owners: dict[int, keras.layers.Layer] = {}
    sizes: dict[int, int] = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        held = layer.trainable_variables
        for v in held:
            if id(v) not in owners or len(held) < sizes[id(v)]:
                owners[id(v)], sizes[id(v)] = layer, len(held)
    return owners


def describe_variable(variable: keras.Variable, owners: dict[int, keras.layers.Layer]) -> str:
    """``"bump/sigma (layer bump: Bump)"``: the variable's path with its layer and class."""
    layer = owners.get(id(variable))
    path = getattr(variable, "path", variable.name)
    if layer is None:
        return path
    return f"{path} (layer {layer.name}: {type(layer).__name__})"


def first_batch(data: Any, size: int) -> Any:
    """The first ``size`` rows of an array or of every array in a list/tuple/dict."""
    import keras

    return keras.tree.map_structure(lambda a: a[:size], data)


def rows(data: Any) -> int:
    """Number of rows of an array or of the first array of a structure."""
    import keras

    return len(keras.tree.flatten(data)[0])


def is_arrays(data: Any) -> bool:
    """True when ``data`` is an array or a list/tuple/dict of arrays (sliceable rows)."""
    import keras

    if data is None:
        return False
    try:
        leaves = keras.tree.flatten(data)
    except Exception:
        return False
    return bool(leaves) and all(hasattr(a, "shape") and hasattr(a, "__getitem__") and len(a.shape) for a in leaves)


def batch_size(params: dict | None, n: int) -> int:
    """The batch size fit uses: ``n`` rows over ``params['steps']`` steps (32 if unknown)."""
    steps = (params or {}).get("steps")
    return max(1, math.ceil(n / steps)) if steps else min(32, n)


def nonfinite_word(value: float) -> str:
    """``NaN``, ``inf`` or ``-inf``."""
    return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
