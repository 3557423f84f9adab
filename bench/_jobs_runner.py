"""The jobs benchmark's runners: one (job, client) in a process of its own.

``jobs_bench.py`` runs every pair as::

    python bench/_jobs_runner.py '<spec as JSON>'

This module only adds runners to :data:`bench._client_runner.RUNNERS` (under the
scenarios ``archive``, ``import`` and ``sync``) and reuses that
module's :class:`Spec`, :class:`Timer`, :class:`Outcome`, ``run`` and ``main``.
Unlike the client benchmark, a job is timed whole -- connect and login
included -- because that is what a user of ``pipeimap archive`` waits for, and
each peer script is timed the same way.

How the :class:`Spec` fields are used here:

* ``archive``: ``out_file`` is the destination directory; ``mailbox`` the
  mailbox; ``chunk`` the IMAPClient chunk (UIDs per FETCH).  The parent counts
  the files written and their bytes.
* ``import``: ``out_file`` is the source mbox; ``mailbox`` the (new) target
  mailbox.  The parent checks the server's message count.
* ``sync``: ``out_file`` is the local mirror directory (for
  pipeimap) or the saved ``{uid: flags}`` map (for the re-scan baseline);
  ``commands`` in the outcome is the number of messages whose flags changed
  since the previous run, which the parent checks.
"""

from __future__ import annotations

import json
import mailbox as mailbox_mod
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._client_runner import (
    RUNNERS,
    Outcome,
    Spec,
    Timer,
    _chunks,
    _imapclient_connect,
    _imaplib_body,
    _imaplib_connect,
    _run_trio,
)
from bench._client_runner import main as _runner_main


def _server_spec(spec: Spec) -> Any:
    from pipeimap import Secret
    from pipeimap.jobs import ServerSpec

    return ServerSpec(
        spec.host,
        spec.port,
        username=spec.user,
        password=Secret(spec.password),
        tls="implicit" if spec.tls else "insecure-plaintext",
        ssl_context=spec.ssl_context(),
        compress=False,  # the peers do not compress either
        timeout=600,
    )


def _mbox_messages(path: str) -> Iterator[bytes]:
    """The messages of an mbox, read with the standard library's :mod:`mailbox`
    (what the peers' docs would point at)."""
    box = mailbox_mod.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


# ---------------------------------------------------------------------------
# archive: every message of one mailbox into local files
# ---------------------------------------------------------------------------


def pipeimap_archive(spec: Spec, timer: Timer) -> Outcome:
    """``await archive(server, dest, mailboxes=[name])``: Maildir, fsync off."""
    from pipeimap.jobs import archive

    async def main() -> Any:
        return await archive(
            _server_spec(spec), spec.out_file, mailboxes=[spec.mailbox], fsync=False
        )

    timer.start()
    report = _run_trio(main)
    timer.stop()
    if not report.ok:
        raise RuntimeError(f"pipeimap archive: verification failed: {report}")
    return Outcome(commands=report.downloaded)


def imaplib_archive(spec: Spec, timer: Timer) -> Outcome:
    """login, select, ``UID SEARCH ALL``, then ``UID FETCH uid (BODY.PEEK[])`` per
    message, each body written to ``<uid>.eml``."""
    dest = Path(spec.out_file)
    timer.start()
    dest.mkdir(parents=True, exist_ok=True)
    imap = _imaplib_connect(spec)
    typ, data = imap.uid("SEARCH", "ALL")
    if typ != "OK":
        raise RuntimeError(f"imaplib: UID SEARCH said {typ}")
    n = 0
    for uid in data[0].split():
        typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        body = _imaplib_body(typ, fetched)
        (dest / f"{uid.decode()}.eml").write_bytes(body)
        n += 1
    imap.logout()
    timer.stop()
    return Outcome(commands=n)


def imapclient_archive(spec: Spec, timer: Timer) -> Outcome:
    """``search()``, then ``fetch(chunk, ['BODY.PEEK[]'])`` per ``spec.chunk`` UIDs,
    each body written to ``<uid>.eml``."""
    dest = Path(spec.out_file)
    timer.start()
    dest.mkdir(parents=True, exist_ok=True)
    client = _imapclient_connect(spec)
    uids = client.search()
    n = 0
    for chunk in _chunks(uids, spec.chunk):
        for uid, item in client.fetch(list(chunk), ["BODY.PEEK[]"]).items():
            (dest / f"{uid}.eml").write_bytes(item[b"BODY[]"])
            n += 1
    client.logout()
    timer.stop()
    return Outcome(commands=n)


MBSYNC_CONFIG = """\
IMAPAccount bench
Host {host}
Port {port}
User {user}
Pass {password}
TLSType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path {dest}/
Inbox {dest}/INBOX
SubFolders Verbatim

Channel bench
Far :remote:
Near :local:
Patterns {mailbox}
Create Near
Sync Pull
SyncState *
"""


def mbsync_archive(spec: Spec, timer: Timer) -> Outcome:
    """``mbsync -c CONFIG bench``: a pull-only channel into a Maildir."""
    exe = shutil.which("mbsync")
    if exe is None:
        raise RuntimeError("mbsync is not installed")
    dest = Path(spec.out_file)
    dest.mkdir(parents=True, exist_ok=True)
    config = dest.parent / (dest.name + ".mbsyncrc")
    config.write_text(
        MBSYNC_CONFIG.format(
            host=spec.host,
            port=spec.port,
            user=spec.user,
            password=spec.password,
            dest=dest,
            mailbox=spec.mailbox,
        ),
        encoding="utf-8",
    )
    timer.start()
    proc = subprocess.run([exe, "-q", "-c", str(config), "bench"], capture_output=True, text=True)
    timer.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"mbsync failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Outcome()


# ---------------------------------------------------------------------------
# import: an mbox into a new mailbox
# ---------------------------------------------------------------------------


def pipeimap_import(spec: Spec, timer: Timer) -> Outcome:
    """``await import_mail(server, mbox, mailbox)`` (creates the mailbox)."""
    from pipeimap.jobs import import_mail

    state = Path(spec.out_file).with_suffix(f".{spec.mailbox}.sqlite")

    async def main() -> Any:
        return await import_mail(_server_spec(spec), spec.out_file, spec.mailbox, state_path=state)

    timer.start()
    report = _run_trio(main)
    timer.stop()
    if not report.ok:
        raise RuntimeError(f"pipeimap import: not ok: {report.to_dict()}")
    return Outcome(commands=report.appended)


def imaplib_import(spec: Spec, timer: Timer) -> Outcome:
    """CREATE, then one ``APPEND`` per message of ``mailbox.mbox``, sequentially."""
    timer.start()
    imap = _imaplib_login(spec)
    typ, _ = imap.create(spec.mailbox)
    if typ != "OK":
        raise RuntimeError(f"imaplib: CREATE said {typ}")
    n = 0
    for msg in _mbox_messages(spec.out_file):
        typ, _ = imap.append(spec.mailbox, None, None, msg)
        if typ != "OK":
            raise RuntimeError(f"imaplib: APPEND said {typ}")
        n += 1
    imap.logout()
    timer.stop()
    return Outcome(commands=n)


def _imaplib_login(spec: Spec) -> Any:
    import imaplib

    imap = imaplib.IMAP4(spec.host, spec.port)
    imap.login(spec.user, spec.password)
    return imap


def _imapclient_login(spec: Spec) -> Any:
    from imapclient import IMAPClient

    client = IMAPClient(spec.host, port=spec.port, ssl=False, timeout=600)
    client.login(spec.user, spec.password)
    return client


def imapclient_import(spec: Spec, timer: Timer) -> Outcome:
    """``create_folder``, then ``multiappend(folder, messages)`` (RFC 3502) when the
    installed IMAPClient has it, else ``append`` per message."""
    timer.start()
    client = _imapclient_login(spec)
    client.create_folder(spec.mailbox)
    messages = list(_mbox_messages(spec.out_file))
    if hasattr(client, "multiappend"):
        client.multiappend(spec.mailbox, messages)
    else:
        for msg in messages:
            client.append(spec.mailbox, msg)
    client.logout()
    timer.stop()
    return Outcome(commands=len(messages))


# ---------------------------------------------------------------------------
# sync: pipeimap's incremental sync against a full UID/FLAGS re-scan
# ---------------------------------------------------------------------------


def pipeimap_sync(spec: Spec, timer: Timer) -> Outcome:
    """``await sync(server, dest, mailboxes=[name])``; ``commands`` = messages whose
    flags it updated from the server."""
    from pipeimap.jobs import sync

    async def main() -> Any:
        return await sync(_server_spec(spec), spec.out_file, mailboxes=[spec.mailbox], fsync=False)

    timer.start()
    report = _run_trio(main)
    timer.stop()
    if not report.ok:
        raise RuntimeError(f"pipeimap sync: verification failed: {report}")
    (box,) = report.mailboxes
    return Outcome(commands=box.flags_from_server)


def rescan_sync(spec: Spec, timer: Timer) -> Outcome:
    """imaplib: ``UID FETCH 1:* (UID FLAGS)``, compared with the map saved by the
    previous run (then saved); ``commands`` = messages whose flags differ."""
    saved = Path(spec.out_file)
    timer.start()
    old: dict[str, list[str]] = (
        json.loads(saved.read_text(encoding="utf-8")) if saved.exists() else {}
    )
    imap = _imaplib_connect(spec)
    typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
    if typ != "OK":
        raise RuntimeError(f"imaplib: UID FETCH said {typ}")
    new: dict[str, list[str]] = {}
    for line in data:
        if not isinstance(line, bytes):
            continue
        uid = line.split(b"UID ", 1)[1].split(None, 1)[0].rstrip(b")")
        flags = line.split(b"FLAGS (", 1)[1].split(b")", 1)[0].split()
        # \Recent is per session, not a change anyone made: a re-scan ignores it.
        new[uid.decode()] = sorted(f.decode() for f in flags if f != b"\\Recent")
    imap.logout()
    changed = sum(1 for uid, flags in new.items() if uid in old and old[uid] != flags)
    tmp = saved.with_suffix(".tmp")
    tmp.write_text(json.dumps(new), encoding="utf-8")
    os.replace(tmp, saved)
    timer.stop()
    return Outcome(commands=changed)


RUNNERS.update(
    {
        ("archive", "pipeimap"): pipeimap_archive,
        ("archive", "imaplib"): imaplib_archive,
        ("archive", "imapclient"): imapclient_archive,
        ("archive", "mbsync"): mbsync_archive,
        ("import", "pipeimap"): pipeimap_import,
        ("import", "imaplib"): imaplib_import,
        ("import", "imapclient"): imapclient_import,
        ("sync", "pipeimap"): pipeimap_sync,
        ("sync", "rescan"): rescan_sync,
    }
)


if __name__ == "__main__":
    sys.exit(_runner_main(sys.argv))
