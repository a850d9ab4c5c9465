"""Finding a stored study: by name in a storage, or a clear line naming the studies there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from search import storage as storage_mod
from search.errors import StudyNotFoundError

if TYPE_CHECKING:
    import optuna

    from search.storage import Location


def open_study(name: str, loc: Location) -> optuna.Study:
    """Loads study ``name`` from the location's storage, or says which studies exist."""
    return require_study(name, loc, storage_mod.open_storage(loc.storage_url))


def require_study(name: str, loc: Location, ostorage: optuna.storages.BaseStorage) -> optuna.Study:
    """Loads study ``name`` from an open storage, or says which studies exist there."""
    import optuna

    names = study_names(ostorage)
    if name not in names:
        listed = ", ".join(names) or "none"
        raise StudyNotFoundError(
            f"Unknown study {name!r} in {storage_mod.mask_password(loc.storage_url)}; studies there: {listed}."
        )
    return optuna.load_study(study_name=name, storage=ostorage)


def study_names(ostorage: optuna.storages.BaseStorage) -> list[str]:
    """The names of the studies in an open storage, sorted."""
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(ostorage, include_best_trial=False))
