"""ServerSpec hands every connection option to the connections of a job."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pipeimap.jobs import ServerSpec
from pipeimap.testing import DovecotServer

from ._mirror_helpers import TIMEOUT, spec_for

pytestmark = pytest.mark.trio


async def test_connection_options_reach_the_connection(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    base = spec_for(dovecot, "alice")
    spec = ServerSpec(**{**base.__dict__, "min_rate": 3.0, "timeout": 17.0, "pipeline_depth": 9})
    with anyio.fail_after(TIMEOUT):
        async with spec.connect() as client:
            await client.noop()
            conn = client._conn
            assert conn.min_rate == 3.0
            assert conn.timeout == 17.0
            assert conn.sched.options.pipeline_depth == 9
        async with spec.pool(1) as pool, pool.mailbox("INBOX", readonly=True) as lent:
            assert lent._conn.min_rate == 3.0
