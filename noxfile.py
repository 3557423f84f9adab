"""Developer sessions: ``nox -s tests lint typecheck docs bench``.

Every session installs what it needs into its own virtualenv.  On a fresh machine,
``scripts/bootstrap`` installs the system packages (Dovecot, python3-venv) and nox itself.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PY_SOURCES = ["pipeimap", "tests", "bench", "fuzz", "noxfile.py"]


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
    """The benchmark report (figures only, never fails on speed; exit 1 on a failed check).

    ``nox -s bench`` runs ``bench/report.py``: a private Dovecot, every scenario
    (archive, import, flag update, header scan, incremental sync) for pipeimap and
    its peers at 0/5/20/50 ms RTT, median of 3, about 20-30 minutes on 2 cores;
    it writes ``bench/report/REPORT.md``, PNG plots and ``results.json``.
    ``nox -s bench -- --quick`` is a 2-3 minute smoke run (into
    ``bench/report-quick/``); other arguments go to report.py (``--out DIR``,
    ``--rtt 0,20``, ``--docs-plot``...).  The older parts run alone with
    ``nox -s bench -- parser ARGS``, ``-- client ARGS`` or ``-- jobs ARGS``."""
    session.install("-e", ".[bench]")
    args = list(session.posargs)
    script = "report"
    if args and args[0] in ("report", "parser", "client", "jobs"):
        script = args.pop(0)
    session.run(
        "python", f"bench/{script}.py" if script == "report" else f"bench/{script}_bench.py", *args
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Long-running fuzzers of the parser, the FETCH fast path, the router and the
    command reader (see docs/fuzzing.md); not part of the default sessions.

    ``nox -s fuzz`` runs every target for 120 minutes in all (20 each), coverage-guided
    with atheris where it installs (a wheel exists for CPython 3.11 on x86-64 Linux),
    else with the built-in mutation engine.  ``nox -s fuzz -- --minutes 2`` is a short
    run; other arguments go to ``fuzz/run.py`` (``--target parser``, ``--seed 7``,
    ``--engine builtin``...).  New findings land in ``fuzz/findings/`` and make the
    session fail."""
    session.install("-e", ".[test,bench]")
    # atheris is optional: no wheel for every Python, and building it needs clang.
    session.run("python", "-m", "pip", "install", "atheris>=2.3", success_codes=[0, 1])
    args = list(session.posargs)
    if not any(a == "--minutes" or a.startswith("--minutes=") for a in args):
        args = ["--minutes", "120", *args]
    session.run("python", "fuzz/run.py", *args)
