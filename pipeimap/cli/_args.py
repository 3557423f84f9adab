"""The argument parser: ``pipeimap {archive,sync,import,demo}``.

Every command has ``--help`` with examples in its epilog.  The server and the
credential options are shared by archive, sync and import and turned into a
:class:`~pipeimap.jobs.ServerSpec` by :func:`server_spec` (which reads the
password only then, after the arguments are known to be valid).
"""

from __future__ import annotations

import argparse
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from ..jobs import RetryPolicy, ServerSpec
from ._exit import CliUsageError
from ._password import CredentialSource, read_secret
from ._url import ServerAddress, UrlError, parse_server_url

__all__ = [
    "build_parser",
    "credential_source",
    "parse_args",
    "retry_policy",
    "secret_on_command_line",
    "server_address",
    "server_spec",
]

_FORMAT = argparse.RawDescriptionHelpFormatter

_MAIN_EPILOG: Final = """\
examples:
  pipeimap demo                      try everything on a throwaway local server
  pipeimap archive imaps://alice@imap.example.org ~/mail-archive --password-env IMAP_PASSWORD
  pipeimap sync imaps://alice@imap.example.org ~/mail-archive --password-command "pass show mail"
  pipeimap import imaps://alice@imap.example.org old-mail.mbox --mailbox "Old mail"

The password is never an argument: use --password-env, --password-file,
--password-command or answer the prompt.  Ctrl-C stops cleanly; running the same
command again resumes.  Run "pipeimap COMMAND --help" for a command's options.

exit codes: 0 ok, 1 finished with problems, 2 usage error, 3 authentication
failed, 4 connection/TLS error, 5 server refused or throttled beyond retries,
6 local storage error, 70 internal error, 130 interrupted.
"""

_SERVER_HELP: Final = """\
the server: imaps://USER@HOST[:PORT] (TLS, port 993), imap://USER@HOST[:PORT]
(STARTTLS, port 143, refuses plaintext), imap://USER@HOST?insecure-plaintext (no
TLS: loopback/tunnels only).  A user name with "@" may stay as is or be written
%%40.  Instead of a URL: --host/--port/--user/--tls"""

_ARCHIVE_EPILOG: Final = """\
examples:
  # every mailbox of the account into a Maildir tree under ~/mail-archive
  pipeimap archive imaps://alice@imap.example.org ~/mail-archive --password-env IMAP_PASSWORD

  # two mailboxes, one mbox file each; the password from a password manager
  pipeimap archive imaps://alice@imap.example.org ~/mbox-archive --format mbox \\
      -m INBOX -m "Sent" --password-command "pass show mail/alice"

  # a user name that is an e-mail address, a server with a private CA
  pipeimap archive "imaps://alice@example.org@mail.example.org" backup \\
      --ca-file company-ca.pem --password-file ~/.imap-password

  # Gmail / Office 365 with an OAuth 2.0 access token
  pipeimap archive imaps://alice@gmail.com@imap.gmail.com backup --oauth2-token-command "oauth2l fetch ..."

Interrupted (Ctrl-C, a crash, a lost connection)?  Run the same command again:
messages already saved are not downloaded again.  Progress lives in the state file
(DEST/.pipeimap-state.sqlite unless --state says otherwise).
"""

_SYNC_EPILOG: Final = """\
examples:
  # the first run downloads everything; later runs fetch only what changed
  pipeimap sync imaps://alice@imap.example.org ~/mail-mirror --password-env IMAP_PASSWORD

  # keep INBOX current every 10 minutes (cron):
  */10 * * * *  pipeimap sync imaps://alice@imap.example.org ~/mirror -m INBOX --quiet \\
                    --password-file ~/.imap-password

What changes: new messages are downloaded, flag changes and deletions on the
server are applied locally, and flags changed locally (Maildir file names) are
pushed to the server.  When both sides changed a message's flags, the change is
merged flag by flag: a flag changed on one side only takes that side's value
(with --no-push-flags the server is authoritative and local flag edits are
reverted).  pipeimap never deletes on the server: a message whose local file was
deleted is downloaded again.  Uses QRESYNC or CONDSTORE when the server offers
them.  A changed UIDVALIDITY re-syncs the mailbox from scratch; the old local
copies are moved aside, never mixed with the new UIDs.
"""

_IMPORT_EPILOG: Final = """\
examples:
  # an mbox file into a new mailbox (created when missing)
  pipeimap import imaps://alice@imap.example.org old-mail.mbox --mailbox "Old mail" \\
      --password-env IMAP_PASSWORD

  # a Maildir (e.g. one made by "pipeimap archive") or a folder of .eml files
  pipeimap import imaps://alice@imap.example.org ~/Maildir/.Projects --mailbox Projects
  pipeimap import imaps://alice@imap.example.org exported-eml/ --mailbox Imported

Running the same import again uploads nothing twice: messages already there
(the journal of earlier runs, then Message-ID and size on the server) are
skipped, so an interrupted import is resumed by running it again.  Flags (mbox
Status/X-Status, Maildir info) and dates are kept.
"""

_DEMO_EPILOG: Final = """\
examples:
  pipeimap demo                  everything in a temporary directory, removed afterwards
  pipeimap demo --keep           keep the directory to look at the files
  pipeimap demo --json           the summaries of every step on stdout

The demo starts a private Dovecot on 127.0.0.1 (needs the dovecot-imapd package;
scripts/bootstrap installs it), fills it with a generated sample mailbox, then
runs archive, changes flags and deletes messages on the server and runs sync,
and imports a small mbox twice (the second run imports nothing).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a positive number of seconds")
    return value


def _add_output(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output")
    level = g.add_mutually_exclusive_group()
    level.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    level.add_argument(
        "-v", "--verbose", action="store_true", help="print more (phase starts, periodic lines)"
    )
    g.add_argument(
        "--json", action="store_true", help="print a machine-readable summary on stdout at the end"
    )
    g.add_argument(
        "--debug", action="store_true", help="show tracebacks (never passwords) on errors"
    )


def _add_trace(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("protocol trace (for bug reports)")
    g.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="write every IMAP command and response to FILE (overwritten), one line each "
        "with a time and C:/S:; passwords and tokens are always redacted, message "
        "content unless --trace-bodies",
    )
    g.add_argument(
        "--trace-bodies",
        action="store_true",
        help="include message content (bodies and headers) in the --trace file",
    )


def start_trace(args: argparse.Namespace) -> Path | None:
    """Create (or empty) the ``--trace`` file before the job opens connections
    (each appends to it); ``None`` without ``--trace``."""
    path: Path | None = getattr(args, "trace", None)
    if path is None:
        if getattr(args, "trace_bodies", False):
            raise CliUsageError("--trace-bodies needs --trace FILE")
        return None
    try:
        path.write_text("", encoding="utf-8")
    except OSError as exc:
        raise CliUsageError(f"--trace {path}: cannot write ({exc.strerror or exc})") from None
    return path


def _add_server(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument("--host", help="server host name (instead of a URL)")
    g.add_argument("--port", type=int, help="server port (default 993 with TLS, 143 otherwise)")
    g.add_argument("--user", help="user name (instead of the URL's)")
    g.add_argument(
        "--tls",
        choices=["implicit", "starttls", "insecure-plaintext"],
        help="TLS mode with --host (default implicit); overrides the URL's",
    )
    g.add_argument(
        "--ca-file",
        type=Path,
        metavar="PEM",
        help="trust this CA certificate (a private or company CA) instead of the system's",
    )
    g.add_argument(
        "--auth",
        metavar="MECH",
        help="SASL mechanism (SCRAM-SHA-256, PLAIN, XOAUTH2, OAUTHBEARER...); default: the best offered",
    )
    g.add_argument(
        "--timeout",
        type=_seconds,
        default=120.0,
        metavar="SECONDS",
        help="read timeout in seconds (default 120)",
    )
    g.add_argument(
        "--pipeline-depth",
        type=_positive_int,
        default=128,
        metavar="N",
        help="most commands in flight per connection (default 128; 1 turns pipelining off)",
    )
    g.add_argument("--no-compress", action="store_true", help="do not use COMPRESS=DEFLATE")
    g.add_argument(
        "--retries",
        type=int,
        default=7,
        metavar="N",
        help="retries after throttling or a lost connection (default 7, 0 = none)",
    )

    c = p.add_argument_group("password (never on the command line; default: ask on the terminal)")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--password-env", metavar="VAR", help="read the password from $VAR")
    src.add_argument(
        "--password-file", metavar="PATH", help="read the password from the file's first line"
    )
    src.add_argument(
        "--password-command",
        metavar="CMD",
        help='run CMD (split like a shell, run without one; e.g. "pass show mail") and use '
        "the first line it prints",
    )
    src.add_argument(
        "--oauth2-token-env", metavar="VAR", help="an OAuth 2.0 access token from $VAR"
    )
    src.add_argument(
        "--oauth2-token-file", metavar="PATH", help="an OAuth 2.0 access token from a file"
    )
    src.add_argument(
        "--oauth2-token-command", metavar="CMD", help="an OAuth 2.0 access token printed by CMD"
    )


_STATE_IN_DEST: Final = "the job's SQLite state file (default: DEST/.pipeimap-state.sqlite)"
_STATE_IMPORT: Final = (
    "the import journal, a SQLite file (default: $XDG_STATE_HOME/pipeimap/import-<hash>.sqlite, "
    "one per account, source and mailbox)"
)


def _add_job(p: argparse.ArgumentParser, text: str = _STATE_IN_DEST) -> None:
    p.add_argument("--state", type=Path, metavar="PATH", help=text)


def build_parser() -> argparse.ArgumentParser:
    """The ``pipeimap`` parser (use :func:`parse_args` to parse)."""
    return _build()[0]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line.  A command's options and positionals may come in any
    order (``archive URL --ca-file CA DEST``): argparse's plain parsing would
    take DEST for the optional SERVER there, so the command's own parser runs
    ``parse_intermixed_args``, which argparse cannot do through subparsers."""
    parser, commands = _build()
    argv = list(argv)
    if argv and argv[0] in commands:
        args = commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
        return args
    return parser.parse_args(argv)


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="pipeimap",
        description="Fast, resumable IMAP archive, sync and import (pipelined IMAP).",
        epilog=_MAIN_EPILOG,
        formatter_class=_FORMAT,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"pipeimap {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    archive = sub.add_parser(
        "archive",
        help="download mailboxes into Maildir, mbox or .eml files",
        description="Download every message of the chosen mailboxes (default: the whole "
        "account) with flags and dates, resumably.",
        epilog=_ARCHIVE_EPILOG,
        formatter_class=_FORMAT,
    )
    archive.add_argument("server", nargs="?", metavar="SERVER", help=_SERVER_HELP)
    archive.add_argument("dest", type=Path, metavar="DEST", help="local directory to write to")
    _add_mailboxes(archive, "mailbox to archive (repeat for more; default: all)")
    _add_format(archive)
    archive.add_argument(
        "--connections",
        type=_positive_int,
        default=4,
        metavar="N",
        help="mailboxes downloaded at once, one connection each (default 4)",
    )
    _add_job(archive)
    _add_server(archive)
    _add_output(archive)
    _add_trace(archive)

    sync = sub.add_parser(
        "sync",
        help="keep a local mirror current (new mail, flags, deletions; both ways for flags)",
        description="Bring a local mirror up to date with the server: the first run is an "
        "archive, later runs transfer only the changes.",
        epilog=_SYNC_EPILOG,
        formatter_class=_FORMAT,
    )
    sync.add_argument("server", nargs="?", metavar="SERVER", help=_SERVER_HELP)
    sync.add_argument("dest", type=Path, metavar="DEST", help="the local mirror's directory")
    _add_mailboxes(sync, "mailbox to sync (repeat for more; default: all)")
    _add_format(sync)
    sync.add_argument(
        "--connections",
        type=_positive_int,
        default=4,
        metavar="N",
        help="mailboxes synced at once (default 4)",
    )
    sync.add_argument(
        "--no-push-flags",
        action="store_true",
        help="do not send flags changed locally to the server: the server's flags win "
        "(local flag edits are reverted)",
    )
    sync.add_argument(
        "--keep-expunged",
        action="store_true",
        help="keep the local copy of messages deleted on the server (no longer tracked)",
    )
    sync.add_argument(
        "--mode",
        choices=["auto", "qresync", "condstore", "full"],
        default="auto",
        help="how to find changes: auto (default) uses QRESYNC, else CONDSTORE, else a "
        "full UID/flags comparison; the others force one",
    )
    _add_job(sync)
    _add_server(sync)
    _add_output(sync)
    _add_trace(sync)

    imp = sub.add_parser(
        "import",
        help="upload an mbox, a Maildir or a folder of .eml files into a mailbox",
        description="Upload local mail into a server mailbox, keeping flags and dates, "
        "never creating a duplicate (safe to run again).",
        epilog=_IMPORT_EPILOG,
        formatter_class=_FORMAT,
    )
    imp.add_argument("server", nargs="?", metavar="SERVER", help=_SERVER_HELP)
    imp.add_argument(
        "source", type=Path, metavar="SOURCE", help="an mbox file, a Maildir or a folder of .eml"
    )
    imp.add_argument(
        "-m",
        "--mailbox",
        default="INBOX",
        help="the mailbox to import into, created when missing (default INBOX)",
    )
    imp.add_argument(
        "--source-format",
        choices=["auto", "mbox", "maildir", "eml"],
        default="auto",
        help="what SOURCE is (default: guess from what is on disk)",
    )
    _add_job(imp, _STATE_IMPORT)
    _add_server(imp)
    _add_output(imp)
    _add_trace(imp)

    demo = sub.add_parser(
        "demo",
        help="try archive, sync and import on a throwaway local Dovecot",
        description="Start a private Dovecot with a generated sample mailbox and run "
        "archive, sync and import against it, showing what each step did.",
        epilog=_DEMO_EPILOG,
        formatter_class=_FORMAT,
    )
    demo.add_argument(
        "--keep", action="store_true", help="keep the demo directory (archive, mbox, state)"
    )
    demo.add_argument(
        "--dir",
        type=Path,
        metavar="PATH",
        help="work in PATH (created; kept afterwards) instead of a temporary directory",
    )
    demo.add_argument(
        "--messages",
        type=_positive_int,
        default=200,
        metavar="N",
        help="messages in the sample mailbox (default 200)",
    )
    _add_output(demo)
    _add_trace(demo)
    return parser, {"archive": archive, "sync": sync, "import": imp, "demo": demo}


def _add_mailboxes(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("-m", "--mailbox", dest="mailboxes", action="append", metavar="NAME", help=text)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=["maildir", "mbox", "eml"],
        default="maildir",
        help="maildir (default): a Maildir++ tree; mbox: one mboxrd file per mailbox; "
        "eml: one .eml file per message",
    )


# --- turning arguments into a ServerSpec ---------------------------------------------


def server_address(args: argparse.Namespace) -> ServerAddress:
    """The server from the URL or the --host options (never both)."""
    if args.server and args.host:
        raise CliUsageError("give the server as a URL or with --host, not both")
    if args.server:
        try:
            addr = parse_server_url(args.server)
        except UrlError as exc:
            raise CliUsageError(str(exc)) from None
        return ServerAddress(
            host=addr.host,
            port=args.port if args.port is not None else addr.port,
            username=args.user if args.user is not None else addr.username,
            tls=args.tls or addr.tls,
            auth_mechanism=args.auth.upper() if args.auth else addr.auth_mechanism,
        )
    if not args.host:
        raise CliUsageError("no server: give a URL (imaps://user@host) or --host")
    if args.port is not None and not 0 < args.port < 65536:
        raise CliUsageError(f"bad port {args.port} (expected 1-65535)")
    return ServerAddress(
        host=args.host,
        port=args.port,
        username=args.user,
        tls=args.tls or "implicit",
        auth_mechanism=args.auth.upper() if args.auth else None,
    )


def credential_source(args: argparse.Namespace) -> CredentialSource:
    for option, kind, what in (
        ("password_env", "env", "password"),
        ("password_file", "file", "password"),
        ("password_command", "command", "password"),
        ("oauth2_token_env", "env", "OAuth 2.0 token"),
        ("oauth2_token_file", "file", "OAuth 2.0 token"),
        ("oauth2_token_command", "command", "OAuth 2.0 token"),
    ):
        value = getattr(args, option)
        if value is not None:
            return CredentialSource(kind, value, what)
    return CredentialSource("prompt", "", "password")


def retry_policy(args: argparse.Namespace) -> RetryPolicy:
    if args.retries < 0:
        raise CliUsageError("--retries must be 0 or more")
    return RetryPolicy(attempts=args.retries + 1)


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise CliUsageError(f"--ca-file {ca_file}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise CliUsageError(f"--ca-file {ca_file}: not a usable PEM certificate ({exc})") from None


def server_spec(
    args: argparse.Namespace,
    *,
    warn: Callable[[str], None] | None = None,
) -> ServerSpec:
    """The job's :class:`ServerSpec`; reads the password or token (may prompt)."""
    addr = server_address(args)
    if addr.username is None:
        raise CliUsageError("no user name: put it in the URL (imaps://USER@host) or pass --user")
    ctx = _ssl_context(args.ca_file)
    if addr.tls == "insecure-plaintext" and ctx is not None:
        raise CliUsageError("--ca-file makes no sense without TLS (insecure-plaintext)")
    source = credential_source(args)
    prompt = f"Password for {addr.username}@{addr.host}: "
    secret = read_secret(source, prompt=prompt, warn=warn)
    token = source.what != "password"
    return ServerSpec(
        host=addr.host,
        port=addr.port,
        username=addr.username,
        password=None if token else secret,
        oauth2_token=secret if token else None,
        auth_mechanism=addr.auth_mechanism,
        tls=addr.tls,
        ssl_context=ctx,
        timeout=args.timeout,
        pipeline_depth=args.pipeline_depth,
        compress=not args.no_compress,
        trace=args.trace,
        trace_bodies=args.trace_bodies,
    )


_SECRET_OPTIONS: Final = frozenset(
    {"--password-env", "--password-file", "--password-command"}
    | {"--oauth2-token-env", "--oauth2-token-file", "--oauth2-token-command"}
)


def secret_on_command_line(argv: Sequence[str]) -> str | None:
    """A message when ``argv`` tries to pass a password itself (``--password X``,
    ``--password=X``, ``--oauth2-token X``): such an option does not exist, and
    argparse's own error would echo the value."""
    for arg in argv:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name in _SECRET_OPTIONS:
            continue
        if name.startswith(("--pass", "--oauth2-tok", "--token")):
            return (
                f"there is no {name} option: a password on the command line is visible to "
                "other users (ps) and kept in shell history; use --password-env VAR, "
                "--password-file PATH, --password-command CMD or the prompt"
            )
    return None
