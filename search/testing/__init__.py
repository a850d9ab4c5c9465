"""Shared contract checks for the project's components (used by the tests)."""

from __future__ import annotations

from search.testing.layer_contract import (
    LayerContractError,
    ReloadJob,
    check_layer,
    verify_reload_in_fresh_process,
)
from search.testing.space_contract import SpaceCheck, SpaceContractError, check_space

__all__ = [
    "LayerContractError",
    "ReloadJob",
    "SpaceCheck",
    "SpaceContractError",
    "check_layer",
    "check_space",
    "verify_reload_in_fresh_process",
]
