"""The layering contract of docs/architecture: the protocol core and the scheduler
are sans-IO -- they import no async library and nothing that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipeimap"
SANS_IO_LAYERS = ["protocol", "scheduler"]
FORBIDDEN = {"anyio", "trio", "asyncio", "socket", "ssl", "selectors", "sniffio"}
# Higher layers that the sans-IO layers must not reach up into.
UPPER_LAYERS = {"client", "jobs", "store", "cli"}


def forbidden_imports(source: str) -> list[str]:
    """Return the forbidden modules imported (anywhere, even inside functions) by ``source``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve only the first component against pipeimap/
                mod = node.module or ""
                first = mod.split(".")[0]
                if node.level >= 2 and first in UPPER_LAYERS:
                    found.append(f"pipeimap.{mod}")
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in FORBIDDEN:
                found.append(name)
            parts = name.split(".")
            if top == "pipeimap" and len(parts) > 1 and parts[1] in UPPER_LAYERS:
                found.append(name)
    return found


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("import trio", ["trio"]),
        ("def f():\n    import anyio.abc\n", ["anyio.abc"]),
        ("from asyncio import sleep", ["asyncio"]),
        ("from ..client import Client", ["pipeimap.client"]),
        ("import pipeimap.jobs.archive", ["pipeimap.jobs.archive"]),
        ("import re\nfrom ._types import UID\nfrom ..errors import ProtocolError", []),
    ],
)
def test_checker_detects_forbidden_imports(source: str, bad: list[str]) -> None:
    assert forbidden_imports(source) == bad


@pytest.mark.parametrize("layer", SANS_IO_LAYERS)
def test_sans_io_layers_import_no_async_library(layer: str) -> None:
    layer_dir = PACKAGE / layer
    if not layer_dir.exists():
        pytest.skip(f"pipeimap.{layer} does not exist yet")
    files = sorted(layer_dir.rglob("*.py"))
    assert files, f"no modules found in {layer_dir}"
    offenders = {
        str(f.relative_to(PACKAGE)): bad
        for f in files
        if (bad := forbidden_imports(f.read_text(encoding="utf-8")))
    }
    assert offenders == {}
