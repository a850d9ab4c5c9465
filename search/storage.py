"""Where a study lives: the home folder, the Optuna storage URL and the MLflow URIs.

With no options everything is under ``./mlruns``: the Optuna study in
``mlruns/optuna.db``, MLflow in ``sqlite:///mlruns/mlflow.db`` and artifacts in
``mlruns/artifacts``. Options beat environment variables, which beat the defaults.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import StorageError, UsageError

if TYPE_CHECKING:
    import optuna

HOME_ENV = "SEARCH_HOME"
STORAGE_ENV = "SEARCH_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
DEFAULT_HOME = "mlruns"

_STORAGE_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)")


@dataclass(frozen=True)
class Location:
    """The resolved stores of one study."""

    home: Path
    storage_url: str
    tracking_uri: str
    artifact_root: str
    kt_dir: Path


def mask_password(url: str) -> str:
    """Replaces the password of ``scheme://user:password@host`` with ``***``."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)


def _sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def check_storage_url(url: str) -> str:
    """Validates an Optuna RDB or journal storage URL (shape only, not reachability)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme == "grpc":
        host, _, port = url.removeprefix("grpc://").rstrip("/").rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return url
    elif scheme in _STORAGE_SCHEMES or url.startswith("journal:"):
        return url
    raise StorageError(
        f"Malformed storage URL {mask_password(url)!r}; expected an SQLAlchemy URL such as "
        "'sqlite:///path/optuna.db' or 'postgresql://user:password@host:5432/db', "
        "'grpc://host:port' (search proxy) or 'journal:///path/journal.log'."
    )


def resolve(
    home: str | os.PathLike | None = None,
    storage: str | None = None,
    tracking_uri: str | None = None,
) -> Location:
    """Resolves the stores from options, then environment variables, then defaults."""
    home_path = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()
    _check_home(home_path, "--home " if home else f"{HOME_ENV}=" if os.environ.get(HOME_ENV) else "the home ")
    storage_url = storage or os.environ.get(STORAGE_ENV) or _sqlite_uri(home_path / "optuna.db")
    tracking = tracking_uri or os.environ.get(TRACKING_ENV) or _sqlite_uri(home_path / "mlflow.db")
    return Location(
        home=home_path,
        storage_url=check_storage_url(storage_url),
        tracking_uri=tracking,
        artifact_root=(home_path / "artifacts").as_uri(),
        kt_dir=home_path / "keras_tuner",
    )


def _check_home(path: Path, named: str) -> None:
    """Refuses a home that is a file, or lies inside one (a missing home is created, with its parents)."""
    for folder in (path, *path.parents):
        if folder.exists():
            if folder.is_dir():
                return
            what = "is a file" if folder == path else f"lies inside the file {folder}"
            raise UsageError(f"{named}{path} {what}; expected a folder (it is created if missing).")


# SQLite waits this long for a lock before "database is locked" (several local workers).
SQLITE_BUSY_TIMEOUT_S = 120


# The SQLite databases the project keeps (Optuna's, MLflow's), by absolute path: see sqlite_fast.
_FAST_SQLITE: set[str] = set()


def sqlite_fast(path: str | Path) -> None:
    """Puts every SQLAlchemy connection this process opens to the SQLite database at
    ``path`` in WAL mode with ``synchronous=NORMAL``. Call it before the store's engine
    opens its first connection.

    WAL (persistent, in the file): readers never block the writer, so several local
    workers share the stores. SQLite's default ``synchronous=FULL`` syncs the log to disk
    at every commit, a cost every epoch's report pays (``tests/perf/epoch_costs.py``). In
    WAL mode NORMAL keeps the database consistent after a crash of the process or the
    machine; a power cut may lose the last commits, which for a study is the trials that
    were running.
    """
    import sqlalchemy

    if not _FAST_SQLITE:
        sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", _sqlite_connected)
    _FAST_SQLITE.add(str(Path(path).resolve()))


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    main = dbapi_connection.execute("PRAGMA database_list").fetchone()
    if main is None or main[2] not in _FAST_SQLITE:
        return
    if dbapi_connection.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


# Any two `search` processes opening one PostgreSQL database take this advisory lock to
# create Optuna's or MLflow's schema one at a time (advisory locks are per database).
_SCHEMA_LOCK_KEY = 0x5EA2C4


@contextlib.contextmanager
def schema_lock(url: str, connect_args: dict | None = None) -> Iterator[None]:
    """Held while this process creates or checks Optuna's (or MLflow's) tables in the
    database at ``url``.

    Processes started together on an empty database otherwise race in ``CREATE TABLE`` (and
    MLflow's migrations), and all but one may fail with "already exists". SQLite: an
    exclusive ``flock`` on a file beside the database (when its folder exists);
    PostgreSQL: an advisory lock. Other databases are not locked.
    """
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:" and Path(path).parent.is_dir():
        with _file_lock(path + ".schema-lock"):
            yield
    elif url.startswith("postgresql"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool, connect_args=connect_args or {})
        try:
            with engine.connect() as connection, _advisory_lock(connection, _SCHEMA_LOCK_KEY):
                yield
        finally:
            engine.dispose()
    else:
        yield


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    """An exclusive ``flock`` on the file at ``path`` (created if absent), while held."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _advisory_lock(connection: Any, key: int) -> Iterator[None]:
    """PostgreSQL's session advisory lock ``key`` on ``connection``, while held."""
    import sqlalchemy

    connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
    try:
        yield
    finally:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        connection.commit()


def _rdb_storage(url: str, kwargs: dict):
    """Creates the RDB storage, one `search` process at a time per database.

    A process that is not `search` (a plain Optuna script) may still create the schema at
    the same moment: the loser's "already exists" means the schema is there now, so it tries
    again; so does SQLite's immediate "database is locked" (a write from a stale read, which
    does not wait for the busy timeout).
    """
    import time

    import optuna
    import sqlalchemy.exc

    with schema_lock(url, kwargs.get("engine_kwargs", {}).get("connect_args", {})):
        for attempt in range(5):
            started = time.monotonic()
            try:
                return optuna.storages.RDBStorage(url, **kwargs)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as e:
                collided = (
                    isinstance(e, sqlalchemy.exc.IntegrityError)
                    or "already exists" in str(e)
                    or ("database is locked" in str(e) and time.monotonic() - started < 10)
                )
                if attempt == 4 or not collided:
                    raise
                time.sleep(0.2 * (attempt + 1))


def open_storage(url: str, heartbeat: tuple[int, int] | None = None):
    """Opens an Optuna storage, turning connection errors into one clear line.

    Args:
        url: an SQLAlchemy URL or ``journal:///path``.
        heartbeat: ``(interval, grace)`` seconds to enable Optuna's heartbeat tables (RDB only).

    SQLite databases are put in WAL mode (:func:`sqlite_fast`) with a long busy timeout,
    which is what lets several local worker processes share one study without "database
    is locked".
    """
    import optuna
    import sqlalchemy.exc

    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        sqlite_fast(url.removeprefix("sqlite:///"))
    if url.startswith("grpc://"):
        return _proxy_storage(url)
    try:
        if url.startswith("journal:"):
            path = url.removeprefix("journal:").removeprefix("//")
            return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
        else:
            kwargs["engine_kwargs"] = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
        if heartbeat is not None:
            kwargs.update(heartbeat_interval=heartbeat[0], grace_period=heartbeat[1])
        return _rdb_storage(url, kwargs)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError, TypeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise StorageError(f"Cannot open storage {mask_password(url)!r}: {mask_password(reason)}") from None


def _proxy_storage(url: str):
    """The storage behind ``search proxy`` at ``grpc://host:port``, once it answers."""
    import grpc

    from search.grpc_storage import ProxyStorage

    storage = ProxyStorage(url)
    try:
        storage.wait_server_ready(timeout=5)
        storage.get_heartbeat_interval()
    except (ConnectionError, grpc.RpcError) as e:
        storage.close()
        reason = e.details() if isinstance(e, grpc.RpcError) else "no answer within 5 s"
        raise StorageError(f"Cannot open storage {url!r}: {reason}; is `search proxy` running there?") from None
    return storage


@contextlib.contextmanager
def ask_lock(study: optuna.Study) -> Iterator[None]:
    """Holds a lock on ``study`` shared by every process on its storage, while held.

    Checking the budget and asking Optuna for a trial are two steps; two workers doing
    them at once could both take the last trial of the budget. SQLite: an exclusive
    ``flock`` on a file beside the database; PostgreSQL: a session advisory lock keyed on
    the study's name; behind ``search proxy``: the same lock, held by the proxy. Other
    storages (journal, MySQL, in-memory) are not locked.
    """
    held = getattr(study._storage, "ask_lock", None)
    with held(study.study_name) if held is not None else storage_lock(study._storage, study.study_name):
        yield


@contextlib.contextmanager
def storage_lock(storage: optuna.storages.BaseStorage, study_name: str) -> Iterator[None]:
    """The ask lock of study ``study_name`` on an RDB ``storage`` (:func:`ask_lock`)."""
    import zlib

    import optuna

    backend = getattr(storage, "_backend", storage)
    url = getattr(backend, "url", "") if isinstance(backend, optuna.storages.RDBStorage) else ""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        with _file_lock(url.removeprefix("sqlite:///") + ".ask-lock"):
            yield
    elif url.startswith("postgresql"):
        key = zlib.crc32(f"search-ask:{study_name}".encode()) - 2**31  # a signed 32-bit key
        with backend.engine.connect() as connection, _advisory_lock(connection, key):
            yield
    else:
        yield
