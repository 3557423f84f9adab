"""The benchmark report's runners: one (scenario, client) in a process of its own.

``report.py`` runs every pair as::

    python bench/_report_runner.py '<spec as JSON>'

This module registers in :data:`bench._client_runner.RUNNERS` what the client
and jobs runners lack, and reuses their :class:`Spec`, :class:`Timer`,
``run`` and ``main`` (importing :mod:`bench._jobs_runner` registers the
archive, import and sync runners it reuses):

* ``archive`` for aioimaplib and imap-tools;
* ``import`` for aioimaplib and imap-tools;
* ``header-scan`` (``BODY.PEEK[HEADER]`` of every message) for every client;
* ``flag-update`` (four flag changes on four disjoint quarters of the mailbox,
  :func:`flag_groups`) for every client.

Like the jobs runners, every job is timed whole, connect and login included
(the library's imports are done before, :data:`PRELOAD`),
and reports what it got (header sizes by UID, messages written, STOREs
completed) for the parent to check.  Each library is used the way its own
documentation shows: one command per UID set where the library takes a set,
IMAPClient's fetches in chunks of ``spec.chunk`` UIDs, imap-tools' ``fetch(bulk=True)``,
``flag()`` and ``append()``.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench._jobs_runner as _jobs_runner  # registers archive / import / sync
from bench._client_runner import (
    RUNNERS,
    Outcome,
    Spec,
    Timer,
    _aio_ok,
    _chunks,
    _compact,
    _imapclient_connect,
    _imaplib_connect,
    _pipeimap_connect,
    _run_trio,
)
from bench._client_runner import main as _runner_main

__all__ = ["FLAG_CHANGES", "flag_groups"]

# flag-update: the change applied to each quarter of the mailbox (UIDs i, i+4, ...).
FLAG_CHANGES: tuple[str, ...] = ("\\Seen", "\\Flagged", "\\Answered", "$Junk")
_UID_RE = re.compile(rb"UID (\d+)")


def flag_groups(uids: Sequence[int]) -> list[tuple[str, list[int]]]:
    """The flag-update scenario's work: ``+FLAGS (flag)`` on every fourth message,
    a different flag per quarter -- four independent STOREs, as a rule-based
    clean-up (mark read, flag, answered, junk) produces them."""
    return [(flag, list(uids[i :: len(FLAG_CHANGES)])) for i, flag in enumerate(FLAG_CHANGES)]


def _uid_of(prefix: bytes | bytearray) -> int:
    m = _UID_RE.search(prefix)
    if m is None:
        raise RuntimeError(f"no UID in {bytes(prefix[:80])!r}")
    return int(m.group(1))


# ---------------------------------------------------------------------------
# imap-tools: MailMessage parses the message; keep the raw bytes too
# ---------------------------------------------------------------------------


def _imap_tools_mailbox(spec: Spec, folder: str | None) -> Any:
    from imap_tools import MailBoxUnencrypted, MailMessage

    class RawMailMessage(MailMessage):
        """imap-tools' message class (its ``email_message_class`` hook), keeping the
        fetched bytes so that an archive writes them unchanged and the check can
        count them (``msg.obj.as_bytes()`` re-serializes)."""

        def __init__(self, fetch_data: list[Any]) -> None:
            super().__init__(fetch_data)
            self.raw = self._get_message_data_parts(fetch_data)[0]

    box = MailBoxUnencrypted(spec.host, spec.port, timeout=600)
    box.email_message_class = RawMailMessage
    return box.login(spec.user, spec.password, initial_folder=folder)


def imap_tools_archive(spec: Spec, timer: Timer) -> Outcome:
    """``fetch(mark_seen=False, bulk=True)`` (one UID FETCH for the whole mailbox),
    each message written to ``<uid>.eml``."""
    dest = Path(spec.out_file)
    timer.start()
    dest.mkdir(parents=True, exist_ok=True)
    n = 0
    with _imap_tools_mailbox(spec, spec.mailbox) as box:
        for msg in box.fetch(mark_seen=False, bulk=True):
            (dest / f"{msg.uid}.eml").write_bytes(msg.raw)
            n += 1
    timer.stop()
    return Outcome(commands=n)


def imap_tools_import(spec: Spec, timer: Timer) -> Outcome:
    """``folder.create(name)``, then ``append(message, name)`` per message (imap-tools
    has no MULTIAPPEND)."""
    timer.start()
    n = 0
    with _imap_tools_mailbox(spec, None) as box:
        box.folder.create(spec.mailbox)
        for msg in _jobs_runner._mbox_messages(spec.out_file):
            box.append(msg, spec.mailbox)
            n += 1
    timer.stop()
    return Outcome(commands=n)


def imap_tools_headers(spec: Spec, timer: Timer) -> Outcome:
    """``fetch(headers_only=True, mark_seen=False, bulk=True)``."""
    sizes: dict[int, int] = {}
    timer.start()
    with _imap_tools_mailbox(spec, spec.mailbox) as box:
        for msg in box.fetch(headers_only=True, mark_seen=False, bulk=True):
            sizes[int(msg.uid)] = len(msg.raw)
    timer.stop()
    return Outcome(sizes=sizes)


def imap_tools_flags(spec: Spec, timer: Timer) -> Outcome:
    """``flag(uids, flag, True)`` per change (each one UID STORE, then the EXPUNGE
    imap-tools issues after every flag())."""
    n = 0
    timer.start()
    with _imap_tools_mailbox(spec, spec.mailbox) as box:
        for flag, uids in flag_groups(spec.uids):
            box.flag([str(u) for u in uids], flag, True)
            n += 1
    timer.stop()
    return Outcome(commands=n)


# ---------------------------------------------------------------------------
# aioimaplib
# ---------------------------------------------------------------------------


async def _aio_login(spec: Spec, select: bool) -> Any:
    import aioimaplib

    imap = aioimaplib.IMAP4(spec.host, spec.port, timeout=600)
    await imap.wait_hello_from_server()
    await _aio_ok(imap.login(spec.user, spec.password), "LOGIN")
    if select:
        await _aio_ok(imap.select(spec.mailbox), "SELECT")
    return imap


def _aio_literals(lines: Sequence[Any]) -> list[tuple[int, bytes | bytearray]]:
    """(UID, literal) for every ``... UID n ... {size}`` line followed by its literal."""
    out: list[tuple[int, bytes | bytearray]] = []
    for i, line in enumerate(lines[:-1]):
        if isinstance(line, (bytes, bytearray)) and line.endswith(b"}"):
            literal = lines[i + 1]
            if not isinstance(literal, (bytes, bytearray)):
                raise RuntimeError(f"aioimaplib: no literal after {bytes(line[:80])!r}")
            out.append((_uid_of(line), literal))
    return out


async def _aio_uids(imap: Any) -> list[int]:
    response = await _aio_ok(imap.uid_search("ALL"), "UID SEARCH")
    return [int(u) for u in response.lines[0].split()]


def _write_eml(dest: Path, uid: int, body: bytes | bytearray) -> None:
    """Blocking, as an aioimaplib script would write (the disk is not the point)."""
    (dest / f"{uid}.eml").write_bytes(body)


async def _aioimaplib_archive(spec: Spec, timer: Timer, dest: Path) -> Outcome:
    imap = await _aio_login(spec, True)
    n = 0
    for chunk in _chunks(await _aio_uids(imap), spec.chunk):
        response = await _aio_ok(imap.uid("fetch", _compact(chunk), "(BODY.PEEK[])"), "UID FETCH")
        for uid, body in _aio_literals(response.lines):
            _write_eml(dest, uid, body)
            n += 1
    await imap.logout()
    timer.stop()
    return Outcome(commands=n)


def aioimaplib_archive(spec: Spec, timer: Timer) -> Outcome:
    """``uid_search('ALL')``, then ``uid('fetch', chunk, '(BODY.PEEK[])')`` per
    ``spec.chunk`` UIDs, each body written to ``<uid>.eml``."""
    dest = Path(spec.out_file)
    timer.start()
    dest.mkdir(parents=True, exist_ok=True)
    result: Outcome = asyncio.run(_aioimaplib_archive(spec, timer, dest))
    return result


async def _aioimaplib_import(spec: Spec, timer: Timer) -> Outcome:
    timer.start()
    imap = await _aio_login(spec, False)
    await _aio_ok(imap.create(spec.mailbox), "CREATE")
    n = 0
    for msg in _jobs_runner._mbox_messages(spec.out_file):
        await _aio_ok(imap.append(msg, mailbox=spec.mailbox), "APPEND")
        n += 1
    await imap.logout()
    timer.stop()
    return Outcome(commands=n)


def aioimaplib_import(spec: Spec, timer: Timer) -> Outcome:
    """``create``, then ``append(message, mailbox=...)`` per message, awaited in turn."""
    result: Outcome = asyncio.run(_aioimaplib_import(spec, timer))
    return result


async def _aioimaplib_headers(spec: Spec, timer: Timer) -> Outcome:
    timer.start()
    imap = await _aio_login(spec, True)
    response = await _aio_ok(imap.uid("fetch", "1:*", "(BODY.PEEK[HEADER])"), "UID FETCH")
    sizes = {uid: len(header) for uid, header in _aio_literals(response.lines)}
    await imap.logout()
    timer.stop()
    return Outcome(sizes=sizes)


def aioimaplib_headers(spec: Spec, timer: Timer) -> Outcome:
    """``uid('fetch', '1:*', '(BODY.PEEK[HEADER])')``."""
    result: Outcome = asyncio.run(_aioimaplib_headers(spec, timer))
    return result


async def _aioimaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    timer.start()
    imap = await _aio_login(spec, True)
    n = 0
    for flag, uids in flag_groups(spec.uids):
        await _aio_ok(imap.uid("store", _compact(uids), "+FLAGS.SILENT", f"({flag})"), "UID STORE")
        n += 1
    await imap.logout()
    timer.stop()
    return Outcome(commands=n)


def aioimaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    """``uid('store', uids, '+FLAGS.SILENT', flag)`` per change, awaited in turn."""
    result: Outcome = asyncio.run(_aioimaplib_flags(spec, timer))
    return result


# ---------------------------------------------------------------------------
# imaplib, IMAPClient
# ---------------------------------------------------------------------------


def imaplib_headers(spec: Spec, timer: Timer) -> Outcome:
    """``uid('FETCH', '1:*', '(BODY.PEEK[HEADER])')``: one command."""
    timer.start()
    imap = _imaplib_connect(spec)
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER])")
    if typ != "OK":
        raise RuntimeError(f"imaplib: UID FETCH said {typ}")
    sizes = {_uid_of(item[0]): len(item[1]) for item in data if isinstance(item, tuple)}
    imap.logout()
    timer.stop()
    return Outcome(sizes=sizes)


def imaplib_flags(spec: Spec, timer: Timer) -> Outcome:
    """``uid('STORE', uid_set, '+FLAGS.SILENT', flag)`` per change."""
    timer.start()
    imap = _imaplib_connect(spec)
    n = 0
    for flag, uids in flag_groups(spec.uids):
        typ, _ = imap.uid("STORE", _compact(uids), "+FLAGS.SILENT", f"({flag})")
        if typ != "OK":
            raise RuntimeError(f"imaplib: UID STORE said {typ}")
        n += 1
    imap.logout()
    timer.stop()
    return Outcome(commands=n)


def imapclient_headers(spec: Spec, timer: Timer) -> Outcome:
    """``search()``, then ``fetch(chunk, ['BODY.PEEK[HEADER]'])`` per ``spec.chunk`` UIDs."""
    timer.start()
    client = _imapclient_connect(spec)
    sizes: dict[int, int] = {}
    for chunk in _chunks(client.search(), spec.chunk):
        for uid, item in client.fetch(list(chunk), ["BODY.PEEK[HEADER]"]).items():
            sizes[int(uid)] = len(item[b"BODY[HEADER]"])
    client.logout()
    timer.stop()
    return Outcome(sizes=sizes)


def imapclient_flags(spec: Spec, timer: Timer) -> Outcome:
    """``add_flags(uids, [flag], silent=True)`` per change."""
    timer.start()
    client = _imapclient_connect(spec)
    n = 0
    for flag, uids in flag_groups(spec.uids):
        client.add_flags(uids, [flag.encode()], silent=True)
        n += 1
    client.logout()
    timer.stop()
    return Outcome(commands=n)


# ---------------------------------------------------------------------------
# pipeimap
# ---------------------------------------------------------------------------


def pipeimap_headers(spec: Spec, timer: Timer) -> Outcome:
    """``client.fetch("1:*", ["BODY.PEEK[HEADER]"])``, streamed."""

    async def main() -> Outcome:
        sizes: dict[int, int] = {}
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)
            async with client.fetch("1:*", ["BODY.PEEK[HEADER]"]) as messages:
                async for msg in messages:
                    header = msg.body("HEADER")
                    sizes[int(msg.uid)] = len(header) if header is not None else -1
        return Outcome(sizes=sizes)

    timer.start()
    result: Outcome = _run_trio(main)
    timer.stop()
    return result


def pipeimap_flags(spec: Spec, timer: Timer) -> Outcome:
    """``client.store(uids, flag)`` per change, the four from concurrent tasks (one
    round trip for all of them)."""

    async def main() -> Outcome:
        import anyio

        done = 0
        async with _pipeimap_connect(spec) as client:
            await client.select(spec.mailbox)

            async def one(flag: str, uids: list[int]) -> None:
                nonlocal done
                await client.store(uids, flag)
                done += 1

            async with anyio.create_task_group() as tg:
                for flag, uids in flag_groups(spec.uids):
                    tg.start_soon(one, flag, uids)
        return Outcome(commands=done)

    timer.start()
    result: Outcome = _run_trio(main)
    timer.stop()
    return result


RUNNERS.update(
    {
        ("archive", "aioimaplib"): aioimaplib_archive,
        ("archive", "imap-tools"): imap_tools_archive,
        ("import", "aioimaplib"): aioimaplib_import,
        ("import", "imap-tools"): imap_tools_import,
        ("header-scan", "pipeimap"): pipeimap_headers,
        ("header-scan", "imaplib"): imaplib_headers,
        ("header-scan", "imapclient"): imapclient_headers,
        ("header-scan", "aioimaplib"): aioimaplib_headers,
        ("header-scan", "imap-tools"): imap_tools_headers,
        ("flag-update", "pipeimap"): pipeimap_flags,
        ("flag-update", "imaplib"): imaplib_flags,
        ("flag-update", "imapclient"): imapclient_flags,
        ("flag-update", "aioimaplib"): aioimaplib_flags,
        ("flag-update", "imap-tools"): imap_tools_flags,
    }
)


# Imported before the clock starts: a program imports its library once, and the
# imports are not what the scenarios compare (pipeimap's alone take about a
# second on a loaded 2-core machine).
PRELOAD: dict[str, tuple[str, ...]] = {
    # anyio imports its trio backend on the first anyio.run() (~30 ms): an import too.
    "pipeimap": ("pipeimap", "pipeimap.jobs", "anyio", "trio", "anyio._backends._trio"),
    "imaplib": ("imaplib", "mailbox"),
    "rescan": ("imaplib",),
    "imapclient": ("imapclient", "mailbox"),
    "aioimaplib": ("aioimaplib", "asyncio", "mailbox"),
    "imap-tools": ("imap_tools", "mailbox"),
}


def main(argv: Sequence[str]) -> int:
    import importlib

    for module in PRELOAD.get(Spec.from_json(argv[1]).client, ()):
        importlib.import_module(module)
    return _runner_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
