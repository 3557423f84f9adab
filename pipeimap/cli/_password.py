"""Where the password (or OAuth 2.0 token) comes from -- never the command line.

A value on the command line is visible to every local user (``ps``,
``/proc/PID/cmdline``) and is kept in shell history, so there is no
``--password VALUE``.  The sources, in the spirit of mbsync's ``PassCmd``:

* ``--password-env VAR``: the environment variable ``VAR``;
* ``--password-file PATH``: the file's first line (a trailing newline is not
  part of the password); a warning when others may read the file;
* ``--password-command CMD``: the first line of ``CMD``'s output.  ``CMD`` is
  split like a shell would (``shlex``) and run *without* a shell, so
  ``--password-command "pass show mail/alice"`` works and nothing in it is
  interpreted; for pipes write ``--password-command "sh -c 'gpg -d f.gpg | head -1'"``;
* otherwise, on a terminal, a prompt (``getpass``: nothing is echoed).

Every value is wrapped in :class:`~pipeimap.Secret` at once, so it never shows
in a repr, an error message or a log line.  :data:`SECRETS` remembers every
secret read, so that the error printer can scrub them from any text as a last
line of defence.
"""

from __future__ import annotations

import getpass
import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..protocol import Secret

__all__ = ["SECRETS", "CredentialError", "CredentialSource", "read_secret", "scrub"]

SECRETS: list[Secret] = []
_COMMAND_TIMEOUT = 60.0


class CredentialError(Exception):
    """The password or token could not be read; the message never holds it."""


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """One configured source: ``kind`` is ``"env"``, ``"file"``, ``"command"`` or
    ``"prompt"``; ``what`` is ``"password"`` or ``"OAuth 2.0 token"``."""

    kind: str
    value: str
    what: str = "password"

    def describe(self) -> str:
        if self.kind == "env":
            return f"environment variable {self.value}"
        if self.kind == "file":
            return f"file {self.value}"
        if self.kind == "command":
            return "--" + ("password" if self.what == "password" else "oauth2-token") + "-command"
        return "prompt"


def _first_line(data: str) -> str:
    line = data.split("\n", 1)[0]
    return line.removesuffix("\r")


def _from_env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise CredentialError(f"the environment variable {name} (for the {what}) is not set")
    if not value:
        raise CredentialError(f"the environment variable {name} (for the {what}) is empty")
    return value


def _from_file(path: str, what: str, warn: Callable[[str], None]) -> str:
    p = Path(path).expanduser()
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CredentialError(f"{what} file {path} does not exist") from None
    except OSError as exc:
        raise CredentialError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CredentialError(f"the {what} file {path} is not UTF-8 text") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warn(f"warning: {path} can be read by other users (chmod 600 {path})")
    value = _first_line(text)
    if not value:
        raise CredentialError(f"the {what} file {path} is empty")
    return value


def _from_command(command: str, what: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CredentialError(f"cannot split the {what} command: {exc}") from None
    if not argv:
        raise CredentialError(f"the {what} command is empty")
    try:
        # stderr goes to the terminal (a gpg pinentry may need it); stdout is the secret.
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL if not sys.stdin.isatty() else None,
            stdout=subprocess.PIPE,
            check=False,
            timeout=_COMMAND_TIMEOUT,
        )
    except FileNotFoundError:
        raise CredentialError(f"the {what} command {argv[0]!r} was not found") from None
    except PermissionError:
        raise CredentialError(f"the {what} command {argv[0]!r} cannot be run") from None
    except subprocess.TimeoutExpired:
        raise CredentialError(
            f"the {what} command {argv[0]!r} did not finish in {_COMMAND_TIMEOUT:g} s"
        ) from None
    if done.returncode != 0:
        # Its output is not shown: it may hold the secret or part of it.
        raise CredentialError(f"the {what} command {argv[0]!r} failed (exit {done.returncode})")
    value = _first_line(done.stdout.decode("utf-8", "surrogateescape"))
    if not value:
        raise CredentialError(f"the {what} command {argv[0]!r} printed nothing")
    return value


def _from_prompt(prompt: str, what: str) -> str:
    if not sys.stdin.isatty():
        raise CredentialError(
            f"no {what} given and no terminal to ask on: use --password-env, "
            "--password-file or --password-command"
        )
    try:
        value = getpass.getpass(prompt)
    except EOFError:
        raise CredentialError(f"no {what} entered") from None
    if not value:
        raise CredentialError(f"no {what} entered")
    return value


def read_secret(
    source: CredentialSource,
    *,
    prompt: str = "Password: ",
    warn: Callable[[str], None] | None = None,
) -> Secret:
    """Read the secret from ``source``; raise :class:`CredentialError` otherwise."""

    def _stderr(text: str) -> None:
        print(text, file=sys.stderr)

    what = source.what
    if source.kind == "env":
        value = _from_env(source.value, what)
    elif source.kind == "file":
        value = _from_file(source.value, what, warn or _stderr)
    elif source.kind == "command":
        value = _from_command(source.value, what)
    elif source.kind == "prompt":
        value = _from_prompt(prompt, what)
    else:  # pragma: no cover - the argument parser only makes the kinds above
        raise CredentialError(f"unknown {what} source {source.kind!r}")
    secret = Secret(value)
    SECRETS.append(secret)
    return secret


def scrub(text: str) -> str:
    """``text`` with every secret read so far replaced by ``***``."""
    for secret in SECRETS:
        value = secret.reveal()
        if len(value) >= 3 and value in text:
            text = text.replace(value, "***")
    return text
