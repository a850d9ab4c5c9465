"""``search proxy``: Optuna's gRPC storage proxy in front of one database, for many workers.

Every worker connected straight to PostgreSQL holds its own connections; behind the proxy
they hold none, and the proxy's one storage (with Optuna's cache) serves them all. Beside
Optuna's storage service it serves :mod:`search.grpc_storage`'s ``search.Proxy`` methods:
heartbeats, stale trials and the ask lock, on its own storage, so budgets stay exact and dead
workers' trials are retried as with a direct connection.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from search import storage as storage_mod
from search.errors import UsageError

if TYPE_CHECKING:
    import grpc
    import optuna

THREADS = 256  # each waiting or holding ask lock occupies one while it waits


def serve(storage_url: str | None, host: str, port: int, threads: int = THREADS) -> int:
    """Runs the proxy in the foreground until Ctrl-C or SIGTERM; returns its exit code
    (``storage_url`` None: ``SEARCH_STORAGE``)."""
    storage_url = storage_url or os.environ.get(storage_mod.STORAGE_ENV)
    if not storage_url:
        raise UsageError("search proxy needs --storage postgresql://... (or SEARCH_STORAGE).")
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}.")
    if threads < 8:
        raise UsageError(f"--threads must be at least 8, got {threads}.")
    if not storage_url.startswith(("postgresql", "mysql", "sqlite")):
        raise UsageError(f"--storage {storage_mod.mask_password(storage_url)!r}: the proxy serves a database "
                         "(postgresql://, mysql://, sqlite:///).")
    from search.engine.heartbeat import intervals

    storage = storage_mod.open_storage(storage_url, heartbeat=intervals())
    server = make_server(storage, host, port, threads)
    server.start()
    print(f"optuna storage proxy on grpc://{host}:{port} for {storage_mod.mask_password(storage_url)} "
          "(Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=5).wait()
    return 0


def make_server(storage: optuna.storages.BaseStorage, host: str, port: int, threads: int = THREADS) -> grpc.Server:
    """Optuna's storage service and ``search.Proxy`` on ``host:port`` (not started)."""
    import grpc
    from optuna.storages import get_storage
    from optuna.storages._grpc.server import make_server as optuna_server

    cached = get_storage(storage)  # Optuna's in-process cache in front of the database
    server = optuna_server(cached, host, port, ThreadPoolExecutor(max_workers=threads))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "search.Proxy", _handlers(cached, storage)),))
    return server


def _handlers(cached: Any, storage: optuna.storages.BaseStorage) -> dict[str, grpc.RpcMethodHandler]:
    import grpc

    from search.grpc_storage import decode, encode

    def unary(fn):
        return grpc.unary_unary_rpc_method_handler(lambda data, context: encode(fn(decode(data))))

    local: dict[str, threading.Lock] = {}
    guard = threading.Lock()

    def study_lock(study: str) -> threading.Lock:
        with guard:
            return local.setdefault(study, threading.Lock())

    def hold(data: bytes, context: grpc.ServicerContext):
        released = threading.Event()
        context.add_callback(released.set)  # the worker cancelled, or its connection dropped
        study = decode(data)["study"]
        # Waiters queue here, not in the database: one pooled connection per study holds its lock.
        with study_lock(study), storage_mod.storage_lock(storage, study):
            yield b"{}"
            released.wait()

    return {
        "Heartbeat": unary(lambda m: cached.record_heartbeat(m["trial_id"]) or {}),
        "StaleTrialIds": unary(lambda m: {"ids": cached._get_stale_trial_ids(m["study_id"])}),
        "HeartbeatInterval": unary(lambda m: {"interval": cached.get_heartbeat_interval()}),
        "HoldAskLock": grpc.unary_stream_rpc_method_handler(hold),
    }
