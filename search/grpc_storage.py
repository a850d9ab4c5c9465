"""The Optuna storage of a worker behind ``search proxy``: Optuna's gRPC storage proxy client,
plus the calls a study of this project needs that Optuna's proxy does not carry.

Optuna's ``GrpcStorageProxy`` forwards the storage API, but not heartbeats (it is no
``BaseHeartbeat``) and no lock. ``search proxy`` serves these methods beside Optuna's
(JSON messages over the same gRPC server, service ``search.Proxy``):

- ``Heartbeat``, ``StaleTrialIds``, ``HeartbeatInterval``: the heartbeat API, run on the
  proxy's own storage, so dead workers' trials are found stale and retried as on PostgreSQL;
- ``HoldAskLock``: a stream that holds the study's ask lock (the same advisory lock workers
  connected straight to the database take) from its first message until the worker cancels
  the call, or its connection drops because the worker died.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from optuna.storages import GrpcStorageProxy
from optuna.storages._heartbeat import BaseHeartbeat

SERVICE = "search.Proxy"
SCHEME = "grpc://"


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode()


def decode(data: bytes) -> dict[str, Any]:
    return json.loads(data or b"{}")


def parse_address(url: str) -> tuple[str, int]:
    """``grpc://host:port`` as ``(host, port)``; ValueError when malformed."""
    rest = url.removeprefix(SCHEME).rstrip("/")
    host, _, port = rest.rpartition(":")
    if not url.startswith(SCHEME) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected grpc://HOST:PORT, got {url!r}")
    return host, int(port)


class ProxyStorage(GrpcStorageProxy, BaseHeartbeat):
    """A ``GrpcStorageProxy`` that also beats, finds stale trials and holds the ask lock
    through ``search proxy``."""

    def __init__(self, url: str) -> None:
        host, port = parse_address(url)
        self.url = url
        super().__init__(host=host, port=port)
        self._interval: int | None = None
        self._calls: dict[str, Any] = {}

    def _call(self, method: str, kind: str = "unary_unary") -> Any:
        if method not in self._calls:
            make = getattr(self._channel, kind)
            self._calls[method] = make(f"/{SERVICE}/{method}", request_serializer=None, response_deserializer=None)
        return self._calls[method]

    def record_heartbeat(self, trial_id: int) -> None:
        self._call("Heartbeat")(encode({"trial_id": trial_id}))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return decode(self._call("StaleTrialIds")(encode({"study_id": study_id})))["ids"]

    def get_heartbeat_interval(self) -> int | None:
        if self._interval is None:
            self._interval = decode(self._call("HeartbeatInterval")(b"{}"))["interval"]
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None  # stale trials are retried by search.engine.heartbeat.StaleTrials

    @contextlib.contextmanager
    def ask_lock(self, study_name: str) -> Iterator[None]:
        """Holds the study's ask lock on the proxy's database while the block runs."""
        stream = self._call("HoldAskLock", "unary_stream")(encode({"study": study_name}))
        next(stream)  # the lock is held once the first message arrives
        try:
            yield
        finally:
            stream.cancel()
