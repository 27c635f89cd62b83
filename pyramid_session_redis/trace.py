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

A request that is not traced pays one dictionary look-up.  A traced session
is given a recording store (``TracedStore``) and hooks that note each report
and the end-of-request decision; the session code does not know it is traced.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Tuple, Union

from .policy import Decision, SessionView
from .resolved import Hooks, Reporter
from .store import CHECKED_WRITE, CHECKED_WRITE_SHA, CheckedResult, RedisStore, Store, checked_write_args

if TYPE_CHECKING:
    from .breaker import Breaker

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
        #: The factory's circuit breaker (None: ``backend_cooldown = 0``, or memory://).
        self.breaker: Optional[Breaker] = None
        self._extended = False  # a load with a TTL (GETEX) found the key, or EXPIRE was sent

    # -- what the panel and the demo show ----------------------------------

    @property
    def used(self) -> bool:
        """The application touched the session (so it may have cost Redis commands)."""
        return self.session is not None and bool(self.session._active)

    @property
    def loaded(self) -> bool:
        """A stored session was found and loaded (from Redis, or from ``local_cache``)."""
        return ("load", "found") in self.operations or self.cached

    @property
    def cached(self) -> bool:
        """``local_cache`` served the session: no command was sent to load it."""
        return self.session is not None and bool(self.session._from_cache)

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
        if self.decision is not None or self.session is None or not self.session._loaded:
            return self.data
        contents: Dict[str, Any] = self.session._data
        return contents

    # -- recording (called by the session machinery) ------------------------

    def _op(self, name: str, outcome: str) -> None:
        self.operations.append((name, outcome))

    def settled(self, view: SessionView, decision: Decision, data: Dict[str, Any]) -> None:
        """The session's end-of-request decision (the ``decided`` hook, from ``persist.settle``)."""
        self.view, self.decision = view, decision
        try:
            self.data = copy.deepcopy(data)
        except Exception:  # something that cannot be copied: show what it was
            self.data = {"(not copyable)": repr(data)}

    def hooks_for(self, hooks: Hooks) -> Hooks:
        """The factory's hooks, noting each report and the decision first."""
        return Hooks(self._reporter(hooks.invalid), self._reporter(hooks.conflict),
                     self._reporter(hooks.backend_error), self.settled, self._reporter(hooks.payload_error))

    def _reporter(self, hook: Optional[Reporter]) -> Reporter:
        def report(request: Any, exc: Exception) -> Any:
            self.reports.append(exc)
            return hook(request, exc) if hook is not None else None

        return report


class TracedStore:
    """A store that notes each operation (and, for Redis, each command) in a trace.

    A ``Store`` itself (mypy checks it), around a ``RedisStore``, whose client
    is wrapped to record, or a ``MemoryStore``, whose operations are shown as
    the commands they stand for.
    """

    __slots__ = ("_in_memory", "_store", "_trace", "prefix")

    def __init__(self, store: Store, trace: SessionTrace):
        self._in_memory = not isinstance(store, RedisStore)
        if self._in_memory:
            self._store = store
        else:
            # (built on first use, as the store's own client is)
            self._store = RedisStore(
                prefix=store.prefix, client_for=lambda: _RecordingClient(store.client, trace.commands)
            )
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

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        start = time.perf_counter()
        written = bool(self._store.save(session_id, data, ttl))
        self._memory(start, written, "set", self.prefix + session_id, data, ex=ttl, xx=True)
        self._trace._op("save", "written" if written else "gone")
        return written

    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> CheckedResult:
        start = time.perf_counter()
        reply = self._store.checked_save(session_id, head, data, ttl, whole)
        self._memory(start, reply, "evalsha", CHECKED_WRITE_SHA, 1, self.prefix + session_id,
                     *checked_write_args(head, whole, data, ttl))
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


def trace_request(request: Any) -> SessionTrace:
    """Trace what ``request`` does with its session; call before ``request.session`` is first used.

    Returns the request's trace (the same one when called again).
    """
    environ = request.environ
    trace: Optional[SessionTrace] = environ.get(TRACE_KEY)
    if trace is None:
        if "session" in request.__dict__:
            raise RuntimeError("trace_request() must be called before request.session is first used")
        trace = environ[TRACE_KEY] = SessionTrace()
    return trace


def request_trace(request: Any) -> Optional[SessionTrace]:
    """The trace of ``request``, if it is traced."""
    trace: Optional[SessionTrace] = request.environ.get(TRACE_KEY)
    return trace


class SentCommand(NamedTuple):
    """One command a request sent to Redis, as shown by the demo and the toolbar panel."""

    command: str  # e.g. "GETEX"
    key: str
    arguments: str  # what followed the key, with payloads shown as their size
    reply: str  # the reply, summarized the same way (or the error)
    seconds: float

    def __str__(self) -> str:
        return " ".join(part for part in (self.command, self.key, self.arguments) if part)


def summarize(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > 40:
        return f"<{len(value)} characters>"
    return str(value)


def describe_call(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[str, str, str]:
    """(COMMAND, key, arguments) for a redis-py call made by this module."""
    if name in ("eval", "evalsha"):
        script = "checked-write" if args[0] in (CHECKED_WRITE, CHECKED_WRITE_SHA) else summarize(args[0])
        key = args[2] if len(args) > 2 else ""
        rest = [script, *(summarize(a) for a in args[3:] if a not in ("", b""))]
    else:
        key = args[0] if args else ""
        rest = [summarize(a) for a in args[1:]]
    for option, value in kwargs.items():
        if value is True:
            rest.append(option.upper())
        elif value is not None and value is not False:
            rest += [option.upper(), summarize(value)]
    return _COMMANDS.get(name, name.upper()), str(key), " ".join(rest)


_COMMANDS = {"delete": "DEL"}  # redis-py methods not named after their command


class _RecordingClient:
    """A redis-py client stand-in that notes each call before passing it on."""

    __slots__ = ("_client", "_sent")

    def __init__(self, client: Any, sent: List[SentCommand]):
        self._client = client
        self._sent = sent

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        sent = self._sent

        def call(*args: Any, **kwargs: Any) -> Any:
            command, key, arguments = describe_call(name, args, kwargs)
            start = time.perf_counter()
            try:
                reply = method(*args, **kwargs)
            except Exception as exc:
                error = f"error: {type(exc).__name__}: {exc}"
                sent.append(SentCommand(command, key, arguments, error, time.perf_counter() - start))
                raise
            sent.append(SentCommand(command, key, arguments, summarize(reply), time.perf_counter() - start))
            return reply

        return call
