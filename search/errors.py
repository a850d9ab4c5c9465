"""The project's exceptions.

Every error a user can cause is a :class:`SearchError`; the CLI prints its message as
one line and exits with its ``exit_code`` (2 for bad usage or input, 1 for failures).
Subclasses also inherit the matching built-in so callers can catch ``ValueError`` etc.
"""

from __future__ import annotations


class SearchError(Exception):
    """Base class of the project's own errors."""

    exit_code = 2


class UsageError(SearchError, ValueError):
    """A bad option or argument: names the value and what is accepted."""


class SpaceError(SearchError, ValueError):
    """A search space that cannot be found, imported or does not keep the contract."""


class DataError(SearchError, ValueError):
    """Data returned by a space's ``load_data`` that cannot be trained on."""


class StorageError(SearchError, ValueError):
    """An Optuna storage or MLflow tracking URI that is malformed or unreachable."""


class StudyNotFoundError(SearchError, LookupError):
    """A study name that is not in the storage."""


class NoCompletedTrialsError(SearchError, LookupError):
    """A study without any completed (not pruned, not failed) trial."""


class StudyFailedError(SearchError, RuntimeError):
    """The study ran but could not complete (e.g. every trial failed)."""

    exit_code = 1


class Interrupted(SearchError):
    """Ctrl-C or SIGTERM: running trials were told FAIL and their runs closed."""

    exit_code = 130
