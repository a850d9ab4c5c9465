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


def _rows(name: str, value: Any) -> int:
    """The number of rows of ``value``, or of each part of a list of inputs, which must agree."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    if not parts:
        raise DataError(f"load_data returned an empty list as {name}; expected an array or a list of arrays.")
    counts = []
    for i, part in enumerate(parts):
        where = f"{name}[{i}]" if isinstance(value, (list, tuple)) else name
        shape = np.shape(part)
        if not shape:
            raise DataError(f"load_data returned {where} that is a single number; expected an array of rows.")
        counts.append((where, shape[0]))
    for where, rows in counts[1:]:
        if rows != counts[0][1]:
            raise DataError(f"load_data returned {where} with {rows} rows but {counts[0][0]} with {counts[0][1]}; "
                            f"expected every part of {name} to have the same number of rows.")
    return counts[0][1]


def _check_rows(arrays: dict[str, Any]) -> None:
    """x and y (x_val and y_val) have as many rows, and neither part is empty."""
    rows = {name: _rows(name, value) for name, value in arrays.items()}
    for a, b in (("x", "y"), ("x_val", "y_val")):
        if rows[a] != rows[b]:
            raise DataError(f"load_data returned {a} with {rows[a]} rows but {b} with {rows[b]}; "
                            "expected the same number of rows.")
    for name, part in (("x", "training"), ("x_val", "validation")):
        if not rows[name]:
            raise DataError(f"load_data returned {name} with 0 rows; expected at least one {part} row.")


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
    arrays = {"x": x, "y": y, "x_val": x_val, "y_val": y_val}
    for name, value in arrays.items():
        _check_array(name, value)
    _check_rows(arrays)
    return Data(x, y, x_val, y_val)
