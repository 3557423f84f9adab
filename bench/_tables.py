"""Tables shared by the benchmarks: the console layout of ``client_bench.py``,
``jobs_bench.py`` and ``report.py`` (one row per client, one column group per
round-trip time) and Markdown tables for the report."""

from __future__ import annotations

from collections.abc import Sequence


def rtt_table(
    title: str,
    rtts: Sequence[float],
    sub: str,
    rows: Sequence[tuple[str, Sequence[str]]],
    *,
    label_width: int,
    cell_width: int,
) -> list[str]:
    """Console lines: ``title``, a header with one ``RTT n ms`` group per RTT over
    ``sub`` (the column names of one group), a rule, then ``label | cell | cell``
    per row (one cell per RTT, already formatted)."""
    lines = [
        "",
        title,
        f"{'client':<{label_width}}"
        + "".join(f" | {f'RTT {rtt:g} ms':^{cell_width}}" for rtt in rtts),
        f"{'':<{label_width}}" + "".join(f" | {sub:<{cell_width}}" for _ in rtts),
        "-" * (label_width + len(rtts) * (cell_width + 3)),
    ]
    for label, cells in rows:
        lines.append(f"{label:<{label_width}}" + "".join(f" | {c:<{cell_width}}" for c in cells))
    return lines


def print_rtt_table(
    title: str,
    rtts: Sequence[float],
    sub: str,
    rows: Sequence[tuple[str, Sequence[str]]],
    *,
    label_width: int,
    cell_width: int,
) -> None:
    """:func:`rtt_table`, printed."""
    for line in rtt_table(title, rtts, sub, rows, label_width=label_width, cell_width=cell_width):
        print(line)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table; ``align`` has one letter per column
    (``l`` or ``r``, default: first column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join(rule) + "|", *(line(r) for r in rows)])
