"""``show`` and ``delete``: one session, named by its id or by a pasted cookie value.

A cookie value is verified the way the application verifies its cookie, and
whatever nobody verified is refused with a message that says why.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pprint
import time
from dataclasses import dataclass
from typing import Any, Optional, TextIO

from ..cookies import SENT_OLD_SECRET, CookieJar, SessionIdSigner, looks_signed, plausible_id
from ..payload import decode as decode_payload
from .errors import NOT_FOUND, OK, USAGE, Failure, setting
from .target import Target


@dataclass
class Given:
    """What the ID argument turned out to be."""

    text: str
    verified: Optional[str]  # the session id a signed cookie value carries, when a secret verified it
    how: str  # how it was verified, for messages

    @property
    def raw(self) -> Optional[str]:
        """The argument as a session id, if it can be one."""
        return self.text if plausible_id(self.text) else None


def read_id(text: str, cookies: Optional[CookieJar]) -> Given:
    """The ID argument, verified as a cookie value the way the application verifies its cookie."""
    if cookies is not None:
        session_id, sent = cookies.verify_value(text)
        if session_id is not None:
            if not isinstance(cookies.signer, SessionIdSigner):
                how = setting("cookie_signer")
            else:
                how = setting("secret") if sent != SENT_OLD_SECRET else f"one of {setting('secret_fallbacks')}"
            return Given(text, session_id, f"a cookie value verified with {how}")
    return Given(text, None, "")


def not_found(given: Given, target: Target) -> Failure:
    """Why nothing was found for the ID: no such session, or a cookie value nobody verified."""
    if given.verified is not None:
        return Failure(
            NOT_FOUND,
            f"no session {given.verified!r} (from {given.how}) under prefix {target.prefix!r} in {target.where}: "
            "expired, deleted, or another application's",
        )
    if looks_signed(given.text):
        if target.cookies is None:
            return Failure(
                USAGE,
                f"{given.text[:20]}... looks like a signed cookie value, and the settings give no "
                f"{setting('secret')} to verify it with: add it to the ini file, or give the raw session id",
            )
        return Failure(
            NOT_FOUND,
            f"refused: {given.text[:20]}... is not a stored session id, nor a cookie value signed with "
            f"{setting('secret')} or {setting('secret_fallbacks')} (forged, or signed with another secret)",
        )
    if given.raw is None:
        return Failure(
            USAGE,
            f"{given.text!r} is neither a session id (1-256 printable ASCII characters, no spaces) "
            "nor a cookie value the configured secret verifies",
        )
    return Failure(NOT_FOUND, f"no session {given.raw!r} under prefix {target.prefix!r} in {target.where}")


def _utc(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(data: Any) -> str:
    """JSON when the values allow (others as their repr), else Python's pprint.

    Session data comes from users: characters a terminal could act on (escape
    sequences, C1 controls, bidi overrides) are shown escaped, never sent as
    they are; json.dumps and repr escape the C0 controls themselves.
    """
    try:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):  # keys JSON cannot have (tuples...), or unsortable mixed keys
        return pprint.pformat(data)
    return "".join(char if char.isprintable() or char == "\n" else json.dumps(char)[1:-1] for char in text)


def cmd_show(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    """The session's key, size, TTL, times and data, without touching its TTL (GET, not GETEX)."""
    given = read_id(args.id, target.cookies)
    session_id = given.verified or given.raw
    found = target.keys.peek(session_id) if session_id is not None else None
    if found is None or session_id is None:
        raise not_found(given, target)
    raw, ttl = found
    now = time.time()
    lines = [f"session:  {session_id}" + (f"  (from {given.how})" if given.verified else "")]
    lines.append(f"key:      {target.prefix + session_id}")
    lines.append(f"size:     {len(raw)} bytes")
    if ttl >= 0:
        lines.append(f"TTL:      {ttl} s (Redis expires it at {_utc(now + ttl)})")
    elif ttl == -1:
        lines.append("TTL:      none (no Redis expiry: LRU mode, set_redis_ttl = false)")
    else:
        lines.append("TTL:      gone (expired while being read)")
    try:
        payload = decode_payload(target.deserialize(raw))
    except Exception as exc:  # a damaged payload, another serializer's bytes, an unknown version
        lines.append(f"data:     cannot be decoded with the configured serializer ({target.serializer}): {exc!r}")
        lines.append(f"raw:      {raw[:200]!r}" + (" ..." if len(raw) > 200 else ""))
        out.write("\n".join(lines) + "\n")
        return OK
    lines.append(f"created:  {_utc(payload.created)} ({payload.created})")
    lines.append(f"timeout:  {payload.timeout} s" if payload.timeout else "timeout:  none")
    if payload.expires is not None:
        lines.append(f"expiry:   {_utc(payload.expires)} ({payload.expires}), kept in the payload")
    else:
        lines.append("expiry:   not kept in the payload (the Redis TTL is the expiry)")
    lines.append("data:")
    lines.append(pretty(payload.data))
    out.write("\n".join(lines) + "\n")
    return OK


def cmd_delete(args: argparse.Namespace, target: Target, out: TextIO, err: TextIO) -> int:
    """UNLINK one session, saying so only when it existed."""
    given = read_id(args.id, target.cookies)
    session_id = given.verified or given.raw
    if session_id is None or not target.keys.remove(session_id):
        raise not_found(given, target)
    out.write(f"deleted session {session_id} (key {target.prefix + session_id!r})\n")
    return OK
