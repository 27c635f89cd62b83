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
* a list this request removed leaves behind what they appended after the
  items this request consumed;
* a flash queue (a key starting with ``_f_``) is merged as a queue, whatever
  order the pops and appends of the two requests landed in: the messages this
  request consumed are taken out of theirs, and the ones it added are put at
  the end.  No message is lost; one that two overlapping requests both popped
  is shown by both (delivery is at least once).

A key both requests changed in other ways is "last writer wins" (this request
is the last) and is reported as overwritten, also when both set it to the same
value: two requests that each did ``s["n"] = s.get("n", 0) + 1`` lost an
increment, and the report says so (``incr()`` does not lose it).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

_MISSING = object()
FLASH_PREFIX = "_f_"  # session.flash() keeps queue Q under "_f_" + Q


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


def _queue(value: Any) -> Any:
    """A flash queue's items ([] for none), or None when the value is not a queue."""
    if value is _MISSING:
        return []
    return value if type(value) is list else None


def _merge_queue(old: List[Any], new: List[Any], theirs: List[Any]) -> List[Any]:
    """This request's pops and appends (from ``old`` to ``new``), re-applied to ``theirs``."""
    # new = old[consumed:] + appended, for the fewest consumed items (consuming
    # all of old and appending all of new always fits).
    consumed = next(k for k in range(len(old) + 1) if same(new[: len(old) - k], old[k:]))
    appended = new[len(old) - consumed:]
    rest = list(theirs)
    for item in old[:consumed]:
        for at, candidate in enumerate(rest):
            if same(candidate, item):
                del rest[at]
                break
    return rest + appended


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
        if key.startswith(FLASH_PREFIX):
            queues = (_queue(old), _queue(new), _queue(current))
            if None not in queues:
                queue = _merge_queue(*queues)
                if queue:
                    merged[key] = queue
                else:
                    merged.pop(key, None)
                continue
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
            if new is not _MISSING:
                overwritten.append(key)  # both set it, to the same value: one of the changes is lost
            continue  # (both removed it: nothing lost)
        if not same(current, old):
            overwritten.append(key)  # both changed it: this request, the later one, wins
        if new is _MISSING:
            merged.pop(key, None)
        else:
            merged[key] = new
    return merged, overwritten
