# Type stub for the optional C accelerator (_speedups.c); see _accel.py.
from collections.abc import Sequence

from ._lexer import Value
from ._responses import StreamedLiteral

def lex_fetch_batch(
    texts: Sequence[bytes], literals: Sequence[bytes], max_depth: int, /
) -> list[list[Value]] | None: ...
def lex_tokens(
    parts: Sequence[str | bytes | StreamedLiteral], max_depth: int, partial: bool, /
) -> list[Value] | None: ...
