"""The docs cannot rot: every ```python example in the docs (and the README) runs, every
public name is in the API reference, and every command-line option is in docs/cli.md.

An example that cannot run here (it needs a real provider, say) is marked with an HTML
comment on the line just before its fence, ``<!-- not-run: why -->``; it is then reported
as skipped with that reason.  Such examples should stay few, and a Python block written in
any other way (```py, ```{code-block} python...) is refused, so nothing escapes the test.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# docs/dev holds internal notes (excluded from the Sphinx build); docs/_build is output.
_SKIPPED_DIRS = {"dev", "_build"}
DOC_FILES = [
    ROOT / "README.md",
    *sorted(
        p
        for p in DOCS.rglob("*.md")
        if not _SKIPPED_DIRS.intersection(p.relative_to(DOCS).parts[:-1])
    ),
]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<why>.*?)\s*-->\s*\Z")
# Any other way of writing a Python block in Markdown/MyST, which the runner would miss.
_OTHER_PYTHON = re.compile(
    r"^```(?:py|py3|python3|pycon|ipython3?|\{code-block\}\s+py\w*|\{code\}\s+py\w*)\s*$",
    re.MULTILINE,
)


def _examples() -> list[tuple[str, str, str | None]]:
    found = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for i, match in enumerate(_BLOCK.finditer(text)):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = _NOT_RUN.search(before)
            why = marker.group("why") if marker else None
            found.append((f"{path.relative_to(ROOT)}:{line}#{i}", match.group(1), why))
    return found


EXAMPLES = _examples()


def test_examples_were_found() -> None:
    assert len(EXAMPLES) >= 5
    pages = {where.split(":")[0] for where, _, _ in EXAMPLES}
    # The landing page and the tutorial carry runnable examples; a change to the file
    # discovery that silently dropped them would otherwise go unnoticed.
    assert {"docs/index.md", "docs/tutorial.md", "README.md"} <= pages


def test_not_run_examples_are_few() -> None:
    not_run = [where for where, _, why in EXAMPLES if why is not None]
    assert len(not_run) <= 3, f"too many examples excluded from running: {not_run}"


def test_no_python_block_escapes_the_runner() -> None:
    escaped = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
        for path in DOC_FILES
        for text in [path.read_text(encoding="utf-8")]
        for m in _OTHER_PYTHON.finditer(text)
    ]
    assert not escaped, "write Python examples as ```python blocks so they run:\n" + "\n".join(
        escaped
    )


def test_markers_are_recognised() -> None:
    marker = _NOT_RUN.search("<!-- not-run: needs a Gmail account -->")
    assert marker is not None
    assert marker.group("why") == "needs a Gmail account"
    assert _NOT_RUN.search("<!-- a comment -->") is None
    for fence in ("```py", "```pycon", "```{code-block} python", "```python3"):
        assert _OTHER_PYTHON.search(f"text\n{fence}\nx = 1\n```\n"), fence
    assert not _OTHER_PYTHON.search("```python\nx = 1\n```\n")  # the runner's own form


@pytest.mark.parametrize(("where", "code", "why"), EXAMPLES, ids=[w for w, _, _ in EXAMPLES])
def test_doc_example_runs(where: str, code: str, why: str | None) -> None:
    if why is not None:
        pytest.skip(f"not run: {why}")
    if "DovecotServer" in code and os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("the example starts a throwaway Dovecot; PIPEIMAP_SKIP_DOVECOT=1")
    exec(compile(code, where, "exec"), {"__name__": f"docs_example_{abs(hash(where))}"})


# --- The API reference covers the public API --------------------------------------------

# Modules whose ``__all__`` is the public API and must be documented somewhere in docs/.
PUBLIC_MODULES = [
    "pipeimap",
    "pipeimap.client",
    "pipeimap.errors",
    "pipeimap.jobs",
    "pipeimap.store",
    "pipeimap.protocol",
    "pipeimap.testing",
]
_AUTO_OBJECT = re.compile(
    r"^\s*\.\. auto(?:class|function|data|exception|attribute|method)::\s*([\w.]+)",
    re.MULTILINE,
)
# Values that autodoc renders badly (unions, NewTypes, constants re-exported from a private
# module) are described by hand, with their full dotted name.
_PY_DATA = re.compile(r"^\s*(?:\.\. py:data::|```\{py:data\})\s*(pipeimap[\w.]*)", re.MULTILINE)
_AUTO_MODULE = re.compile(
    r"^\s*\.\. automodule::\s*([\w.]+)\s*\n((?:[ \t]+:[\w-]+:.*\n(?:[ \t]{6,}\S.*\n)*)*)",
    re.MULTILINE,
)


def _documented_objects() -> set[object]:
    """Every object an autodoc directive in docs/ renders (identity, so that a name
    re-exported by ``pipeimap`` counts when it is documented under ``pipeimap.client``)."""
    found: set[object] = set()

    def add(obj: object) -> None:
        found.add(_Ident(obj))

    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for dotted in [*_AUTO_OBJECT.findall(text), *_PY_DATA.findall(text)]:
            module, _, name = dotted.rpartition(".")
            add(getattr(importlib.import_module(module), name))
        for module_name, options in _AUTO_MODULE.findall(text):
            module = importlib.import_module(module_name)
            members = re.search(r":members:(.*(?:\n[ \t]{6,}\S.*)*)", options)
            if members is None:
                continue
            names = [n.strip() for n in members.group(1).replace("\n", " ").split(",")]
            names = [n for n in names if n]
            if not names:  # bare :members: -> the module's __all__
                names = list(getattr(module, "__all__", []))
            for name in names:
                add(getattr(module, name))
    return found


class _Ident:
    """Hash and compare by identity (some documented values are unhashable)."""

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ident) and other.obj is self.obj


def test_every_public_name_is_in_the_api_reference() -> None:
    documented = _documented_objects()
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, (str, int, type(os))) or name.startswith("__"):
                continue  # constants, submodules and __version__ have no autodoc entry
            if _Ident(obj) not in documented:
                missing.append(f"{module_name}.{name}")
    assert not missing, "public names missing from the API reference in docs/: " + ", ".join(
        missing
    )


def test_api_reference_check_notices_a_missing_name() -> None:
    # The check above must be able to fail: an undocumented object is not found.
    class Undocumented:
        pass

    assert _Ident(Undocumented) not in _documented_objects()
    assert _Ident(importlib.import_module("pipeimap.client").Client) in _documented_objects()


# --- docs/cli.md covers every command and option ----------------------------------------


def _cli_options() -> list[tuple[str, str]]:
    from pipeimap.cli._args import build_parser

    parser = build_parser()
    found = [("pipeimap", opt) for a in parser._actions for opt in a.option_strings]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                found.append(("pipeimap", command))
                for a in sub._actions:
                    found.extend((command, opt) for opt in a.option_strings)
    return [(cmd, opt) for cmd, opt in found if opt not in ("-h", "--help")]


def test_cli_reference_covers_every_option() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    options = _cli_options()
    assert ("archive", "--format") in options  # the parser walk found the commands
    missing = [
        f"{cmd} {opt}"
        for cmd, opt in options
        if not re.search(rf"`[^`\n]*{re.escape(opt)}\b", text)
    ]
    assert not missing, "options missing from docs/cli.md: " + ", ".join(missing)
