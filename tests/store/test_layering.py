"""pipeimap.store is synchronous file I/O: no async library, no network, and it
does not reach up into the client, the jobs or the CLI."""

from __future__ import annotations

from pathlib import Path

from tests.test_layering import forbidden_imports

STORE = Path(__file__).resolve().parents[2] / "pipeimap" / "store"


def test_store_imports_no_async_library_and_no_upper_layer() -> None:
    files = sorted(STORE.glob("*.py"))
    assert files
    offenders = {}
    for f in files:
        bad = [
            b
            for b in forbidden_imports(f.read_text(encoding="utf-8"))
            if b != "pipeimap.store" and not b.startswith("pipeimap.store.")
        ]
        if bad:
            offenders[f.name] = bad
    assert offenders == {}
