"""A circuit breaker around the session store: a stalled Redis must not hold every worker.

When Redis stops answering (paused, partitioned, a master that hangs), each
command waits ``redis_socket_timeout`` before it fails.  Without a breaker
every request that uses the session waits that long, so all the workers of a
site end up waiting, and pages that never touch the session queue behind
them.  After one such failure the breaker *opens*: for ``backend_cooldown``
seconds the session's commands fail at once (``SessionBackendUnavailable``,
a ``SessionBackendError``), which ``on_backend_error`` turns into an error or
an empty session as it does any Redis failure.  Then one request at a time,
the *probe*, sends its command: an answer closes the breaker; another failure
opens it for one more cool-down.

One breaker per factory, so per process (a forked worker starts with it
closed), shared by the threads.  ``GuardedStore`` puts it in front of a
``RedisStore``; this module sends nothing to Redis itself.  A closed breaker
costs one attribute read per command.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from typing import Any, Callable, Dict, Optional, Union

from redis.exceptions import ClusterDownError, ConnectionError, RedisClusterException, TimeoutError

from .exceptions import SessionBackendError, SessionBackendUnavailable
from .store import CheckedResult, Store

log = logging.getLogger("pyramid_session_redis")

# What shows that Redis cannot be reached, or does not answer in time (a
# refused or reset connection, a timeout, a server still loading its data, no
# master known to the sentinels, a cluster without a slot's master).  A Redis
# that answers with an error (a wrong type, an unknown command) is reachable:
# that fails one request, not the next ones.
UNREACHABLE = (ConnectionError, TimeoutError, ClusterDownError, RedisClusterException)

# The period a call was let through in, when it was the probe.
PROBE = -1


def unreachable(exc: BaseException) -> bool:
    """``exc`` is a store failure that says Redis cannot be reached (or is not answering)."""
    return isinstance(exc, SessionBackendError) and isinstance(exc.__cause__, UNREACHABLE)


class Breaker:
    """Closed, open or probing; see the module's docstring.

    ``period`` is what a command reads first: the number of the current closed
    period (1, 2, ...), or 0 while the breaker is open.  A failure counts only
    if it belongs to the period it was let through in, so that a command sent
    before Redis came back, failing after a probe closed the breaker, does not
    open it again.

    Each opening lasts ``cooldown`` seconds, cut short at random by up to a
    quarter, so that the workers of a server, which all saw Redis fail at the
    same moment, do not all send their probe at the same moment too.  ``clock``
    and ``jitter`` (a number in [0, 1)) may be replaced by tests.
    """

    __slots__ = (
        "period",
        "cooldown",
        "_clock",
        "_jitter",
        "_lock",
        "_closed_periods",
        "_retry_at",
        "_probing",
        "_opened_at",
        "_last_error",
        "_fast_failures",
        "_failed_probes",
        "__weakref__",
    )

    def __init__(
        self,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ):
        if not cooldown > 0:
            raise ValueError(f"a breaker needs a cool-down > 0 (got {cooldown!r})")
        self.cooldown = cooldown
        self._clock = clock
        self._jitter = jitter
        self._reset()
        _BREAKERS.add(self)

    def _reset(self) -> None:
        """Closed, as new (also in a forked child, whose copy of the lock may be held)."""
        self._lock = threading.Lock()
        self.period = 1
        self._closed_periods = 1
        self._retry_at = 0.0  # when an open breaker lets the next probe through
        self._probing = False  # a probe has been let through and has not come back
        self._opened_at = 0.0
        self._last_error = ""  # the failure that opened (or kept open) the breaker
        self._fast_failures = 0  # calls failed at once while open
        self._failed_probes = 0

    # -- what GuardedStore calls -------------------------------------------------

    def admit(self, operation: str) -> int:
        """For a command sent while ``period`` was 0: PROBE if this call may try Redis;
        the new period if the breaker closed meanwhile; else raise ``SessionBackendUnavailable``."""
        with self._lock:
            if self.period:
                return self.period
            now = self._clock()
            if not self._probing and now >= self._retry_at:
                self._probing = True
                return PROBE
            self._fast_failures += 1
            if self._probing:
                next_try = "another request is trying Redis now"
            else:
                next_try = f"the next try is in {self._retry_at - now:.2f} s (backend_cooldown)"
            message = (
                f"Redis not tried during {operation}: the circuit breaker is open since Redis failed "
                f"{now - self._opened_at:.2f} s ago ({self._last_error}); {next_try}"
            )
        raise SessionBackendUnavailable(message)

    def failed(self, exc: BaseException, period: int) -> None:
        """A call let through in ``period`` raised ``exc``."""
        if not unreachable(exc):
            if period == PROBE:
                if isinstance(exc, SessionBackendError):
                    self.answered()  # Redis answered, with an error: it is there
                else:
                    self._probe_back()  # not Redis's doing: let the next call probe
            return
        cause = exc.__cause__
        error = f"{type(cause).__name__}: {cause}"
        with self._lock:
            now = self._clock()
            if period == PROBE:
                self._probing = False
                self._failed_probes += 1
            elif period != self.period:
                return  # sent before the breaker last opened or closed: old news
            opening = self.period != 0
            self.period = 0
            self._retry_at = now + self.cooldown * (1 - 0.25 * self._jitter())
            self._last_error = error
            if opening:
                self._opened_at = now
                self._fast_failures = self._failed_probes = 0
            pause = self._retry_at - now
        if opening:
            log.warning(
                "pyramid_session_redis: Redis failed (%s); circuit breaker open: session requests fail "
                "at once for %.2f s, then one request tries Redis again (backend_cooldown = %s)",
                error, pause, self.cooldown,
            )
        else:
            log.debug("pyramid_session_redis: Redis failed again (%s); circuit breaker open for %.2f s more",
                      error, pause)

    def answered(self) -> None:
        """The probe came back with an answer from Redis: close."""
        with self._lock:
            if self.period:
                return  # (closed by another probe's answer)
            self._probing = False
            self._closed_periods += 1
            self.period = self._closed_periods
            seconds = self._clock() - self._opened_at
            fast, probes = self._fast_failures, self._failed_probes
        log.info(
            "pyramid_session_redis: Redis answered again; circuit breaker closed after %.2f s open "
            "(%d session requests failed at once, %d tries failed)",
            seconds, fast, probes,
        )

    def _probe_back(self) -> None:
        with self._lock:
            self._probing = False

    # -- what people look at ----------------------------------------------------

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``probing`` (open, and one request is trying Redis)."""
        if self.period:
            return "closed"
        return "probing" if self._probing else "open"

    def describe(self) -> Dict[str, Any]:
        """The state, and while open: since when, why, when the next try is and what it cost."""
        with self._lock:
            out: Dict[str, Any] = {"state": self.state, "cooldown": self.cooldown}
            if not self.period:
                now = self._clock()
                out.update(
                    open_for=round(now - self._opened_at, 3),
                    next_try_in=None if self._probing else round(max(0.0, self._retry_at - now), 3),
                    last_error=self._last_error,
                    failed_at_once=self._fast_failures,
                    failed_tries=self._failed_probes,
                )
            return out


_BREAKERS: weakref.WeakSet[Breaker] = weakref.WeakSet()


def _closed_in_child() -> None:
    # A forked worker has not seen Redis fail: it starts closed, with a lock of
    # its own (the parent's may have been held by another thread at the fork).
    for breaker in list(_BREAKERS):
        breaker._reset()


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_closed_in_child)


class GuardedStore:
    """A ``Store`` whose commands go through a ``Breaker`` first (see the module's docstring).

    Every method reads ``breaker.period``; only while it is 0 (open) does it
    ask the breaker whether to go on.
    """

    __slots__ = ("inner", "breaker", "prefix")

    def __init__(self, inner: Store, breaker: Breaker):
        self.inner = inner
        self.breaker = breaker
        self.prefix = inner.prefix

    @property
    def client(self) -> Any:
        return self.inner.client

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        breaker = self.breaker
        period = breaker.period or breaker.admit("load")
        try:
            raw = self.inner.load(session_id, ttl)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()
        return raw

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        breaker = self.breaker
        period = breaker.period or breaker.admit("create")
        try:
            created = self.inner.create(session_id, data, ttl)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()
        return created

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        breaker = self.breaker
        period = breaker.period or breaker.admit("save")
        try:
            written = self.inner.save(session_id, data, ttl)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()
        return written

    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> CheckedResult:
        breaker = self.breaker
        period = breaker.period or breaker.admit("checked_save")
        try:
            reply = self.inner.checked_save(session_id, head, data, ttl, whole)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()
        return reply

    def refresh(self, session_id: str, ttl: int) -> None:
        breaker = self.breaker
        period = breaker.period or breaker.admit("refresh")
        try:
            self.inner.refresh(session_id, ttl)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()

    def delete(self, session_id: str) -> None:
        breaker = self.breaker
        period = breaker.period or breaker.admit("delete")
        try:
            self.inner.delete(session_id)
        except BaseException as exc:
            breaker.failed(exc, period)
            raise
        if period == PROBE:
            breaker.answered()


def guarded(store: Store, breaker: Optional[Breaker]) -> Store:
    """``store`` behind ``breaker`` (``store`` itself when there is no breaker)."""
    return store if breaker is None else GuardedStore(store, breaker)


def unguarded(store: Store) -> Store:
    """The store behind a ``GuardedStore`` (any other store is returned as it is)."""
    return store.inner if isinstance(store, GuardedStore) else store
