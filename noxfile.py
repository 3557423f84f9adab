"""Developer sessions: ``nox -s tests lint typecheck docs bench``.

Every session installs what it needs into its own virtualenv.  On a fresh machine,
``scripts/bootstrap`` installs the system packages (Dovecot, python3-venv) and nox itself.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PY_SOURCES = ["pipeimap", "tests", "bench", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (arguments go to pytest)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting check."""
    session.install("ruff")
    session.run("ruff", "check", *PY_SOURCES)
    session.run("ruff", "format", "--check", *PY_SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    session.install("-e", ".[typecheck,bench]")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx documentation, treating every warning as an error."""
    session.install("-e", ".[docs]")
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, side by side with other IMAP libraries (reports, never fails on speed).

    Runs the parser benchmark, the client benchmark (a private Dovecot at 0 and
    20 ms RTT, about 8 minutes on 2 cores), then the jobs benchmark (archive, import
    and sync against peer scripts, same RTTs).  ``nox -s bench -- --quick`` smoke-runs
    all three; ``nox -s bench -- parser ARGS``, ``nox -s bench -- client ARGS`` or
    ``nox -s bench -- jobs ARGS`` runs one of them with its own options
    (``--json PATH``, ``--rtt 0,5,20``...)."""
    session.install("-e", ".[bench]")
    args = list(session.posargs)
    which: tuple[str, ...] = ("parser", "client", "jobs")
    if args and args[0] in which:
        which = (args.pop(0),)
    for name in which:
        session.run("python", f"bench/{name}_bench.py", *args)
