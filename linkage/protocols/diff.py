"""What changed between two versions of a protocol file, in plain words."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

_KEYS = ("id", "name", "partner", "recipient")


def _label(path: str) -> str:
    return path.replace("_", " ")


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """Index a list of mappings by their identifying key, if they have one."""
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in _KEYS:
        if all(key in x for x in items):
            labels = [str(x[key]) for x in items]
            if key == "recipient":
                labels = [f"{x['recipient']}/{x.get('purpose', '')}" for x in items]
            if len(set(labels)) == len(labels):
                return dict(zip(labels, items, strict=True))
    return None


def _compare(old: Any, new: Any, path: str, out: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        _compare_mappings(old, new, path, out)
    elif isinstance(old, list) and isinstance(new, list) and _compare_lists(old, new, path, out):
        return
    else:
        out.append(_scalar_change(old, new, path))


def _compare_mappings(old: dict[str, Any], new: dict[str, Any], path: str,
                      out: list[str]) -> None:
    for key in sorted(set(old) | set(new), key=lambda k: (k not in old, str(k))):
        sub = f"{path}.{key}" if path else str(key)
        if key not in old:
            out.append(f"{_label(sub)} added: {new[key]!r}")
        elif key not in new:
            out.append(f"{_label(sub)} removed (was {old[key]!r})")
        else:
            _compare(old[key], new[key], sub, out)


def _compare_lists(old: list[Any], new: list[Any], path: str, out: list[str]) -> bool:
    """Describe a change of list; False when the lists need a plain before/after."""
    ko, kn = _keyed(old), _keyed(new)
    if ko is not None and kn is not None:
        for label in [*ko, *(k for k in kn if k not in ko)]:
            if label not in kn:
                out.append(f"{_label(path)}: '{label}' removed")
            elif label not in ko:
                out.append(f"{_label(path)}: '{label}' added")
            else:
                _compare(ko[label], kn[label], f"{path}[{label}]", out)
        return True
    if any(isinstance(x, dict | list) for x in old + new):
        return False
    added = [x for x in new if x not in old]
    removed = [x for x in old if x not in new]
    if added:
        out.append(f"{_label(path)} widened: added {', '.join(map(str, added))}")
    if removed:
        out.append(f"{_label(path)} narrowed: removed {', '.join(map(str, removed))}")
    if not added and not removed:
        out.append(f"{_label(path)} reordered")
    return True


def _scalar_change(old: Any, new: Any, path: str) -> str:
    if isinstance(old, dt.date) and isinstance(new, dt.date):
        verb = "extended" if new > old else "brought forward"
        return f"{_label(path)} {verb} from {old.isoformat()} to {new.isoformat()}"
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and \
            not isinstance(old, bool) and not isinstance(new, bool):
        verb = "raised" if new > old else "lowered"
        return f"{_label(path)} {verb} from {old} to {new}"
    return f"{_label(path)} changed from {old!r} to {new!r}"


def describe_changes(old: BaseModel, new: BaseModel) -> list[str]:
    """One sentence per change from ``old`` to ``new`` (models of the same type)."""
    out: list[str] = []
    _compare(_plain(old.model_dump()), _plain(new.model_dump()), "", out)
    return out


def _plain(value: Any) -> Any:
    """Tuples as lists and enums as their values, recursively, for comparison."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return getattr(value, "value", value) if not isinstance(value, str | int | float) else value
