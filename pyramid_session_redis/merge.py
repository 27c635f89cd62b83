"""Re-applying one request's changes on top of a session another request changed.

Pure: no I/O, no Pyramid.  Three versions of the managed dict are compared
key by key: ``loaded`` (what this request read), ``mine`` (what it holds at the
end) and ``theirs`` (what Redis holds now, written by a concurrent request).
A key this request did not change keeps their value; a key it changed gets its
value, with three refinements that keep concurrent requests from losing
each other's work:

* counters changed with ``session.incr()`` add this request's increments to
  their value;
* a list this request only appended to, or created (flash messages), gets
  the appended items after their version of the list;
* a list this request removed (``pop_flash()``) leaves behind what they
  appended after the items this request consumed.

A key both requests changed in other ways is "last writer wins" (this request
is the last) and is reported as overwritten.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

_MISSING = object()


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type (``1 == True`` but a session must tell them apart)."""
    return a is b or (type(a) is type(b) and a == b)


def _extends(longer: Any, prefix: Any) -> bool:
    return (
        type(longer) is list
        and type(prefix) is list
        and len(longer) >= len(prefix)
        and same(longer[: len(prefix)], prefix)
    )


def merge(
    loaded: Mapping[str, Any],
    mine: Mapping[str, Any],
    theirs: Mapping[str, Any],
    increments: Mapping[str, Any],
) -> Tuple[Dict[str, Any], List[str]]:
    """``(merged, overwritten_keys)``."""
    merged = dict(theirs)
    overwritten: List[str] = []
    for key in list(loaded) + [k for k in mine if k not in loaded]:
        old = loaded.get(key, _MISSING)
        new = mine.get(key, _MISSING)
        if same(old, new) and key not in increments:
            continue  # untouched here: their value stands
        current = theirs.get(key, _MISSING)
        if key in increments and new is not _MISSING:
            base = current if current is not _MISSING else 0
            if isinstance(base, (int, float)) and not isinstance(base, bool):
                merged[key] = base + increments[key]
                continue
        if type(new) is list and (old is _MISSING or _extends(new, old)):
            appended = new[len(old):] if old is not _MISSING else new
            if current is _MISSING:
                merged[key] = appended
                continue
            if type(current) is list:
                merged[key] = current + appended
                continue
        if new is _MISSING and type(old) is list and _extends(current, old):
            left = current[len(old):]
            if left:
                merged[key] = left
            else:
                merged.pop(key, None)
            continue
        if same(current, new):
            continue  # both made the same change (or both removed it)
        if not same(current, old):
            overwritten.append(key)  # both changed it: this request, the later one, wins
        if new is _MISSING:
            merged.pop(key, None)
        else:
            merged[key] = new
    return merged, overwritten
