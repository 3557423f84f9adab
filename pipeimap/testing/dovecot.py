"""A private, throwaway Dovecot IMAP server on loopback, in a temporary directory.

Used by the test suite, the benchmarks and ``pipeimap demo``.  Nothing here touches
the system's Dovecot: the configuration, mail, logs, sockets and TLS certificates all
live in one directory, the server listens on 127.0.0.1 only, on free ports chosen at
start, and everything is removed on stop.

Theory of operation: ``dovecot -F -c CONF`` runs the master process in the foreground
as our child, so stopping is a signal to one process and a crash is visible.  Dovecot
drops privileges for its login and mail processes: when we run as root they run as the
``dovecot``/``dovenull`` system users (which Debian's package creates); otherwise as
the current user.  TLS uses a private CA made with ``trustme`` (or, when it is not
installed, a self-signed certificate from the ``openssl`` command); the CA file is
exposed so that clients can verify the server for real instead of turning
verification off.

Requires Debian's ``dovecot-imapd`` package (``scripts/bootstrap`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["DovecotNotInstalledError", "DovecotServer", "DovecotStartError", "find_dovecot"]

_DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


class DovecotNotInstalledError(RuntimeError):
    """Dovecot is not installed (run ``scripts/bootstrap``, or ``apt-get install dovecot-imapd``)."""


class DovecotStartError(RuntimeError):
    """Dovecot did not start; the message includes the end of its log."""


def find_dovecot() -> str:
    """Return the path of the ``dovecot`` binary or raise :class:`DovecotNotInstalledError`."""
    for candidate in _DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("dovecot")
    if found:
        return found
    raise DovecotNotInstalledError(
        "dovecot is not installed: run scripts/bootstrap (or apt-get install dovecot-imapd)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DovecotServer:
    """A private Dovecot.  Use as a context manager::

        with DovecotServer(users={"alice": "secret"}) as server:
            ctx = server.client_ssl_context()
            ... connect to ("127.0.0.1", server.imaps_port) with ctx ...

    Attributes available after :meth:`start`: ``host``, ``imap_port`` (plain, offers
    STARTTLS), ``imaps_port`` (implicit TLS), ``ca_file`` (PEM of the CA that signed the
    server certificate), ``directory``.
    """

    users: Mapping[str, str] = field(default_factory=lambda: {"alice": "alice-password"})
    compress: bool = True
    quota: bool = True
    directory: Path | None = None
    startup_timeout: float = 20.0
    extra_config: str = ""

    host: str = field(default="127.0.0.1", init=False)
    imap_port: int = field(default=0, init=False)
    imaps_port: int = field(default=0, init=False)
    ca_file: Path = field(default=Path(), init=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _own_dir: bool = field(default=False, init=False, repr=False)

    # -- life cycle ---------------------------------------------------------------

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration and start Dovecot; return when it accepts logins."""
        binary = find_dovecot()
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="pipeimap-dovecot-"))
            self._own_dir = True
        base = self.directory
        base.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "state", "home"):
            (base / sub).mkdir(exist_ok=True)
        self._write_tls(base)
        self._write_passwd(base)
        last_error = ""
        for _attempt in range(5):  # free-port races with other processes are retried
            self.imap_port, self.imaps_port = _free_port(), _free_port()
            (base / "dovecot.conf").write_text(self._config(base), encoding="utf-8")
            self._chown_tree(base)
            log = base / "dovecot.log"
            self._proc = subprocess.Popen(
                [binary, "-F", "-c", str(base / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=open(base / "dovecot.stderr", "wb"),  # noqa: SIM115 - closed by the child's exit
            )
            try:
                self._wait_ready()
                return
            except DovecotStartError as exc:
                last_error = str(exc)
                self._terminate()
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                if "Address already in use" not in tail:
                    break
        self._cleanup_dir()
        raise DovecotStartError(last_error)

    def stop(self) -> None:
        """Stop Dovecot and remove the directory if this object created it."""
        self._terminate()
        self._cleanup_dir()

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def _cleanup_dir(self) -> None:
        if self._own_dir and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
            self._own_dir = False

    # -- helpers for clients ----------------------------------------------------------

    def client_ssl_context(self) -> ssl.SSLContext:
        """An :class:`ssl.SSLContext` that verifies this server's certificate for real."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        return ctx

    def mail_dir(self, user: str) -> Path:
        """The user's Maildir on disk (for tests that inspect the server side)."""
        assert self.directory is not None
        return self.directory / "home" / user / "Maildir"

    @property
    def log_text(self) -> str:
        """Dovecot's log so far (useful in test failure messages)."""
        if self.directory is None:
            return ""
        log = self.directory / "dovecot.log"
        return log.read_text(errors="replace") if log.exists() else ""

    @contextlib.contextmanager
    def raw_connection(
        self, *, tls: bool = False, timeout: float = 10.0
    ) -> Iterator[socket.socket]:
        """A blocking socket to the server (TLS-wrapped when ``tls``), for wire-level tests."""
        port = self.imaps_port if tls else self.imap_port
        sock = socket.create_connection((self.host, port), timeout=timeout)
        try:
            if tls:
                sock = self.client_ssl_context().wrap_socket(sock, server_hostname="localhost")
            yield sock
        finally:
            sock.close()

    # -- configuration ----------------------------------------------------------------

    def _accounts(self) -> tuple[str, str, str]:
        """(mail user, login user, internal user) for the processes Dovecot spawns."""
        if os.geteuid() == 0:
            return ("dovecot", "dovenull", "dovecot")
        me = pwd.getpwuid(os.geteuid()).pw_name
        return (me, me, me)

    def _chown_tree(self, base: Path) -> None:
        if os.geteuid() != 0:
            return
        mail_user = pwd.getpwnam(self._accounts()[0])
        os.chmod(base, 0o755)
        for path in [base / "home", *sorted((base / "home").rglob("*"))]:
            os.chown(path, mail_user.pw_uid, mail_user.pw_gid)

    def _write_passwd(self, base: Path) -> None:
        lines = []
        for user, password in self.users.items():
            if any(c in user + password for c in ":\n\r"):
                raise ValueError("test user names and passwords may not hold ':' or newlines")
            lines.append(f"{user}:{{PLAIN}}{password}::::::\n")
        passwd = base / "passwd"
        passwd.write_text("".join(lines), encoding="utf-8")
        os.chmod(passwd, 0o644)

    def _write_tls(self, base: Path) -> None:
        cert, key = base / "server-cert.pem", base / "server-key.pem"
        self.ca_file = base / "ca.pem"
        try:
            import trustme
        except ImportError:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                 "-keyout", str(key), "-out", str(cert)],
                check=True, capture_output=True,
            )  # fmt: skip
            shutil.copyfile(cert, self.ca_file)
        else:
            ca = trustme.CA()
            server_cert = ca.issue_cert("localhost", "127.0.0.1")
            server_cert.cert_chain_pems[0].write_to_path(str(cert))
            for pem in server_cert.cert_chain_pems[1:]:
                pem.write_to_path(str(cert), append=True)
            server_cert.private_key_pem.write_to_path(str(key))
            ca.cert_pem.write_to_path(str(self.ca_file))
        os.chmod(key, 0o600)

    def _config(self, base: Path) -> str:
        mail_user, login_user, internal_user = self._accounts()
        imap_plugins = []
        mail_plugins = []
        if self.compress:
            imap_plugins.append("imap_zlib")
        if self.quota:
            mail_plugins.append("quota")
            imap_plugins.append("imap_quota")
        quota = (
            "plugin {\n  quota = maildir:User quota\n  quota_rule = *:storage=1G\n}\n"
            if self.quota
            else ""
        )
        return f"""# pipeimap private Dovecot (generated; do not edit)
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{base}/server-cert.pem
ssl_key = <{base}/server-key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login scram-sha-256
# A test server: no penalty delay after a failed login (tests fail logins on purpose).
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {internal_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins {" ".join(mail_plugins)}
mailbox_list_index = yes
imap_max_line_length = 256k
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={base}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = create
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins {" ".join(imap_plugins)}
  mail_max_userip_connections = 100
}}
{quota}service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No login penalty either: auth_failure_delay alone does not stop anvil from slowing
  # every later login from the same IP after a failure (tests fail logins on purpose).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{self.extra_config}
"""

    def _wait_ready(self) -> None:
        """Wait until the plain listener answers with its real (post-auth-process) greeting."""
        assert self._proc is not None
        assert self.directory is not None
        deadline = time.monotonic() + self.startup_timeout
        last = ""
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DovecotStartError(
                    f"dovecot exited with {self._proc.returncode}: {self._log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.imap_port), timeout=2) as sock:
                    data = b""
                    sock.settimeout(2)
                    while b"ready" not in data.lower() and len(data) < 4096:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if b"ready" in data.lower():
                        sock.sendall(b"x LOGOUT\r\n")
                        return
                    last = data.decode(errors="replace")
            except OSError as exc:
                last = str(exc)
            time.sleep(0.05)
        raise DovecotStartError(
            f"dovecot not ready after {self.startup_timeout}s ({last}): {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        assert self.directory is not None
        texts = []
        for name in ("dovecot.log", "dovecot.stderr"):
            path = self.directory / name
            if path.exists():
                texts.append(path.read_text(errors="replace")[-1500:])
        return " | ".join(texts)
