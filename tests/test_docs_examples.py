"""Every ```python example in the docs (and the README) runs, so the docs cannot rot."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _examples() -> list[tuple[str, str]]:
    found = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for i, match in enumerate(_BLOCK.finditer(text)):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}#{i}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_examples_were_found() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_doc_example_runs(where: str, code: str) -> None:
    if "DovecotServer" in code and os.environ.get("PIPEIMAP_SKIP_DOVECOT") == "1":
        pytest.skip("the example starts a throwaway Dovecot; PIPEIMAP_SKIP_DOVECOT=1")
    exec(compile(code, where, "exec"), {"__name__": f"docs_example_{abs(hash(where))}"})
