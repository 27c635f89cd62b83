"""What the command line's tests share: the ini files they write, running ``main``, stand-in streams.

Sessions are made by the real factory (through a Pyramid app and WebTest);
the command line reads an ini file written for each test, as ``pshell`` would.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis
from webtest import TestApp

from pyramid_session_redis.cli import main
from pyramid_session_redis.payload import encode, json_serialize, new_stamp

PREFIX = "psr:sess:"
CREATED = 1_700_000_000  # any time of ten digits: payload sizes depend only on the number of digits
REPO = Path(__file__).resolve().parent.parent


def write_ini(tmp_path: Path, sections: Optional[Dict[str, Dict[str, Any]]] = None, **settings: Any) -> str:
    """An ini file with ``[app:main]`` holding ``redis.sessions.<name> = value`` for each setting."""
    sections = {"main": settings, **(sections or {})}
    lines = []
    for section, values in sections.items():
        lines += [f"[app:{section}]", "use = call:tests.cli_app:app_factory"]
        lines += [f"redis.sessions.{name} = {value}" for name, value in values.items()]
        lines.append("")
    path = tmp_path / "app.ini"
    path.write_text("\n".join(lines))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def new_session(app: TestApp, value: str = "v", key: str = "k") -> str:
    """A new session holding ``{key: value}``, made by a request; its id."""
    app.reset()
    return str(ast.literal_eval(app.post("/write", {"key": key, "value": value}).text))


def payload_size(value: str, timeout: Optional[int], expires: bool = False) -> int:
    """What the default JSON serializer stores for a session holding ``{"k": value}`` (stamped)."""
    return len(json_serialize(encode({"k": value}, CREATED, timeout, CREATED if expires else None, new_stamp())))


class FakeTTY(io.StringIO):
    """Standard input or error that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def prefixed_keys(client: redis.Redis, prefix: str = PREFIX) -> List[bytes]:
    return sorted(key for key in client.scan_iter(count=1000) if key.startswith(prefix.encode()))


def command_stats(client: redis.Redis) -> Dict[str, int]:
    return {name[len("cmdstat_"):]: int(values["calls"]) for name, values in client.info("commandstats").items()}


def keys_on(node: redis.Redis, prefix: str) -> List[bytes]:
    return [key for key in node.scan_iter(count=1000) if key.startswith(prefix.encode())]
