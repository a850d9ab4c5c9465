"""Loading a space's data and checking it before anything is written."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from search.errors import DataError

if TYPE_CHECKING:
    from search.space.loader import Space


@dataclass(frozen=True)
class Data:
    """Training and validation arrays (``x`` may be a list of arrays for several inputs)."""

    x: Any
    y: Any
    x_val: Any
    y_val: Any

    def fit_kwargs(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "validation_data": (self.x_val, self.y_val)}


def _check_array(name: str, value: Any) -> None:
    parts = value if isinstance(value, (list, tuple)) else [value]
    for i, part in enumerate(parts):
        where = f"{name}[{i}]" if isinstance(value, (list, tuple)) else name
        try:
            array = np.asarray(part)
        except Exception as e:
            raise DataError(f"load_data returned {where} that is not an array: {e}") from None
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise DataError(f"load_data returned non-numeric {where} (dtype {array.dtype}); expected numbers.")
        if array.size and not np.isfinite(array).all():
            bad = int(np.size(array) - np.isfinite(array).sum())
            raise DataError(f"load_data returned {where} with {bad} NaN or infinite values; expected finite numbers.")


def load_data(space: Space, seed: int, settings: dict[str, Any]) -> Data:
    """Calls ``space.load_data(seed, **settings)`` and checks what it returns."""
    fn = space.module.load_data
    accepted = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in settings.items() if k in accepted or any(
        p.kind == p.VAR_KEYWORD for p in accepted.values())}
    out = fn(seed, **kwargs)
    if isinstance(out, dict):
        try:
            x, y = out["x"], out["y"]
            x_val, y_val = out["validation_data"]
        except (KeyError, TypeError, ValueError):
            raise DataError(
                "load_data must return {'x': ..., 'y': ..., 'validation_data': (x_val, y_val)} "
                f"or ((x, y), (x_val, y_val)); got a dict with keys {sorted(out)}."
            ) from None
    else:
        try:
            (x, y), (x_val, y_val) = out
        except (TypeError, ValueError):
            raise DataError(
                "load_data must return ((x, y), (x_val, y_val)) or a dict with x, y and "
                f"validation_data; got {type(out).__name__}."
            ) from None
    for name, value in (("x", x), ("y", y), ("x_val", x_val), ("y_val", y_val)):
        _check_array(name, value)
    return Data(x, y, x_val, y_val)
