"""The three job commands: arguments in, the real job called, a report out."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ..jobs import Progress, ServerSpec, archive, import_mail, sync
from ._args import retry_policy
from ._progress import format_bytes

__all__ = ["RUNNERS", "describe_report", "problems_of", "state_path"]


def state_path(args: argparse.Namespace, local: Path) -> Path | None:
    """``--state``, else the job's default (``None``)."""
    return Path(args.state) if args.state is not None else None


async def run_archive(spec: ServerSpec, args: argparse.Namespace, progress: Progress) -> Any:
    return await archive(
        spec,
        args.dest,
        mailboxes=args.mailboxes,
        format=args.format,
        state_path=state_path(args, args.dest),
        connections=args.connections,
        progress=progress,
        retry=retry_policy(args),
    )


async def run_sync(spec: ServerSpec, args: argparse.Namespace, progress: Progress) -> Any:
    return await sync(
        spec,
        args.dest,
        mailboxes=args.mailboxes,
        format=args.format,
        state_path=state_path(args, args.dest),
        connections=args.connections,
        mode=args.mode,
        push_flags=not args.no_push_flags,
        keep_expunged=args.keep_expunged,
        progress=progress,
        retry=retry_policy(args),
    )


async def run_import(spec: ServerSpec, args: argparse.Namespace, progress: Progress) -> Any:
    return await import_mail(
        spec,
        args.source,
        args.mailbox,
        source_format=args.source_format,
        state_path=state_path(args, args.source),
        progress=progress,
        retry=retry_policy(args),
    )


RUNNERS: dict[str, Callable[[ServerSpec, argparse.Namespace, Progress], Awaitable[Any]]] = {
    "archive": run_archive,
    "sync": run_sync,
    "import": run_import,
}


def _n(report: object, name: str) -> int:
    value = getattr(report, name, 0)
    return int(value) if isinstance(value, int) else 0


def _describe_import(r: Any) -> Iterator[str]:
    created = " (created)" if getattr(r, "created_mailbox", False) else ""
    yield (
        f"import into {r.mailbox!r}{created}: {_n(r, 'appended')} uploaded, "
        f"{_n(r, 'already_imported')} already imported by an earlier run, "
        f"{_n(r, 'skipped_duplicates')} already in the mailbox"
        + (f", {_n(r, 'recovered')} recovered after a crash" if _n(r, "recovered") else "")
        + f"; {format_bytes(_n(r, 'bytes'))} in {float(getattr(r, 'duration', 0.0)):.1f} s"
    )
    if _n(r, "skipped_too_large") or _n(r, "failed"):
        yield (
            f"not uploaded: {_n(r, 'skipped_too_large')} too large for the server, "
            f"{_n(r, 'failed')} refused by it"
        )


def _verified(m: Any) -> str:
    v = getattr(m, "verification", None)
    if v is None:
        return ""
    if v.ok:
        return f"; verified ({v.present} stored)"
    return f"; NOT verified ({len(v.missing)} missing, {len(getattr(v, 'extra', ()))} extra)"


def _describe_archive(r: Any) -> Iterator[str]:
    boxes = list(r.mailboxes)
    yield (
        f"archive: {r.downloaded} messages downloaded ({format_bytes(r.bytes)}), "
        f"{r.skipped} already archived, {len(boxes)} mailboxes, {r.duration:.1f} s"
    )
    empty = 0
    for m in boxes:
        v = m.verification
        if not (m.server_messages or m.downloaded or m.skipped or m.reset) and (v is None or v.ok):
            empty += 1
            continue
        reset = f"; UIDVALIDITY changed, {m.replaced} old messages moved aside" if m.reset else ""
        yield (
            f"  {m.mailbox}: {m.server_messages} on the server, {m.downloaded} downloaded, "
            f"{m.skipped} already archived{reset}{_verified(m)}"
        )
    if empty:
        yield f"  and {empty} empty mailboxes"
    for name, why in r.skipped_mailboxes:
        yield f"  {name}: not archived ({why})"
    yield f"state: {r.state_path}"


def _describe_sync(r: Any) -> Iterator[str]:
    boxes = list(r.mailboxes)
    yield (
        f"sync: {r.downloaded} new messages downloaded ({format_bytes(r.bytes)}), "
        f"{r.removed} removed (expunged on the server), flags: {r.flags_from_server} "
        f"updated from the server, {r.flags_to_server} pushed to it; {len(boxes)} mailboxes, "
        f"{r.duration:.1f} s"
    )
    for m in boxes:
        changed = (
            m.downloaded or m.removed or m.flags_from_server or m.flags_to_server or m.reset
            or m.push_deferred or (m.verification is not None and not m.verification.ok)
        )  # fmt: skip
        if not changed:
            continue
        extra = ""
        if m.both_changed:
            extra += f", {m.both_changed} changed on both sides (merged per flag)"
        if m.push_deferred:
            extra += f", {m.push_deferred} local changes deferred to the next run"
        if m.reset:
            extra += f"; UIDVALIDITY changed: re-synced, {m.replaced} old messages moved aside"
        yield (
            f"  {m.mailbox} ({m.mode}): +{m.downloaded} new, -{m.removed} removed, "
            f"{m.flags_from_server} flags from the server, {m.flags_to_server} to it"
            f"{extra}{_verified(m)}"
        )
    for name, why in r.skipped_mailboxes:
        yield f"  {name}: not synced ({why})"
    yield f"state: {r.state_path}"


_DESCRIBE: dict[str, Callable[[Any], Iterator[str]]] = {
    "archive": _describe_archive,
    "sync": _describe_sync,
    "import": _describe_import,
}


def describe_report(command: str, report: object) -> Iterator[str]:
    """A few lines for people about what a job did."""
    describe = _DESCRIBE.get(command)
    if describe is not None:
        yield from describe(report)
        return
    summary = getattr(report, "summary", None)
    if callable(summary):
        text = summary()
        if isinstance(text, str):
            yield from text.splitlines()
            return
    yield f"{command}: {report}"


def _uids(uids: Any) -> str:
    shown = ", ".join(str(u) for u in list(uids)[:10])
    return shown + (", ..." if len(uids) > 10 else "")


def problems_of(command: str, report: Any) -> list[str]:
    """What went wrong in a job that finished (empty: all is well)."""
    problems = getattr(report, "problems", None)
    if isinstance(problems, (list, tuple)):
        return [str(p) for p in problems]
    if getattr(report, "ok", True):
        return []
    if command in ("archive", "sync"):
        out = []
        for m in report.mailboxes:
            v = getattr(m, "verification", None)
            if v is not None and not v.ok:
                if v.missing:
                    out.append(
                        f"{m.mailbox}: {len(v.missing)} messages on the server are not stored "
                        f"(UIDs {_uids(v.missing)})"
                    )
                if getattr(v, "extra", ()):
                    out.append(
                        f"{m.mailbox}: {len(v.extra)} stored messages are no longer on the "
                        f"server (UIDs {_uids(v.extra)})"
                    )
        return out or [f"the {command} job reported a problem"]
    if command == "import":
        out = [f"{f.source_id}: refused by the server: {f.reason}" for f in report.failures]
        out += [f"{sid}: too large for the server" for sid in report.too_large]
        return out
    return [f"the {command} job reported a problem"]
