"""What one request did with its session, for people looking at it.

The demo's session page and the ``pyramid_debugtoolbar`` panel show, for one
request: whether the session was loaded, what was wrong with the cookie, the
end-of-request decision of the persistence policy, what was persisted or
refreshed, and every Redis command sent, with its reply and duration.

Tracing is off unless a request asks for it, before its session is first
used::

    from pyramid_session_redis.trace import trace_request

    trace = trace_request(request)   # in a tween or a NewRequest subscriber
    ...
    trace.commands                   # after the request has finished

A request that is not traced pays one dictionary look-up.  A traced request
records through a wrapper around the store and the factory's hooks; the
session code itself only tells the trace its end-of-request decision.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Dict, List, Optional

from .policy import Decision, SessionView
from .store import CHECKED_WRITE_SHA, RedisStore, SentCommand, checked_write_args, describe_call, summarize

#: The key in ``request.environ`` under which a request's trace lives.
TRACE_KEY = "pyramid_session_redis.trace"

# Store operations that write the payload.
_WRITES = frozenset(("create", "save", "checked_save"))


class SessionTrace:
    """Everything one request did with its session (filled in as it happens)."""

    def __init__(self) -> None:
        #: Redis commands sent, in order (memory:// stores record what they stand for).
        self.commands: List[SentCommand] = []
        #: Store operations: (name, outcome), e.g. ("load", "found"), ("save", "written").
        self.operations: List[tuple[str, str]] = []
        #: Reports made to the factory's hooks: invalid sessions, conflicts, Redis failures.
        self.reports: List[Exception] = []
        #: The session, once ``request.session`` was first used.
        self.session: Any = None
        #: What the session looked like to the policy at the end of the request.
        self.view: Optional[SessionView] = None
        #: The policy's end-of-request decision (None: the request never reached it).
        self.decision: Optional[Decision] = None
        #: A copy of the session's data when the decision was taken.
        self.data: Optional[Dict[str, Any]] = None
        self._extended = False  # a load with a TTL (GETEX) found the key, or EXPIRE was sent

    # -- what the panel and the demo show ----------------------------------

    @property
    def used(self) -> bool:
        """The application touched the session (so it may have cost Redis commands)."""
        return self.session is not None and bool(self.session._active)

    @property
    def loaded(self) -> bool:
        """A stored session was found and loaded."""
        return ("load", "found") in self.operations

    @property
    def persisted(self) -> bool:
        """The payload was written to Redis."""
        return any(name in _WRITES and outcome == "written" for name, outcome in self.operations)

    @property
    def refreshed(self) -> bool:
        """The TTL was extended: by the read itself (GETEX) or by EXPIRE."""
        return self._extended

    @property
    def deleted(self) -> bool:
        return any(name == "delete" or (name == "checked_save" and outcome == "deleted")
                   for name, outcome in self.operations)

    @property
    def changed(self) -> Optional[bool]:
        """Changed through the session API, or handed out a mutable value (None: not known yet)."""
        if self.view is None:
            return None
        return self.view.dirty or self.view.exposed

    @property
    def action(self) -> str:
        """The decision in words: nothing, create, save, save_if_changed, refresh or delete,
        after deleting the key of an invalidated or regenerated session."""
        if self.decision is None:
            if not self.used:
                return "none (session not used)"
            return ("none: not reached (Redis failed with on_backend_error = degrade, "
                    "or the request had not finished)")
        action = self.decision.action.value
        if self.decision.delete_old:
            return f"delete the old key (invalidated or regenerated), then {action}"
        return action

    @property
    def contents(self) -> Optional[Dict[str, Any]]:
        """The session's data: as copied when the decision was taken or, when no
        decision was taken, what the session holds in memory (None: never loaded)."""
        if self.decision is not None or self.session is None:
            return self.data
        return self.session._data  # type: ignore[no-any-return]

    # -- recording (called by the session machinery) ------------------------

    def _op(self, name: str, outcome: str) -> None:
        self.operations.append((name, outcome))

    def settled(self, view: SessionView, decision: Decision, data: Optional[Dict[str, Any]]) -> None:
        """The session's end-of-request decision (from ``RedisSession._settle``)."""
        self.view, self.decision = view, decision
        try:
            self.data = copy.deepcopy(data)
        except Exception:  # something that cannot be copied: show what it was
            self.data = {"(not copyable)": repr(data)}

    def store_for(self, store: Any) -> TracedStore:
        return TracedStore(store, self)

    def reporter(self, hook: Optional[Callable[[Any, Exception], Any]]) -> Callable[[Any, Exception], Any]:
        """The factory's hook, noting each report first."""

        def report(request: Any, exc: Exception) -> Any:
            self.reports.append(exc)
            return hook(request, exc) if hook is not None else None

        return report


class TracedStore:
    """A store that notes each operation (and, for Redis, each command) in a trace.

    It has the operations ``RedisSession`` calls on a store; a test checks
    that it keeps up with ``RedisStore`` and ``MemoryStore``.
    """

    __slots__ = ("_in_memory", "_store", "_trace", "prefix")

    def __init__(self, store: Any, trace: SessionTrace):
        self._in_memory = not isinstance(store, RedisStore)
        self._store = store if self._in_memory else store.recording(trace.commands)
        self._trace = trace
        self.prefix = store.prefix

    @property
    def client(self) -> Any:
        return self._store.client

    def _memory(self, start: float, reply: Any, method: str, *args: Any, **kwargs: Any) -> None:
        # A memory:// store sends nothing: show the command it stands for, as the
        # recording client would have shown it (``method`` and its arguments are
        # those of the redis-py call RedisStore makes), labelled as such.
        if self._in_memory:
            command, key, arguments = describe_call(method, args, kwargs)
            self._trace.commands.append(SentCommand(
                command, key, f"{arguments} (memory://, in process)".lstrip(), summarize(reply),
                time.perf_counter() - start))

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        start = time.perf_counter()
        raw: Optional[bytes] = self._store.load(session_id, ttl)
        key = self.prefix + session_id
        if ttl:
            self._memory(start, raw, "getex", key, ex=ttl)
        else:
            self._memory(start, raw, "get", key)
        self._trace._op("load", "missing" if raw is None else "found")
        self._trace._extended |= bool(ttl) and raw is not None
        return raw

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        start = time.perf_counter()
        created = bool(self._store.create(session_id, data, ttl))
        self._memory(start, created, "set", self.prefix + session_id, data, ex=ttl, nx=True)
        self._trace._op("create", "written" if created else "taken")
        return created

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> None:
        start = time.perf_counter()
        self._store.save(session_id, data, ttl)
        self._memory(start, True, "set", self.prefix + session_id, data, ex=ttl)
        self._trace._op("save", "written")

    def checked_save(self, session_id: str, loaded: bytes, data: Optional[bytes], ttl: Optional[int]) -> Any:
        start = time.perf_counter()
        reply = self._store.checked_save(session_id, loaded, data, ttl)
        self._memory(start, reply, "evalsha", CHECKED_WRITE_SHA, 1, self.prefix + session_id,
                     *checked_write_args(loaded, data, ttl))
        if isinstance(reply, int):
            outcome = ("written" if data is not None else "deleted") if reply == 1 else "gone"
        else:
            outcome = "conflict"
        self._trace._op("checked_save", outcome)
        return reply

    def refresh(self, session_id: str, ttl: int) -> None:
        start = time.perf_counter()
        self._store.refresh(session_id, ttl)
        self._memory(start, True, "expire", self.prefix + session_id, ttl)
        self._trace._op("refresh", "done")
        self._trace._extended = True

    def delete(self, session_id: str) -> None:
        start = time.perf_counter()
        self._store.delete(session_id)
        self._memory(start, None, "delete", self.prefix + session_id)  # (MemoryStore does not say)
        self._trace._op("delete", "done")


class TracedFactory:
    """The factory, as one traced session sees it: its store and hooks record."""

    def __init__(self, factory: Any, store: Any, trace: SessionTrace):
        self._factory = factory
        self.store = trace.store_for(store)
        self.trace = trace
        self.invalid_logger = trace.reporter(factory.invalid_logger)
        self.conflict_logger = trace.reporter(factory.conflict_logger)
        self.backend_error_logger = trace.reporter(factory.backend_error_logger)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def trace_request(request: Any) -> SessionTrace:
    """Trace what ``request`` does with its session; call before ``request.session`` is first used.

    Returns the request's trace (the same one when called again).
    """
    environ = request.environ
    trace = environ.get(TRACE_KEY)
    if trace is None:
        if "session" in request.__dict__:
            raise RuntimeError("trace_request() must be called before request.session is first used")
        trace = environ[TRACE_KEY] = SessionTrace()
    return trace  # type: ignore[no-any-return]


def request_trace(request: Any) -> Optional[SessionTrace]:
    """The trace of ``request``, if it is traced."""
    return request.environ.get(TRACE_KEY)  # type: ignore[no-any-return]
