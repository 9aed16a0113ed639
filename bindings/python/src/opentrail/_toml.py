"""A minimal TOML writer for configs given as dicts (the stdlib only reads TOML).

Supports what the agent's configuration uses: strings, booleans, integers, floats, paths, lists
of scalars, tables (dicts) and arrays of tables (lists of dicts), nested to any depth."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any


def _scalar(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ("-" if value < 0 else "") + ("nan" if math.isnan(value) else "inf")
        return repr(value)
    if isinstance(value, (str, os.PathLike)):
        # A JSON string is a valid TOML basic string (same escapes; \u for controls).
        return json.dumps(os.fspath(value), ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v, key) for v in value) + "]"
    raise TypeError(f"config key {key!r}: cannot write {type(value).__name__} as TOML")


def _key(k: str) -> str:
    if k and all(c.isalnum() or c in "-_" for c in k) and k.isascii():
        return k
    return json.dumps(k)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, Mapping) for x in v)


def _emit(table: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    for k, v in table.items():
        if v is None or isinstance(v, Mapping) or _is_table_array(v):
            continue
        out.append(f"{_key(str(k))} = {_scalar(v, str(k))}")
    for k, v in table.items():
        sub = path + [_key(str(k))]
        if isinstance(v, Mapping):
            out.append(f"\n[{'.'.join(sub)}]")
            _emit(v, sub, out)
        elif _is_table_array(v):
            for item in v:
                out.append(f"\n[[{'.'.join(sub)}]]")
                _emit(item, sub, out)


def dumps(config: Mapping[str, Any]) -> str:
    """Serialises `config` as TOML. Keys whose value is None are left out."""
    out: list[str] = []
    _emit(config, [], out)
    return "\n".join(out) + "\n"
