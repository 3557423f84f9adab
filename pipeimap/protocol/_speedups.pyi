# Type stub for the optional C accelerator (_speedups.c); see _accel.py.
from collections.abc import Callable, Sequence
from typing import Any

from ._lexer import Value
from ._responses import StreamedLiteral

def lex_fetch_batch(
    texts: Sequence[bytes], literals: Sequence[bytes], max_depth: int, /
) -> list[list[Value]] | None: ...
def lex_tokens(
    parts: Sequence[str | bytes | StreamedLiteral], max_depth: int, partial: bool, /
) -> list[Value] | None: ...
def fetch_items(tree: list[Value], /) -> dict[str, object] | None: ...
def configure_items(
    uid: type[int],
    address: type[tuple[Any, ...]],
    envelope: type[tuple[Any, ...]],
    disposition: type[tuple[Any, ...]],
    body_part: type[tuple[Any, ...]],
    multipart: type[tuple[Any, ...]],
    kinds: dict[str, int],
    handlers: dict[str, tuple[str, Callable[[Value], object]]],
    sections: dict[str, tuple[str, Callable[[Value], object]]],
    flag_cache: dict[tuple[Value, ...], tuple[object, ...]],
    flags: Callable[[Value], tuple[object, ...]],
    /,
) -> None: ...
