"""``pipeimap demo``: every job, end to end, against a throwaway local Dovecot.

Steps: start a private Dovecot on 127.0.0.1 (:class:`~pipeimap.testing.DovecotServer`:
its own temp dir, free ports, a private CA made with trustme), fill it with a
generated sample mailbox (:mod:`._sample`, appended with the client), run
``archive``, change flags and delete messages on the server (and flag a few
messages locally, as a mail client reading the Maildir would) and run ``sync``,
then ``import`` a small mbox twice -- the second run must import nothing.

Each job step runs through the real command line: the demo builds the very
argument list it prints (``pipeimap archive imaps://demo@localhost:PORT ...``),
parses it with the CLI's parser and calls the same runner ``pipeimap archive``
would.  The demo checks the results itself (message counts on both sides, the
flags pushed back, no duplicate) and exits 1 when one does not hold.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CommandNoError
from ..jobs import ServerSpec
from ..protocol import AppendMessage, Flag, Secret
from ..protocol import search as S
from ._args import parse_args, server_spec, start_trace
from ._exit import ExitCode
from ._progress import format_bytes
from ._report import jsonable
from ._run import run_interruptibly
from ._sample import mbox_bytes, sample_messages

if TYPE_CHECKING:
    from ..testing import DovecotServer
    from ._main import Ui

__all__ = ["DemoServerError", "run_demo"]

USER = "demo"
PASSWORD_ENV = "PIPEIMAP_DEMO_PASSWORD"
IMPORT_MAILBOX = "Imported"
STEPS = 5


class DemoServerError(Exception):
    """The demo's Dovecot is not installed or did not start (exit code 6)."""


@dataclass
class _Demo:
    ui: Ui
    root: Path
    server: DovecotServer
    count: int
    say: Callable[[str], None]
    steps: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    trace: Path | None = None  # --trace: every connection of every step appends
    trace_bodies: bool = False

    # -- helpers ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"imaps://{USER}@localhost:{self.server.imaps_port}"

    def argv(self, command: str, *rest: str) -> list[str]:
        return [
            command, self.url, *rest,
            "--ca-file", str(self.server.ca_file),
            "--password-env", PASSWORD_ENV,
            *self.trace_argv(),
        ]  # fmt: skip

    def trace_argv(self) -> list[str]:
        if self.trace is None:
            return []
        return ["--trace", str(self.trace), *(["--trace-bodies"] if self.trace_bodies else [])]

    def spec(self) -> ServerSpec:
        return ServerSpec(
            host="localhost",
            port=self.server.imaps_port,
            username=USER,
            password=_password(),
            ssl_context=self.server.client_ssl_context(),
            trace=self.trace,
            trace_bodies=self.trace_bodies,
        )

    def check(self, ok: bool, what: str) -> None:
        if ok:
            self.say(f"      ok: {what}")
        else:
            self.ui.warn(f"      FAILED: {what}")  # shown even with --quiet
            self.failures.append(what)

    async def run_job(self, argv: list[str]) -> tuple[Any, float]:
        from ._jobs import RUNNERS, describe_report, problems_of

        args = parse_args(argv)
        self.say("      $ pipeimap " + " ".join(_quote(a) for a in argv))
        spec = server_spec(args)
        started = time.monotonic()
        self.ui.progress.begin()
        report = await RUNNERS[args.command](spec, args, self.ui.progress)
        elapsed = time.monotonic() - started
        self.ui.progress.close()
        for line in describe_report(args.command, report):
            self.say(f"      {line}")
        moved = self.ui.progress.job_line()
        if moved:
            self.say(f"      moved {moved}")
        for problem in problems_of(args.command, report):
            self.check(False, f"{args.command}: {problem}")
        self.steps.append(
            {"command": argv[0], "argv": argv, "seconds": round(elapsed, 3),
             "report": jsonable(report)}
        )  # fmt: skip
        return report, elapsed

    # -- the steps ------------------------------------------------------------------------

    async def fill(self) -> dict[str, int]:
        started = time.monotonic()
        by_mailbox: dict[str, list[AppendMessage]] = {}
        total = 0
        for m in sample_messages(self.count):
            by_mailbox.setdefault(m.mailbox, []).append(
                AppendMessage(m.data, tuple(Flag(f) for f in m.flags), m.date)
            )
            total += len(m.data)
        async with self.spec().connect() as client:
            for mailbox in by_mailbox:
                if mailbox != "INBOX":
                    await _create(client, mailbox)
            for mailbox, msgs in by_mailbox.items():
                await client.append_many(mailbox, msgs)
        counts = {mb: len(ms) for mb, ms in by_mailbox.items()}
        self.say(
            f"      {sum(counts.values())} messages, {format_bytes(total)}, in "
            f"{len(counts)} mailboxes ({time.monotonic() - started:.1f} s): "
            + ", ".join(f"{mb} {n}" for mb, n in counts.items())
        )
        return counts

    async def server_counts(self) -> dict[str, int]:
        async with self.spec().connect() as client:
            infos = await client.list(status=["MESSAGES"])
        return {
            i.name: i.status.messages or 0 for i in infos if i.selectable and i.status is not None
        }

    async def change_server(self) -> tuple[dict[str, int], set[int]]:
        """Mark some read, flag some, delete some, deliver new mail; returns the
        counts and the INBOX UIDs touched."""
        async with self.spec().connect() as client:
            await client.select("INBOX")
            uids = list((await client.search(S.ALL)).all or ())
            unseen = list((await client.search(S.UNSEEN)).all or ())
            to_read = unseen[:12]
            to_flag = [u for u in uids if u not in to_read][5:11]
            to_delete = uids[-8:]
            if to_read:
                await client.add_flags(to_read, [Flag.SEEN])
            if to_flag:
                await client.add_flags(to_flag, [Flag.FLAGGED])
            await client.add_flags(to_delete, [Flag.DELETED])
            await client.expunge()
            new = [AppendMessage(m.data, (), m.date) for m in sample_messages(5, seed=99)]
            await client.append_many("INBOX", new)
            await client.select("Projects")
            proj = list((await client.search(S.ALL)).all or ())[:3]
            if proj:
                await client.add_flags(proj, [Flag.DELETED])
                await client.expunge()
        counts = {
            "marked_read": len(to_read),
            "flagged": len(to_flag),
            "deleted": len(to_delete) + len(proj),
            "new": len(new),
        }
        return counts, {int(u) for u in [*to_read, *to_flag, *to_delete]}

    async def flagged_on_server(self) -> int:
        async with self.spec().connect() as client:
            await client.examine("INBOX")
            return (await client.search(S.FLAGGED)).count


def _password() -> Secret:
    return Secret(os.environ[PASSWORD_ENV])


async def _create(client: Any, mailbox: str) -> None:
    try:
        await client.create(mailbox)
    except CommandNoError as exc:
        if (exc.code or "").upper() != "ALREADYEXISTS":
            raise


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def flag_locally(maildir_inbox: Path, n: int, *, avoid: set[int]) -> int:
    """Add ``F`` (flagged) to ``n`` messages of a Maildir folder by renaming
    their files, as a mail client reading the Maildir does -- messages whose
    UID (the file's ``<uidvalidity>_<uid>`` name) is not in ``avoid``."""
    done = 0
    cur = maildir_inbox / "cur"
    if not cur.is_dir():
        return 0
    for path in sorted(cur.iterdir()):
        if done >= n:
            break
        name = path.name
        base, sep, info = name.rpartition(":2,")
        uid = base.rpartition("_")[2]
        if not sep or "F" in info or not uid.isdigit() or int(uid) in avoid:
            continue
        path.rename(cur / f"{base}:2,{''.join(sorted(info + 'F'))}")
        done += 1
    return done


def local_count(root: Path) -> int:
    """Message files in a Maildir tree (cur/ and new/ of every folder)."""
    return sum(
        1
        for sub in ("cur", "new")
        for folder in [root, *[p for p in root.iterdir() if p.name.startswith(".")]]
        if (folder / sub).is_dir()
        for f in (folder / sub).iterdir()
        if f.is_file()
    )


def _tree_sample(root: Path) -> Iterator[str]:
    """The Maildir++ folders with their message counts, and one example file."""
    folders = [root, *sorted(p for p in root.iterdir() if p.name.startswith(".") and p.is_dir())]
    example = (
        next(iter(sorted((root / "cur").iterdir())), None) if (root / "cur").is_dir() else None
    )
    if example is not None:
        yield f"{example}  (INBOX; <uidvalidity>_<uid>:2,<flags>)"
    for folder in folders:
        n = sum(
            1 for sub in ("cur", "new") if (folder / sub).is_dir() for _ in (folder / sub).iterdir()
        )
        if n:
            yield f"{folder}/  {n} messages"


async def _run_steps(demo: _Demo) -> None:
    say = demo.say
    archive_dir = demo.root / "archive"
    say(f"[2/{STEPS}] filling the sample mailbox (generated with the email package)")
    await demo.fill()

    say(f"[3/{STEPS}] archive: every mailbox into a Maildir tree")
    await demo.run_job(demo.argv("archive", str(archive_dir)))
    server = await demo.server_counts()
    n_local = local_count(archive_dir)
    demo.check(n_local == sum(server.values()), f"{n_local} message files on disk, "
               f"{sum(server.values())} on the server")  # fmt: skip
    for path in _tree_sample(archive_dir):
        say(f"      {path}")

    say(f"[4/{STEPS}] sync: changes on the server and in the local Maildir")
    changes, touched = await demo.change_server()
    flagged_before = await demo.flagged_on_server()
    local_flags = flag_locally(archive_dir, 3, avoid=touched)
    say(
        f"      on the server: {changes['marked_read']} marked read, {changes['flagged']} "
        f"flagged, {changes['deleted']} deleted (INBOX, Projects), {changes['new']} new in "
        "INBOX; "
        f"locally: {local_flags} flagged (Maildir file names)"
    )
    await demo.run_job(demo.argv("sync", str(archive_dir)))
    server = await demo.server_counts()
    n_local = local_count(archive_dir)
    demo.check(n_local == sum(server.values()), f"{n_local} message files on disk, "
               f"{sum(server.values())} on the server")  # fmt: skip
    flagged_after = await demo.flagged_on_server()
    demo.check(
        flagged_after == flagged_before + local_flags,
        f"local flags pushed: INBOX has {flagged_after} flagged messages on the server "
        f"(was {flagged_before}, {local_flags} flagged locally)",
    )

    mbox = demo.root / "old-mail.mbox"
    mbox.write_bytes(mbox_bytes(20))
    say(f"[5/{STEPS}] import: {mbox.name} (20 messages) into the mailbox {IMPORT_MAILBOX!r}")
    state = str(demo.root / "import-state.sqlite")
    await demo.run_job(demo.argv("import", str(mbox), "-m", IMPORT_MAILBOX, "--state", state))
    first = (await demo.server_counts()).get(IMPORT_MAILBOX, 0)
    demo.check(first == 20, f"{IMPORT_MAILBOX} holds {first} messages")
    say("      ... and the same command again (a re-run or a resumed run):")
    await demo.run_job(demo.argv("import", str(mbox), "-m", IMPORT_MAILBOX, "--state", state))
    second = (await demo.server_counts()).get(IMPORT_MAILBOX, 0)
    demo.check(second == first, f"still {second} messages: nothing duplicated")


def _short_tmp() -> str | None:
    """A temp dir short enough for Dovecot's unix sockets: their paths (under
    ``<dir>/run/``) must fit ``sun_path``'s 108 bytes, which a long ``TMPDIR``
    (macOS, pytest) would not leave room for."""
    default = tempfile.gettempdir()
    if len(default) <= 40:
        return None
    return "/tmp" if os.access("/tmp", os.W_OK | os.X_OK) else None


def run_demo(args: argparse.Namespace, ui: Ui) -> int:
    from ..testing import DovecotNotInstalledError, DovecotServer, DovecotStartError

    out = ui.err if ui.json else ui.out

    def say(text: str) -> None:
        if not ui.quiet:
            ui.progress.close()
            print(text, file=out, flush=True)

    started = time.monotonic()
    trace = start_trace(args)
    keep = bool(args.keep or args.dir)
    if args.dir is not None:
        root = Path(args.dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            from ._exit import CliUsageError

            raise CliUsageError(f"--dir {root} is not empty")
    else:
        root = Path(tempfile.mkdtemp(prefix="pipeimap-demo-"))
    os.environ[PASSWORD_ENV] = secrets.token_urlsafe(12)
    say("pipeimap demo: archive, sync and import against a throwaway Dovecot on 127.0.0.1")
    say(f"[1/{STEPS}] starting a private Dovecot (its own temp dir, free ports, private CA)")
    t0 = time.monotonic()
    server_dir = Path(tempfile.mkdtemp(prefix="pipeimap-dovecot-", dir=_short_tmp()))
    server = DovecotServer(users={USER: os.environ[PASSWORD_ENV]}, directory=server_dir)
    demo: _Demo | None = None
    try:
        try:
            server.start()
        except (DovecotNotInstalledError, DovecotStartError) as exc:
            first = (str(exc).splitlines() or [""])[0][:300]  # one line; the log tail is long
            raise DemoServerError(f"cannot start the demo's Dovecot: {first}") from None
        say(f"      ready in {time.monotonic() - t0:.1f} s: imaps://{USER}@localhost:"
            f"{server.imaps_port}, CA {server.ca_file}")  # fmt: skip
        demo = _Demo(ui, root, server, args.messages, say)
        demo.trace, demo.trace_bodies = trace, args.trace_bodies
        steps = demo
        run_interruptibly(
            lambda: _run_steps(steps),
            on_signal=lambda: ui.warn("stopping..."),
        )
    finally:
        server.stop()
        shutil.rmtree(server_dir, ignore_errors=True)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    failures = demo.failures
    code = ExitCode.PROBLEMS if failures else ExitCode.OK
    elapsed = time.monotonic() - started
    where = f"files kept in {root}" if keep else "temporary files removed (--keep keeps them)"
    if failures:
        ui.warn(f"demo finished with {len(failures)} problem(s) in {elapsed:.1f} s; {where}")
    else:
        say(f"demo finished: every check passed in {elapsed:.1f} s; {where}")
    ui.emit_json(
        {
            "command": "demo",
            "ok": not failures,
            "exit_code": int(code),
            "seconds": round(elapsed, 3),
            "directory": str(root),
            "kept": keep,
            "problems": failures,
            "steps": demo.steps,
        }
    )
    return int(code)
