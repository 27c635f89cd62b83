"""Counting the commands clients send to a Redis server, as a test asserts a round-trip budget."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any, Dict, List, Optional

import redis

# Commands a client sends to set up a connection or that tests send themselves.
_SETUP_COMMANDS = {"hello", "client|setinfo", "info", "config|resetstat", "flushall", "ping", "select", "monitor"}


class CommandCounter:
    """Counts the commands clients sent to Redis, from ``MONITOR``.

    ``INFO commandstats`` would also count what a Lua script runs inside Redis
    (the GET and SET of a checked write); MONITOR marks those as "lua", so the
    counts here are exactly the commands that crossed the network::

        counter = CommandCounter(redis.Redis.from_url(url))
        counter.reset()
        ...                      # the requests under test
        counter.counts()         # e.g. {"getex": 1, "set": 1}
        counter.close()
    """

    def __init__(self, client: redis.Redis):
        self.client = client
        self._seen: List[str] = []
        self._since = 0
        self._markers = 0
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._monitor: Any = None

    def _start(self) -> None:
        client: Any = self.client  # (redis-py leaves monitor() unannotated)
        self._monitor = client.monitor()
        # Older redis-py (4.2, the floor, among them) matches the client part of a
        # MONITOR line greedily, up to the last "] ", so a command whose arguments hold
        # one (a Lua script's KEYS[1]) came out as "" (redis/redis-py#2942); this is
        # the non-greedy pattern of later releases.
        self._monitor.monitor_re = re.compile(r"\[(\d+) (.*?)\] (.*)")
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for event in self._monitor.listen():
                if event.get("client_type") == "lua":
                    continue
                with self._lock:
                    self._seen.append(event["command"])
        except Exception:  # the connection closed: stopped
            return

    def _mark(self) -> int:
        """Send a marker and wait until MONITOR has shown it: everything before it is in."""
        if self._thread is None:
            self._start()
        self._markers += 1
        marker = f"ECHO psr-marker-{self._markers}"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.client.echo(f"psr-marker-{self._markers}")
            for _ in range(50):
                with self._lock:
                    for i in range(len(self._seen) - 1, -1, -1):
                        if self._seen[i] == marker:
                            return i
                time.sleep(0.002)
        raise RuntimeError("MONITOR did not show the marker")

    def reset(self) -> None:
        """Count from here on."""
        self._since = self._mark() + 1

    def counts(self) -> Dict[str, int]:
        """The commands sent since ``reset``, by lower-case name (``client|setinfo`` for subcommands),
        leaving out connection set-up and the counter's own markers."""
        end = self._mark()
        out: Dict[str, int] = {}
        with self._lock:
            seen = self._seen[self._since:end]
        for line in seen:
            words = line.split(" ", 2)
            name = words[0].lower()
            if name in ("client", "config") and len(words) > 1:
                name = f"{name}|{words[1].lower()}"
            if name not in _SETUP_COMMANDS and not line.startswith("ECHO psr-marker-"):
                out[name] = out.get(name, 0) + 1
        return out

    def close(self) -> None:
        """Stop listening (MONITOR holds a connection of its own)."""
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                self._monitor.connection.disconnect()
            self._monitor = None
