"""Shared hypothesis strategies for the fuzz tests: garbage JSON, and recorded payloads with one
or more fields replaced by hostile values (NaN, inf, negative, empty, huge, wrong type) or
removed."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WS = FIXTURES / "binance_ws"
REST = FIXTURES / "binance_rest"

DELETE = object()  # marker: remove the field instead of replacing it

HOSTILE: list[Any] = [
    "NaN", "nan", "-NaN", "sNaN", "inf", "-inf", "Infinity", "-Infinity", "1e999999", "-1e999999",
    "1E+9999999999", "0", "-0", "-1", "-0.000001", "", " ", "abc", "1,5", "0x10", "1_000", "²",
    "١٢", "9" * 400, "0." + "0" * 400 + "1", 1e308, -1e308, 0, -1, 2**63 - 1, -(2**63),
    1.5, True, False, None, [], {}, [1, 2], {"x": 1}, "TRADE", "FILLED", "BUY", "SELL", "BOTH",
    DELETE,
]

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=5),
    max_leaves=20,
)


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into `obj` (objects and arrays), leaves and inner nodes alike."""
    out: list[tuple[Any, ...]] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(
        obj, list) else ()
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def mutate(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(obj)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_mutations: int = 3) -> Any:
    """`base` with 1..max_mutations fields replaced by hostile or random values."""
    out = base
    for _ in range(draw(st.integers(1, max_mutations))):
        candidates = paths(out)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        value = draw(st.sampled_from(HOSTILE) | json_values)
        out = mutate(out, path, value)
    return out


def dumps(obj: Any) -> bytes:
    """JSON text, NaN/Infinity tokens included (Python's json writes them; Binance never does,
    and a decoder must refuse them)."""
    return json.dumps(obj, allow_nan=True).encode()


def finite_decimal_fields(obj: Any) -> bool:
    from decimal import Decimal

    for name in getattr(obj, "__slots__", ()):
        value = getattr(obj, name)
        if isinstance(value, Decimal) and not value.is_finite():
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
    return True
