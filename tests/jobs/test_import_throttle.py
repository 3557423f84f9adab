"""``import_mail`` against a throttling server: a proxy in front of Dovecot answers
some APPENDs with Office 365's "Request is throttled. Suggested Backoff Time" or
``NO [UNAVAILABLE]`` (and may hang up), or hides MULTIAPPEND / LITERAL+ and
announces an APPENDLIMIT.  The job backs off, lowers the depth, reconnects and
completes with every message exactly once."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

from pipeimap.jobs import RecordingProgress, RetryPolicy, ServerSpec, import_mail
from pipeimap.protocol import Secret
from pipeimap.testing import DovecotServer

from ..conftest import TEST_USERS
from ._imap_proxy import ImapProxy, o365_throttle, unavailable
from ._import_data import Msg, assert_exactly_once, corpus, expected, write_eml, write_mbox

pytestmark = pytest.mark.anyio
_box = itertools.count()
FAST = RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.05, jitter=0)


def via(proxy: ImapProxy, **kw: Any) -> ServerSpec:
    return ServerSpec(
        "127.0.0.1", proxy.port, username="bob", password=Secret(TEST_USERS["bob"]),
        tls="insecure-plaintext", compress=False, **kw,
    )  # fmt: skip


def direct(dovecot: DovecotServer) -> ServerSpec:
    return ServerSpec(
        "localhost", dovecot.imaps_port, username="bob", password=Secret(TEST_USERS["bob"]),
        ssl_context=dovecot.client_ssl_context(),
    )  # fmt: skip


def target(name: str) -> str:
    return f"Throttle/{name}-{next(_box)}"


@pytest.mark.parametrize(
    ("reply", "bye"),
    [(o365_throttle, False), (unavailable, False), (o365_throttle, True)],
    ids=["office365", "unavailable", "office365-bye"],
)
async def test_throttled_appends_back_off_and_complete(
    dovecot: DovecotServer, tmp_path: Path, reply: Any, bye: bool
) -> None:
    msgs = corpus(30, tag="thr")
    source = write_mbox(tmp_path / "m.mbox", msgs)
    box = target("thr")
    proxy = ImapProxy(dovecot.imap_port, throttle=3, reply=reply, bye_after_throttle=bye)
    progress = RecordingProgress()
    with anyio.fail_after(60):
        async with proxy.running():
            report = await import_mail(
                via(proxy), source, box, state_path=tmp_path / "s.sqlite", progress=progress,
                retry=FAST, batch_count=4,
            )  # fmt: skip
        assert proxy.throttled == 3
        assert report.attempts == 4
        assert report.appended == len(expected(msgs))
        assert report.ok
        retries = [n for n in progress.notes if "retrying in" in n]
        assert len(retries) == 3
        start = via(proxy).pipeline_depth  # halved at each load signal
        assert f"pipeline depth {start // 2}" in retries[0]
        assert f"pipeline depth {start // 8}" in retries[2]
        if reply is o365_throttle and not bye:
            assert "throttles" in retries[0]
            assert "retrying in 0.0 s" in retries[0]  # 10 ms, as the server suggested
        if bye:
            assert proxy.connections >= 4
        async with direct(dovecot).connect() as client:
            await assert_exactly_once(client, box, msgs)


async def test_without_multiappend_and_literal_plus(dovecot: DovecotServer, tmp_path: Path) -> None:
    """Pipelined single APPENDs with synchronizing literals; throttled ones too."""
    msgs = corpus(16, tag="plain")
    source = write_eml(tmp_path / "eml", msgs)
    box = target("plain")
    proxy = ImapProxy(
        dovecot.imap_port, throttle=2, reply=unavailable,
        strip_caps=(b"MULTIAPPEND", b"LITERAL+"),
    )  # fmt: skip
    with anyio.fail_after(60):
        async with proxy.running():
            report = await import_mail(
                via(proxy), source, box, state_path=tmp_path / "s.sqlite", retry=FAST
            )
        assert report.appended == len(expected(msgs))
        # One APPEND per message: the unique ones, plus the throttled ones resent.
        assert proxy.appends_forwarded == len(expected(msgs))
        async with direct(dovecot).connect() as client:
            stripped = [Msg(m.content, frozenset(), m.date) for m in msgs]
            await assert_exactly_once(client, box, stripped)


async def test_appendlimit_capability_is_respected(dovecot: DovecotServer, tmp_path: Path) -> None:
    small = corpus(5, tag="cap")
    big = Msg(b"Subject: too big\n\n" + b"y" * 3000 + b"\n", frozenset(), small[0].date)
    source = write_mbox(tmp_path / "m.mbox", [small[0], big, *small[1:]])
    box = target("cap")
    proxy = ImapProxy(dovecot.imap_port, add_caps=(b"APPENDLIMIT=1500",))
    with anyio.fail_after(60):
        async with proxy.running():
            report = await import_mail(via(proxy), source, box, state_path=tmp_path / "s.sqlite")
        assert report.append_limit == 1500
        assert report.skipped_too_large == 1
        assert report.appended == len(expected(small))
        async with direct(dovecot).connect() as client:
            await assert_exactly_once(client, box, small)
