"""Job reports for people (a few lines) and for programs (``--json``).

The jobs return dataclasses (``ArchiveReport``, ``SyncReport``,
``ImportReport``); :func:`jsonable` turns any of them into JSON-ready data
without knowing their fields, so a field added to a report shows up in
``--json`` by itself.  Secrets never do: a :class:`~pipeimap.Secret` becomes
``"***"``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import PurePath
from typing import Any

from ..protocol import Secret

__all__ = ["dumps", "jsonable"]


def jsonable(value: Any, _depth: int = 0) -> Any:
    """JSON-ready data for a report: its ``to_dict()`` when it has one, else its
    fields (dataclasses, paths, dates, sets, enums...)."""
    if _depth > 20:
        return repr(value)
    d = _depth + 1
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Secret):
        return "***"
    if isinstance(value, int):
        return int(value)  # UID, ModSeq and friends are int subclasses
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return jsonable(value.value, d)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return jsonable(to_dict(), d)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {
            f.name: jsonable(getattr(value, f.name), d)
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
        # Totals a report computes (``downloaded``, ``ok``...) belong in the summary too.
        for name in dir(type(value)):
            if not name.startswith("_") and isinstance(getattr(type(value), name), property):
                out.setdefault(name, jsonable(getattr(value, name), d))
        return out
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, d) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, d) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [jsonable(v, d) for v in value]
    return str(value)


def dumps(data: Any) -> str:
    return json.dumps(jsonable(data), indent=2, ensure_ascii=False, sort_keys=False)
