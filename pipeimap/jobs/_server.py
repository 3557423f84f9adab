"""Where a job connects: one value holding every :func:`pipeimap.connect` option.

Jobs take a :class:`ServerSpec` rather than a live client so that they can open a
pool of connections (several mailboxes at once) and reconnect after a drop or a
throttling server, which a single borrowed client could not do.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from ..client import Client, ConnectionPool, connect
from ..client._connect import TLSMode
from ..client._connection import MIN_RATE
from ..client._trace import TraceTarget
from ..protocol._types import Secret

__all__ = ["ServerSpec"]


@dataclass(frozen=True)
class ServerSpec:
    """Connection options for a job.  ``password`` and ``oauth2_token`` are
    :class:`~pipeimap.Secret` and never shown in a repr."""

    host: str
    port: int | None = None
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)
    oauth2_token: Secret | None = field(default=None, repr=False)
    auth_mechanism: str | None = None
    tls: TLSMode = "implicit"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    connect_timeout: float | None = 30.0
    timeout: float | None = 120.0
    #: The read timeout's transfer-rate floor in bytes per second (see
    #: :func:`pipeimap.connect`); 0 counts any byte as progress.
    min_rate: float = MIN_RATE
    pipeline_depth: int = 128
    compress: bool = True
    #: A protocol trace for bug reports (see :func:`pipeimap.connect`); every
    #: connection of the job appends to it.
    trace: TraceTarget | None = field(default=None, repr=False, compare=False)
    trace_bodies: bool = False

    def with_depth(self, depth: int) -> ServerSpec:
        """The same server with another pipeline depth (throttling lowers it)."""
        return replace(self, pipeline_depth=max(1, depth))

    def _kwargs(self) -> dict[str, Any]:
        trace: dict[str, Any] = {}
        if self.trace is not None:
            trace = {"trace": self.trace, "trace_bodies": self.trace_bodies}
        return trace | {
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "oauth2_token": self.oauth2_token,
            "auth_mechanism": self.auth_mechanism,
            "tls": self.tls,
            "ssl_context": self.ssl_context,
            "connect_timeout": self.connect_timeout,
            "timeout": self.timeout,
            "min_rate": self.min_rate,
            "pipeline_depth": self.pipeline_depth,
            "compress": self.compress,
        }

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Client]:
        """``async with spec.connect() as client``: one connection."""
        async with connect(self.host, **self._kwargs()) as client:
            yield client

    def pool(self, max_connections: int = 4) -> ConnectionPool:
        """A :class:`~pipeimap.ConnectionPool` to this server (``async with``)."""
        return ConnectionPool(self.host, max_connections=max_connections, **self._kwargs())

    def describe(self) -> str:
        """``user@host:port`` for messages and logs (no secret)."""
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"
