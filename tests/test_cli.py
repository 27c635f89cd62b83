"""The operator command line (``pyramid-session-redis app.ini COMMAND``), against a real Redis.

Sessions are made by the real factory (through a Pyramid app and WebTest);
the command line reads an ini file written for each test, as ``pshell`` would.
"""

from __future__ import annotations

import ast
import io
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis
from pyramid.config import Configurator
from pyramid.paster import get_app
from webtest import TestApp

from pyramid_session_redis import options as option_table
from pyramid_session_redis.cli import main
from pyramid_session_redis.cli.progress import Progress
from pyramid_session_redis.cli.target import describe_location, escape_glob, hide_password
from pyramid_session_redis.cookies import SessionIdSigner, looks_signed
from pyramid_session_redis.exceptions import InvalidSetting, SessionBackendError
from pyramid_session_redis.keyspace import Keyspace
from pyramid_session_redis.payload import encode, json_serialize

from .app import SECRET, VIEWS, make_app
from .conftest import CommandCounter

PREFIX = "psr:sess:"
CREATED = 1_700_000_000  # any time of ten digits: payload sizes depend only on the number of digits
REPO = Path(__file__).resolve().parent.parent


def app_factory(global_config: Dict[str, Any], **settings: Any) -> Any:
    """The WSGI application the test ini files name (``use = call:tests.test_cli:app_factory``)."""
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    for name, view in VIEWS.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    return config.make_wsgi_app()


def write_ini(tmp_path: Path, sections: Optional[Dict[str, Dict[str, Any]]] = None, **settings: Any) -> str:
    """An ini file with ``[app:main]`` holding ``redis.sessions.<name> = value`` for each setting."""
    sections = {"main": settings, **(sections or {})}
    lines = []
    for section, values in sections.items():
        lines += [f"[app:{section}]", "use = call:tests.test_cli:app_factory"]
        lines += [f"redis.sessions.{name} = {value}" for name, value in values.items()]
        lines.append("")
    path = tmp_path / "app.ini"
    path.write_text("\n".join(lines))
    return str(path)


@pytest.fixture
def ini(tmp_path: Path, redis_server: Any, redis_client: redis.Redis) -> str:
    """The usual ini file: the test Redis, the prefix, the secret (``redis_client`` empties Redis)."""
    return write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def new_session(app: TestApp, value: str = "v", key: str = "k") -> str:
    """A new session holding ``{key: value}``, made by a request; its id."""
    app.reset()
    return str(ast.literal_eval(app.post("/write", {"key": key, "value": value}).text))


def payload_size(value: str, timeout: Optional[int], expires: bool = False) -> int:
    """What the default JSON serializer stores for a session holding ``{"k": value}``."""
    return len(json_serialize(encode({"k": value}, CREATED, timeout, CREATED if expires else None)))


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


# -- stats ----------------------------------------------------------------------------------------------


GROUPS = (  # (options, value length, sessions): 2,500 sessions, every size and TTL bucket
    ({"timeout": 240}, 10, 1000),  # TTL 1 - 5 min, < 100 B
    ({"timeout": 600}, 500, 1000),  # 5 - 20 min, 100 B - 1 KiB
    ({"timeout": 7200}, 5000, 300),  # 1 h - 1 day, 1 - 10 KiB
    ({"timeout": 172800}, 50_000, 100),  # >= 1 day, 10 - 100 KiB
    ({"timeout": 600, "set_redis_ttl": False}, 200_000, 100),  # no TTL (LRU mode), 100 KiB - 1 MiB
)


def test_stats_pages_through_2500_sessions_with_exact_counts_and_buckets(ini, redis_server, redis_client, capsys):
    sizes = []
    for options, length, count in GROUPS:
        app = make_app(redis_server.url, prefix=PREFIX, **options)
        for _ in range(count):
            new_session(app, "x" * length)
        lru = not options.get("set_redis_ttl", True)
        sizes.append(payload_size("x" * length, options["timeout"], expires=lru))
    # Outside the prefix, and so not counted: another prefix, the prefix without its last
    # character, and a key that is not a string.
    redis_client.set("other:1", "x")
    redis_client.set(PREFIX[:-1], "x")
    redis_client.hset("unrelated", "a", "1")
    redis_client.config_resetstat()

    status, out, err = run(capsys, ini, "stats", "--json", "--batch", "100")

    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["sessions"] == 2500
    assert report["scanned"] == 2500
    assert report["total_bytes"] == sum(size * count for size, (_, _, count) in zip(sizes, GROUPS))
    assert report["match"] == PREFIX + "*"
    assert report["whole_database"] is False and "warning" not in report
    assert (report["not_strings"], report["vanished"]) == (0, 0)
    size = report["size_bytes"]
    assert (size["min"], size["median"], size["p90"], size["p99"], size["max"]) == (
        sizes[0], sizes[1], sizes[2], sizes[4], sizes[4],
    )
    assert size["buckets"] == {
        "< 100 B": 1000, "100 B - 1 KiB": 1000, "1 - 10 KiB": 300, "10 - 100 KiB": 100,
        "100 KiB - 1 MiB": 100, ">= 1 MiB": 0,
    }
    ttl = report["ttl_seconds"]
    assert (ttl["with_ttl"], ttl["no_ttl"]) == (2400, 100)
    assert ttl["buckets"] == {
        "< 1 min": 0, "1 - 5 min": 1000, "5 - 20 min": 1000, "20 min - 1 h": 0, "1 h - 1 day": 300,
        ">= 1 day": 100, "no TTL": 100,
    }
    # TTLs tick down while the test runs: each is its timeout, or a little less.
    assert 180 <= ttl["min"] <= 240
    assert 540 <= ttl["median"] <= 600
    assert 7140 <= ttl["p90"] <= 7200
    assert 172740 <= ttl["p99"] <= ttl["max"] <= 172800

    # Paged: many SCAN calls of COUNT 100, one STRLEN and one TTL per key, never KEYS.
    calls = command_stats(redis_client)
    assert report["scan_batches"] == calls["scan"] >= 10
    assert calls["strlen"] == calls["ttl"] == 2500
    assert "keys" not in calls
    assert redis_client.get("other:1") == b"x"


def test_every_walk_sends_scan_match_escaped_prefix_count_never_keys(tmp_path, redis_server, redis_client, capsys):
    prefix = "a*b?[c]\\:"
    app = make_app(redis_server.url, prefix=prefix, timeout=600)
    ids = [new_session(app) for _ in range(5)]
    # Keys that the unescaped pattern a*b?[c]\:* would match too.
    lookalikes = [b"aXXbYc:1", b"abZc:2", b"a*b?c:3"]
    for key in lookalikes:
        redis_client.set(key, "not a session")
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=prefix, secret=SECRET)
    counter = CommandCounter(redis_client)
    try:
        counter.reset()
        status, out, _ = run(capsys, path, "stats", "--json", "--batch", "3")
        assert status == 0
        assert json.loads(out)["sessions"] == 5
        status, out, _ = run(capsys, path, "purge", "--yes", "--batch", "3")
        assert status == 0
        assert "deleted 5 keys" in out
        counts = counter.counts()
        seen = list(counter._seen)
    finally:
        counter.close()
    scans = [line for line in seen if line.startswith("SCAN ")]
    assert scans and len(scans) == counts["scan"]
    wire = r"a\*b\?\[c\]\\:*"  # the prefix with each of * ? [ ] \ escaped, then *
    shown = wire.replace("\\", "\\\\")  # as MONITOR shows it: backslashes doubled
    assert all(re.fullmatch(r"SCAN \d+ MATCH " + re.escape(shown) + " COUNT 3", line) for line in scans), scans
    unlinks = [line for line in seen if line.startswith("UNLINK ")]
    assert sum(len(line.split()) - 1 for line in unlinks) == 5
    assert "keys" not in counts
    assert all(redis_client.exists(prefix + i) == 0 for i in ids)
    assert all(redis_client.get(key) == b"not a session" for key in lookalikes)


def test_escape_glob_escapes_exactly_the_pattern_characters():
    assert escape_glob("shop:session:") == "shop:session:"
    assert escape_glob("a*b?c[d]e\\f-^g") == "a\\*b\\?c\\[d\\]e\\\\f-^g"


def test_stats_text_output(ini, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, timeout=600)
    for _ in range(3):
        new_session(app, "x" * 500)
    lru = make_app(redis_server.url, prefix=PREFIX, timeout=600, set_redis_ttl=False)
    new_session(lru, "y")
    redis_client.set(PREFIX + "broken", b"\x00")  # a session key whose payload does not decode: still counted

    status, out, err = run(capsys, ini, "stats")

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"prefix:      {PREFIX!r}"
    assert lines[1] == f"redis:       {redis_server.url}, db 0"
    assert lines[2] == f"scanned:     5 keys in 1 SCAN batches (MATCH {PREFIX}* COUNT 1000)"
    assert lines[3] == "sessions:    5"
    big, small = payload_size("x" * 500, 600), payload_size("y", 600, expires=True)
    total = 3 * big + small + 1
    assert lines[4] == f"total size:  {total} bytes ({total / 1024:.1f} KiB)"
    assert lines[6].split() == ["min", "median", "p90", "p99", "max"]
    assert lines[7].split() == ["size", "(bytes)", "1", str(big), str(big), str(big), str(big)]
    assert lines[8].split()[:2] == ["TTL", "(seconds)"]
    for label, count in (("< 100 B", 2), ("100 B - 1 KiB", 3), ("5 - 20 min", 3), ("no TTL", 2)):
        assert f"  {label:15}{count:>10}" in lines


def test_stats_text_of_sessions_without_ttl_has_no_ttl_row(ini, redis_server, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, timeout=600, set_redis_ttl=False)
    new_session(app)
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    lines = out.splitlines()
    assert lines[7].startswith("size (bytes)")
    assert not any(line.startswith("TTL (seconds)") for line in lines)
    assert f"  {'no TTL':15}{1:>10}" in lines


def test_stats_of_no_sessions(ini, redis_client, capsys):
    redis_client.set("other:1", "x")
    status, out, _ = run(capsys, ini, "stats", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["sessions"], report["total_bytes"], report["scanned"]) == (0, 0, 0)
    assert report["size_bytes"]["median"] is None and report["ttl_seconds"]["max"] is None
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    assert "sessions:    0" in out.splitlines()
    assert "median" not in out


def test_stats_with_an_empty_prefix_says_loudly_that_it_counts_every_key(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, timeout=600)
    new_session(app)
    redis_client.set("not-a-session", "x")
    redis_client.hset("a-hash", "field", "value")
    path = write_ini(tmp_path, redis_url=redis_server.url, secret=SECRET)

    status, out, err = run(capsys, path, "stats")
    assert status == 0
    assert err.startswith("WARNING: redis.sessions.prefix is empty")
    assert "EVERY key" in err
    assert out.splitlines()[0] == "prefix:      ''   <-- EMPTY: every key in the database counts"
    assert "sessions:    2" in out  # the session and the other string: no way to tell them apart
    assert "not strings: 1 keys (not sessions; left out)" in out

    status, out, err = run(capsys, path, "stats", "--json")
    report = json.loads(out)
    assert report["whole_database"] is True
    assert "redis.sessions.prefix" in report["warning"]
    assert (report["sessions"], report["not_strings"]) == (2, 1)


def test_stats_progress_on_a_terminal(ini, redis_server, monkeypatch, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    for _ in range(30):
        new_session(app)
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = main([ini, "stats", "--batch", "5"])
    assert status == 0
    shown = terminal.getvalue()
    assert shown.count("\r") >= 4
    assert shown.endswith("stats: scanned 30 keys\n")


def test_a_key_that_vanishes_during_the_walk_is_left_out(ini, redis_server, redis_client, monkeypatch, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    ids = [new_session(app) for _ in range(4)]
    sizes_and_ttls = Keyspace.sizes_and_ttls

    def expire_one_first(self: Keyspace, keys: Any) -> Any:
        redis_client.delete(keys[0])  # expires between SCAN and TTL
        return sizes_and_ttls(self, keys)

    monkeypatch.setattr(Keyspace, "sizes_and_ttls", expire_one_first)
    status, out, _ = run(capsys, ini, "stats", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["sessions"], report["vanished"], report["scanned"]) == (3, 1, 4)
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    assert "sessions:    2" in out.splitlines()
    assert "vanished:    1 keys (expired or deleted during the scan; left out)" in out.splitlines()
    assert len(prefixed_keys(redis_client)) == 2 and len(ids) == 4


# -- show ---------------------------------------------------------------------------------------------------


def test_show_by_raw_id_and_by_cookie_value_of_a_session_made_by_the_ini_app(ini, redis_client, capsys):
    browser = TestApp(get_app(ini))  # the application the ini file describes, with its own settings
    session_id = ast.literal_eval(browser.post("/write", {"key": "name", "value": "Ünïcode"}).text)
    browser.get("/incr")
    cookie = browser.cookies["session"]
    assert cookie != session_id

    status, by_id, err = run(capsys, ini, "show", session_id)
    assert (status, err) == (0, "")
    status, by_cookie, _ = run(capsys, ini, "show", cookie)
    assert status == 0

    raw = redis_client.get(PREFIX + session_id)
    stored = json.loads(raw)
    lines = by_id.splitlines()
    assert lines[0] == f"session:  {session_id}"
    assert lines[1] == f"key:      {PREFIX}{session_id}"
    assert lines[2] == f"size:     {len(raw)} bytes"
    ttl = int(re.fullmatch(r"TTL:      (\d+) s \(Redis expires it at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", lines[3])[1])
    assert 1190 <= ttl <= 1200
    assert lines[4].startswith("created:  ") and lines[4].endswith(f"({stored['c']})")
    assert lines[5] == "timeout:  1200 s"
    assert lines[6] == "expiry:   not kept in the payload (the Redis TTL is the expiry)"
    assert lines[7] == "data:"
    assert json.loads("\n".join(lines[8:])) == {"name": "Ünïcode", "n": 1}

    assert by_cookie.splitlines()[0] == (
        f"session:  {session_id}  (from a cookie value verified with redis.sessions.secret)"
    )
    cookie_lines = by_cookie.splitlines()
    assert cookie_lines[3].startswith("TTL:      ")  # (a second may have passed between the two)
    assert cookie_lines[1:3] + cookie_lines[4:] == lines[1:3] + lines[4:]
    assert 1190 <= redis_client.ttl(PREFIX + session_id) <= 1200  # showing it did not refresh it


def test_show_escapes_what_a_terminal_would_act_on(ini, redis_server, capsys):
    hostile = "Ünïcode \x1b[2J\x9b31m\u202eevil \U0001F600"  # clear screen, C1 CSI, a bidi override
    session_id = new_session(make_app(redis_server.url, prefix=PREFIX), hostile)
    status, out, _ = run(capsys, ini, "show", session_id)
    assert status == 0
    assert not any(char in out for char in "\x1b\x9b\u202e")
    assert '"k": "Ünïcode \\u001b[2J\\u009b31m\\u202eevil \U0001F600"' in out
    assert json.loads(out.split("data:\n", 1)[1]) == {"k": hostile}


def test_show_a_cookie_signed_with_a_fallback_secret(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, secret="the-old-secret")
    session_id = new_session(app)
    cookie = app.cookies["session"]
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret="the new secret",
                     secret_fallbacks="an-older-one the-old-secret")
    status, out, _ = run(capsys, path, "show", cookie)
    assert status == 0
    assert out.splitlines()[0] == (
        f"session:  {session_id}  (from a cookie value verified with one of redis.sessions.secret_fallbacks)"
    )


def test_show_refuses_a_forged_cookie_value(ini, redis_server, redis_client, capsys):
    session_id = new_session(make_app(redis_server.url, prefix=PREFIX))
    forged = SessionIdSigner("not the secret").dumps(session_id).decode()
    status, out, err = run(capsys, ini, "show", forged)
    assert status == 1
    assert out == ""
    assert err.startswith("pyramid-session-redis: refused: ")
    assert "not a stored session id, nor a cookie value signed with redis.sessions.secret" in err
    assert err.count("\n") == 1


def test_show_of_an_unknown_id(ini, capsys):
    status, out, err = run(capsys, ini, "show", "no-such-session")
    assert (status, out) == (1, "")
    assert re.fullmatch(r"pyramid-session-redis: no session 'no-such-session' under prefix 'psr:sess:' in "
                        r"redis://127\.0\.0\.1:\d+/0, db 0\n", err)


def test_show_of_a_cookie_value_for_a_session_that_ended(ini, capsys):
    cookie = SessionIdSigner(SECRET).dumps("gone-session").decode()
    status, _, err = run(capsys, ini, "show", cookie)
    assert status == 1
    assert "no session 'gone-session' (from a cookie value verified with redis.sessions.secret)" in err


def test_show_of_something_that_is_no_id_at_all(ini, capsys):
    status, _, err = run(capsys, ini, "show", "two words")
    assert status == 2
    assert "is neither a session id" in err


def test_without_a_secret_raw_ids_work_and_cookie_values_need_one(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    session_id = new_session(app, "kept")
    cookie = app.cookies["session"]
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX)  # no secret at all

    status, out, _ = run(capsys, path, "stats", "--json")
    assert (status, json.loads(out)["sessions"]) == (0, 1)
    status, out, _ = run(capsys, path, "show", session_id)
    assert status == 0 and '"k": "kept"' in out
    status, out, err = run(capsys, path, "show", cookie)
    assert (status, out) == (2, "")
    assert "looks like a signed cookie value, and the settings give no redis.sessions.secret" in err
    status, _, err = run(capsys, path, "delete", cookie)
    assert status == 2
    assert redis_client.exists(PREFIX + session_id)


def test_the_library_still_refuses_settings_without_a_secret(redis_server):
    from pyramid_session_redis import session_factory_from_settings
    from pyramid_session_redis.exceptions import InvalidSetting

    with pytest.raises(InvalidSetting, match="give exactly one of redis.sessions.secret"):
        session_factory_from_settings({"redis.sessions.redis_url": redis_server.url})


def test_secret_fallbacks_without_a_secret_is_still_a_settings_error(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret_fallbacks="old")
    status, _, err = run(capsys, path, "stats")
    assert status == 2
    assert "redis.sessions.secret" in err


def test_show_a_pickled_session_falls_back_to_repr(tmp_path, redis_server, redis_client, capsys):
    import datetime

    from pyramid.response import Response

    def store_odd_values(request):
        request.session["when"] = datetime.datetime(2024, 5, 1, 12, 30)
        request.session["tags"] = {"b"}
        return Response(repr(request.session.session_id_safecheck))

    app = make_app(redis_server.url, prefix=PREFIX, serializer="pickle", views={"odd": store_odd_values})
    session_id = ast.literal_eval(app.get("/odd").text)
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET, serializer="pickle")

    status, out, _ = run(capsys, path, "show", session_id)
    assert status == 0
    data = json.loads(out.split("data:\n", 1)[1])
    assert data == {"when": "datetime.datetime(2024, 5, 1, 12, 30)", "tags": "{'b'}"}


def test_show_pretty_prints_what_json_cannot_hold_with_pprint(tmp_path, redis_server, redis_client, capsys):
    import pickle

    payload = {"m": {("a", 1): "tuple key"}, "c": CREATED, "v": 1}
    redis_client.set(PREFIX + "odd", pickle.dumps(payload))
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET, serializer="pickle")
    status, out, _ = run(capsys, path, "show", "odd")
    assert status == 0
    assert out.split("data:\n", 1)[1] == "{('a', 1): 'tuple key'}\n"
    assert "TTL:      none (no Redis expiry" in out
    assert "timeout:  none" in out


def test_show_names_a_custom_deserializer_that_fails(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET,
                     serialize="pickle.dumps", deserialize="pickle.loads")
    redis_client.set(PREFIX + "odd", b"not pickle")
    status, out, _ = run(capsys, path, "show", "odd")
    assert status == 0
    assert "cannot be decoded with the configured serializer (redis.sessions.deserialize = loads)" in out


def test_show_a_payload_that_does_not_decode(ini, redis_client, capsys):
    redis_client.set(PREFIX + "damaged", b"\x80\x04not json", ex=100)
    status, out, _ = run(capsys, ini, "show", "damaged")
    assert status == 0
    assert "data:     cannot be decoded with the configured serializer (json): InvalidSession_PayloadLegacy(" in out
    assert "raw:      b'\\x80\\x04not json'" in out


def test_show_an_lru_session_with_its_expiry_in_the_payload(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, set_redis_ttl=False, timeout=600)
    session_id = new_session(app)
    expires = json.loads(redis_client.get(PREFIX + session_id))["x"]
    status, out, _ = run(capsys, write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX), "show", session_id)
    assert status == 0
    assert "TTL:      none (no Redis expiry: LRU mode, set_redis_ttl = false)" in out
    assert re.search(rf"expiry:   \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \({expires}\), kept in the payload", out)


def test_show_a_key_that_expires_while_being_read(ini, redis_client, monkeypatch, capsys):
    monkeypatch.setattr(Keyspace, "peek", lambda self, session_id: (b"{}", -2))
    status, out, _ = run(capsys, ini, "show", "racing")
    assert status == 0
    assert "TTL:      gone (expired while being read)" in out


def test_ids_and_cookie_values_that_start_with_a_dash_are_not_taken_for_options(ini, redis_server, redis_client, capsys):
    signer = SessionIdSigner(SECRET)
    # base64url: one id or cookie value in 64 starts with "-"; find such ones, deterministically.
    dashed_id = "-" + "a" * 42
    plain_id = next(f"id{i}" for i in range(10_000) if signer.dumps(f"id{i}").startswith(b"-"))
    for session_id in (dashed_id, plain_id):
        new_session(make_app(redis_server.url, prefix=PREFIX, id_generator=lambda s=session_id: s))
    cookie = signer.dumps(plain_id).decode()

    status, out, err = run(capsys, ini, "show", dashed_id)
    assert (status, err) == (0, "")
    assert out.startswith(f"session:  {dashed_id}\n")
    status, out, _ = run(capsys, ini, "show", cookie, "--prefix", PREFIX)  # an option after it still counts
    assert status == 0
    assert out.startswith(f"session:  {plain_id}  (from a cookie value")
    status, out, _ = run(capsys, ini, "delete", "--", cookie)  # the explicit way works too
    assert (status, out.split(" (")[0]) == (0, f"deleted session {plain_id}")
    status, _, _ = run(capsys, ini, "delete", dashed_id)
    assert status == 0
    assert prefixed_keys(redis_client) == []


class ReversingSigner:
    """A custom ``cookie_signer`` (named in the ini by its dotted name): "signs" by reversing."""

    def dumps(self, session_id: str) -> bytes:
        return session_id[::-1].encode()

    def loads(self, signed: bytes) -> str:
        if signed.startswith(b"!"):
            raise ValueError("not mine")
        return signed.decode()[::-1]


REVERSING_SIGNER = ReversingSigner()


def test_a_custom_cookie_signer_verifies_cookie_values(tmp_path, redis_server, redis_client, capsys):
    session_id = new_session(make_app(redis_server.url, prefix=PREFIX))
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX,
                     cookie_signer="tests.test_cli.REVERSING_SIGNER")
    status, out, _ = run(capsys, path, "show", session_id[::-1])
    assert status == 0
    assert out.splitlines()[0] == (
        f"session:  {session_id}  (from a cookie value verified with redis.sessions.cookie_signer)"
    )
    # What the signer refuses is taken as a raw id.
    status, _, err = run(capsys, path, "show", "!nothing")
    assert status == 1 and "no session '!nothing'" in err
    status, _, err = run(capsys, path, "show", "a~b")  # verified: "b~a", which is not stored
    assert status == 1
    assert "no session 'b~a' (from a cookie value verified with redis.sessions.cookie_signer)" in err


def test_a_verified_value_that_cannot_be_an_id_is_not_used(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX,
                     cookie_signer="tests.test_cli.REVERSING_SIGNER")
    redis_client.set(PREFIX + "x\ty", "{}")  # the signer turns "y<tab>x" into this, which no id can be
    status, _, err = run(capsys, path, "delete", "y\tx")
    assert status == 2
    assert "is neither a session id" in err
    assert redis_client.exists(PREFIX + "x\ty")


def test_looks_signed_knows_the_signed_layout_whatever_the_secret():
    signed = SessionIdSigner("any secret").dumps("an-id").decode()
    assert len(signed) % 4 == 0  # 64 bytes of signature and 5 of id: no padding to strip
    assert looks_signed(signed)
    assert not looks_signed("an-id")  # too short to hold a signature
    assert not looks_signed(signed + "A")  # a length base64 never has
    assert not looks_signed(signed + "=")  # padded: dumps strips it
    assert not looks_signed(SessionIdSigner("s").dumps("two words").decode())  # no id holds a space
    assert not looks_signed("")


def test_settings_without_a_signer_are_valid_only_when_none_is_required():
    """What the CLI asks of the library's validation instead of a stand-in signer."""
    values = option_table.validate({"redis_url": "redis://h"}, require_signer=False)
    assert values["secret"] is None and values["cookie_signer"] is None
    with pytest.raises(InvalidSetting, match="give exactly one of secret and cookie_signer"):
        option_table.validate({"secret": "s", "cookie_signer": REVERSING_SIGNER}, require_signer=False)
    with pytest.raises(InvalidSetting, match="give exactly one of secret and cookie_signer"):
        option_table.validate({"redis_url": "redis://h"})


# -- delete ---------------------------------------------------------------------------------------------------------


def test_delete_by_raw_id_by_cookie_value_and_not_by_a_forged_one(ini, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    first, second, third = (new_session(app) for _ in range(3))
    cookie = SessionIdSigner(SECRET).dumps(second).decode()
    forged = SessionIdSigner("a guess").dumps(third).decode()

    status, out, err = run(capsys, ini, "delete", first)
    assert (status, err) == (0, "")
    assert out == f"deleted session {first} (key {PREFIX + first!r})\n"
    assert not redis_client.exists(PREFIX + first)

    status, out, _ = run(capsys, ini, "delete", cookie)
    assert status == 0
    assert out.startswith(f"deleted session {second} ")
    assert not redis_client.exists(PREFIX + second)

    status, out, err = run(capsys, ini, "delete", forged)
    assert (status, out) == (1, "")
    assert "refused" in err
    assert redis_client.exists(PREFIX + third)

    status, _, err = run(capsys, ini, "delete", first)  # already gone
    assert status == 1
    assert f"no session {first!r}" in err


# -- purge ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(redis_server: Any, redis_client: redis.Redis) -> List[str]:
    """25 sessions under the prefix, and keys outside it that a purge must leave."""
    app = make_app(redis_server.url, prefix=PREFIX)
    ids = [new_session(app) for _ in range(25)]
    new_session(make_app(redis_server.url, prefix="psr:other:"))
    redis_client.set("psr:sess", "the prefix without its colon")
    redis_client.set("unrelated", "1")
    redis_client.hset("a-hash", "f", "v")
    return ids


def outside(redis_client: redis.Redis) -> List[bytes]:
    return sorted(key for key in redis_client.scan_iter(count=1000) if not key.startswith(PREFIX.encode()))


def test_purge_asks_and_no_keeps_everything(ini, mixed, redis_client, monkeypatch, capsys):
    before = outside(redis_client)
    monkeypatch.setattr(sys, "stdin", FakeTTY("no\n"))
    status, out, err = run(capsys, ini, "purge", "--batch", "10")
    assert status == 1
    assert out == ""
    assert f"This deletes every key matching {PREFIX}* (redis.sessions.prefix = {PREFIX!r})" in err
    assert re.search(r"in redis://127\.0\.0\.1:\d+/0, db 0: 25 keys found\.\nType \"yes\" to delete them: ", err)
    assert err.endswith("pyramid-session-redis: not confirmed ('no' is not \"yes\"): nothing deleted\n")
    assert len(prefixed_keys(redis_client)) == 25
    assert outside(redis_client) == before


def test_purge_yes_deletes_only_the_prefixed_keys(ini, mixed, redis_client, monkeypatch, capsys):
    before = outside(redis_client)
    assert len(before) == 4
    monkeypatch.setattr(sys, "stdin", FakeTTY("yes\n"))
    status, out, err = run(capsys, ini, "purge", "--batch", "10")
    assert status == 0
    assert "25 keys found" in err
    assert re.fullmatch(rf"deleted 25 keys matching {PREFIX}\* in redis://127\.0\.0\.1:\d+/0, db 0 \(25 scanned\)\n", out)
    assert prefixed_keys(redis_client) == []
    assert outside(redis_client) == before


def test_purge_with_yes_needs_no_terminal_and_reports_progress_every_n_batches(
    ini, mixed, redis_client, monkeypatch, capsys
):
    unlink_keys = Keyspace.unlink_keys
    pages = []

    def counted(self: Keyspace, keys: Any) -> int:
        pages.append(len(keys))
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", counted)
    redis_client.config_resetstat()
    status, out, err = run(capsys, ini, "purge", "--yes", "--batch", "2", "--progress-every", "3")
    assert status == 0
    assert "deleted 25 keys" in out
    assert "Type" not in err
    purge_lines = [line for line in err.splitlines() if line.startswith("purge:")]
    batches = len(pages)
    assert batches >= 6
    # A line every third batch, and the final count unless that line just showed it.
    scanned = list(itertools.accumulate(pages))
    expected = [scanned[i - 1] for i in range(3, batches + 1, 3)]
    expected += [25] if expected[-1:] != [25] else []
    assert [int(re.search(r"scanned (\d+) of", line)[1]) for line in purge_lines] == expected
    assert purge_lines[-1] == "purge: [##############################] 100% deleted 25 / scanned 25 of ~25 keys"
    assert all("\r" not in line for line in err.splitlines())
    assert prefixed_keys(redis_client) == []
    assert command_stats(redis_client)["unlink"] <= batches


def test_progress_lines_without_a_terminal():
    stream = Pipe()
    progress = Progress(stream, "purge", 3, every=2)
    for done in (1, 2, 2, 3):
        progress.update(done, done)
    progress.finish(3, 3)  # the same counts as the last line: not written twice
    assert stream.getvalue().splitlines() == [
        "purge: [####################..........]  66% deleted 2 / scanned 2 of ~3 keys",
        "purge: [##############################] 100% deleted 3 / scanned 3 of ~3 keys",
    ]
    progress = Progress(stream, "counting", None, every=2)
    progress.update(5)
    progress.finish(5)
    assert stream.getvalue().splitlines()[-1] == "counting: scanned 5 keys"
    # A total that turned out too high (keys expired meanwhile) never shows 100%.
    assert "  99% deleted 199 / scanned 199 of ~200 keys" in Progress(stream, "purge", 200, 1).line(199, 199)


def test_purge_progress_on_a_terminal_rewrites_one_line(ini, mixed, redis_client, monkeypatch, capsys):
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = main([ini, "purge", "--yes", "--batch", "5"])
    assert status == 0
    shown = terminal.getvalue()
    purge = shown[shown.index("purge:") - 1:]
    assert purge.startswith("\rpurge: [")
    assert purge.count("\r") >= 3
    assert purge.endswith("deleted 25 / scanned 25 of ~25 keys\n")
    assert purge.count("\n") == 1


def test_purge_dry_run_counts_and_deletes_nothing(ini, mixed, redis_client, capsys):
    status, out, _ = run(capsys, ini, "purge", "--dry-run", "--batch", "7")
    assert status == 0
    assert re.fullmatch(rf"dry run: 25 keys match {PREFIX}\* in redis://127\.0\.0\.1:\d+/0, db 0; nothing deleted\n", out)
    assert len(prefixed_keys(redis_client)) == 25


def test_purge_refuses_without_a_terminal_to_confirm(ini, mixed, redis_client, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe("yes\n"))  # piped in: nobody is there to read the prompt
    status, out, err = run(capsys, ini, "purge")
    assert (status, out) == (1, "")
    assert err == "pyramid-session-redis: refused: stdin is not a terminal, so nobody can confirm: pass --yes to purge anyway\n"
    assert len(prefixed_keys(redis_client)) == 25


def test_purge_with_an_empty_prefix_is_refused_unless_asked_for(tmp_path, redis_server, redis_client, mixed, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, secret=SECRET)  # no prefix
    count = redis_client.dbsize()
    status, out, err = run(capsys, path, "purge", "--yes")
    assert (status, out) == (1, "")
    assert "refused: redis.sessions.prefix is empty, so a purge would delete EVERY key" in err
    assert "--all-keys-in-db" in err
    assert redis_client.dbsize() == count

    status, out, err = run(capsys, path, "purge", "--dry-run")
    assert status == 0
    assert f"dry run: {count} keys match *" in out
    assert err.startswith("WARNING: redis.sessions.prefix is empty")

    status, out, err = run(capsys, path, "purge", "--yes", "--all-keys-in-db")
    assert status == 0
    assert f"deleted {count} keys matching *" in out
    assert "WARNING: redis.sessions.prefix is empty" in err
    assert redis_client.dbsize() == 0


def test_purge_without_the_counting_pass_says_unknown(ini, mixed, redis_client, monkeypatch, capsys):
    redis_client.config_resetstat()
    monkeypatch.setattr(sys, "stdin", FakeTTY("yes\n"))
    status, out, err = run(capsys, ini, "purge", "--no-count", "--batch", "1000")
    assert status == 0
    assert "db 0: unknown keys found." in err
    assert "counting:" not in err
    assert command_stats(redis_client)["scan"] == 1
    assert "deleted 25 keys" in out


def test_purge_with_nothing_to_delete(ini, redis_client, capsys):
    redis_client.set("unrelated", "1")
    status, out, _ = run(capsys, ini, "purge", "--yes")
    assert status == 0
    assert out.startswith(f"no key matches {PREFIX}* in ")
    assert redis_client.get("unrelated") == b"1"


def test_purge_stopped_by_redis_says_how_far_it_got(ini, mixed, redis_client, monkeypatch, capsys):
    unlink_keys = Keyspace.unlink_keys
    calls = []

    def fail_second(self: Keyspace, keys: Any) -> int:
        calls.append(len(keys))
        if len(calls) == 2:
            raise SessionBackendError("Redis failed during unlink_keys") from redis.ConnectionError("Connection reset by peer")
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", fail_second)
    status, out, err = run(capsys, ini, "purge", "--yes", "--batch", "5")
    assert (status, out) == (3, "")
    last = err.splitlines()[-1]
    assert re.fullmatch(
        r"pyramid-session-redis: Redis error at redis://127\.0\.0\.1:\d+/0, db 0: "
        rf"ConnectionError: Connection reset by peer \({calls[0]} keys deleted before it\)", last,
    ), last
    assert len(prefixed_keys(redis_client)) == 25 - calls[0]


def test_purge_interrupted_says_how_far_it_got(ini, mixed, redis_client, monkeypatch, capsys):
    unlink_keys = Keyspace.unlink_keys
    calls = []

    def interrupt_second(self: Keyspace, keys: Any) -> int:
        calls.append(len(keys))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", interrupt_second)
    status, _, err = run(capsys, ini, "purge", "--yes", "--batch", "5")
    assert status == 130
    assert err.endswith(f"pyramid-session-redis: interrupted: {calls[0]} keys deleted so far\n")


def test_stats_interrupted(ini, redis_server, monkeypatch, capsys):
    new_session(make_app(redis_server.url, prefix=PREFIX))

    def interrupt(self: Keyspace, keys: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Keyspace, "sizes_and_ttls", interrupt)
    status, out, err = run(capsys, ini, "stats")
    assert (status, out, err) == (130, "", "pyramid-session-redis: interrupted\n")


def test_the_prompt_hides_the_password(tmp_path, redis_client, monkeypatch, capsys):
    path = write_ini(tmp_path, redis_url="redis://admin:hunter2@127.0.0.1:1/4?password=hunter3", prefix=PREFIX)
    monkeypatch.setattr(sys, "stdin", FakeTTY("no\n"))
    status, _, err = run(capsys, path, "purge", "--no-count")  # answered before any connection
    assert status == 1
    assert "in redis://admin:***@127.0.0.1:1/4?password=***, db 4: unknown keys found." in err
    assert "hunter" not in err


@pytest.mark.parametrize(
    "settings, shown",
    [
        ({"redis_host": "redis.internal", "redis_port": "6380", "redis_db": "2", "redis_password": "pw"},
         ("redis://redis.internal:6380 (with a password)", 2)),
        ({"redis_host": "redis.internal", "redis_ssl": "true"}, ("rediss://redis.internal:6379", 0)),
        ({"redis_unix_socket_path": "/run/redis.sock", "redis_db": "1"}, ("unix:///run/redis.sock", 1)),
        ({"redis_url": "unix:///run/redis.sock?db=5"}, ("unix:///run/redis.sock?db=5", 5)),
        ({"redis_url": "redis://h:6379", "redis_db": "3"}, ("redis://h:6379", 3)),
        ({"redis_url": "redis://h:7000/0", "redis_cluster": "true"}, ("redis://h:7000/0", 0)),
        ({"redis_sentinels": "s1:26379 s2:26379", "redis_sentinel_master": "mymaster"},
         ("the master 'mymaster' of the sentinels s1:26379, s2:26379", 0)),
    ],
)
def test_where_the_sessions_are_is_described_without_secrets(settings, shown):
    from pyramid_session_redis import options as option_table
    from pyramid_session_redis.factory import make_factory

    factory = make_factory({**option_table.parse_settings(
        {f"redis.sessions.{k}": v for k, v in settings.items()}), "secret": "s"})
    keys = Keyspace(client_for=lambda: factory.client, cluster=factory.options["redis_cluster"])
    assert describe_location(factory.options, keys) == shown  # (nothing connects)


def test_hide_password():
    assert hide_password("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert hide_password("rediss://user:pw@h:1/0") == "rediss://user:***@h:1/0"
    assert hide_password("redis://user@h:1/0") == "redis://user@h:1/0"
    assert hide_password("redis://h:1/0?db=2&password=pw&x") == "redis://h:1/0?db=2&password=***&x"


# -- settings, overrides and failures ----------------------------------------------------------------------------------------


def test_memory_stores_are_refused(tmp_path, capsys):
    path = write_ini(tmp_path, redis_url="memory://", prefix=PREFIX, secret=SECRET)
    for command in (["stats"], ["show", "x"], ["delete", "x"], ["purge", "--yes"]):
        status, out, err = run(capsys, path, *command)
        assert (status, out) == (1, "")
        assert err == (
            "pyramid-session-redis: redis.sessions.redis_url = memory://: these sessions live inside the "
            "application's own processes, where this tool cannot reach them (give --redis-url to look at a "
            "Redis server instead)\n"
        )


@pytest.mark.parametrize("command", [["stats"], ["show", "some-id"], ["delete", "some-id"], ["purge", "--yes"]])
def test_unreachable_redis_is_one_line_and_exit_status_3(tmp_path, command, capsys):
    path = write_ini(tmp_path, redis_url="redis://127.0.0.1:1/0", prefix=PREFIX, secret=SECRET,
                     redis_socket_connect_timeout="1")
    status, out, err = run(capsys, path, *command)
    assert (status, out) == (3, "")
    assert re.fullmatch(
        r"pyramid-session-redis: Redis error at redis://127\.0\.0\.1:1/0, db 0: ConnectionError: "
        r"Error 111 connecting to 127\.0\.0\.1:1\. Connection refused\.\n", err,
    ), err


def test_redis_client_callable_needs_a_redis_url(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, prefix=PREFIX, secret=SECRET,
                     redis_client_callable="redis.Redis")
    status, _, err = run(capsys, path, "stats")
    assert status == 2
    assert "redis.sessions.redis_client_callable builds the Redis client inside the application" in err
    assert "--redis-url" in err
    status, out, _ = run(capsys, path, "stats", "--json", "--redis-url", redis_server.url)
    assert status == 0 and json.loads(out)["sessions"] == 0


def test_redis_url_and_prefix_override_an_ini_without_session_settings(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix="py:")
    ids = [new_session(app) for _ in range(3)]
    (tmp_path / "app.ini").write_text("[app:main]\nuse = call:tests.test_cli:app_factory\nother.setting = 1\n")
    path = str(tmp_path / "app.ini")

    # Options before or after the command.
    for argv in (
        ["--redis-url", redis_server.url, "--prefix", "py:", path, "stats", "--json"],
        [path, "stats", "--json", "--redis-url", redis_server.url, "--prefix", "py:"],
        ["--redis-url", redis_server.url, path, "stats", "--prefix", "py:", "--json"],
    ):
        status, out, _ = run(capsys, *argv)
        assert status == 0, argv
        report = json.loads(out)
        assert (report["sessions"], report["prefix"], report["location"]) == (3, "py:", redis_server.url)
    status, out, _ = run(capsys, path, "show", ids[0], "--redis-url", redis_server.url, "--prefix", "py:")
    assert status == 0 and out.startswith(f"session:  {ids[0]}\n")


def test_the_redis_url_option_replaces_every_location_setting(tmp_path, redis_server, redis_client, capsys):
    path = write_ini(tmp_path, redis_sentinels="127.0.0.1:1", redis_sentinel_master="mymaster", prefix=PREFIX)
    status, out, _ = run(capsys, path, "--redis-url", redis_server.url, "stats", "--json")
    assert status == 0
    assert json.loads(out)["location"] == redis_server.url


def test_section_of_the_ini_file(tmp_path, redis_server, redis_client, capsys):
    new_session(make_app(redis_server.url, prefix="second:"))
    path = write_ini(tmp_path, sections={"second": {"redis_url": redis_server.url, "prefix": "second:"}},
                     redis_url=redis_server.url, prefix=PREFIX)
    status, out, _ = run(capsys, path + "#second", "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 1
    status, out, _ = run(capsys, path, "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 0


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        ("missing", ["stats"], "cannot read the settings of "),
        ("section", ["stats"], "cannot read the settings of "),
        ("unknown", ["stats"], "unknown session option 'redis.sessions.prefx'; did you mean 'redis.sessions.prefix'?"),
        ("bad", ["stats"], "redis.sessions.timeout = 'soon' is not valid"),
        ("cluster-db", ["stats"], "redis.sessions.redis_db must be 0 with redis.sessions.redis_cluster"),
        ("tls", ["stats"], "redis_ssl_ca_certs is set but the connection to Redis does not use TLS"),
        ("good", ["stats", "--batch", "0"], "argument --batch: 0 is not >= 1"),
        ("good", ["stats", "--batch", "many"], "argument --batch: 'many' is not a whole number"),
        ("good", ["frobnicate"], "invalid choice: 'frobnicate'"),
        ("good", [], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_and_settings_errors_exit_2_naming_the_setting(tmp_path, redis_server, setup, argv, message, capsys):
    settings = {"redis_url": redis_server.url, "secret": SECRET}
    extra = {
        "unknown": {"prefx": "x:"},
        "bad": {"timeout": "soon"},
        "cluster-db": {"redis_cluster": "true", "redis_db": "1"},
        "tls": {"redis_ssl_ca_certs": "/ca.pem"},
    }.get(setup, {})
    path = write_ini(tmp_path, **settings, **extra)
    if setup == "missing":
        path = str(tmp_path / "nowhere.ini")
    elif setup == "section":
        path += "#nosuchsection"
    status, out, err = run(capsys, path, *argv)
    assert (status, out) == (2, "")
    assert message in err
    assert "Traceback" not in err


def test_help_exits_0_and_lists_the_commands(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("stats", "show", "delete", "purge", "config_uri"):
        assert command in out


def test_the_package_runs_main_when_run_as_a_module(monkeypatch, capsys):
    """What ``python -m pyramid_session_redis.cli`` runs, in this process (the test below runs it for real)."""
    import runpy

    monkeypatch.setattr(sys, "argv", ["pyramid-session-redis", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("pyramid_session_redis.cli", run_name="__main__")
    assert exited.value.code == 0
    assert "config_uri" in capsys.readouterr().out


def test_python_dash_m_runs_stats_end_to_end(ini, redis_server, redis_client):
    app = make_app(redis_server.url, prefix=PREFIX)
    for _ in range(7):
        new_session(app)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "pyramid_session_redis.cli", ini, "stats", "--json"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads(done.stdout)["sessions"] == 7

    done = subprocess.run(
        [sys.executable, "-m", "pyramid_session_redis.cli", ini, "show", "nope"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO), env=env,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("pyramid-session-redis: no session 'nope'")


# -- Redis Cluster ------------------------------------------------------------------------------------------------------------


def keys_on(node: redis.Redis, prefix: str) -> List[bytes]:
    return [key for key in node.scan_iter(count=1000) if key.startswith(prefix.encode())]


@pytest.mark.slow
def test_cluster_stats_count_every_master_and_purge_empties_them_all(cluster, nodes, tmp_path, capsys):
    app = make_app(cluster.url, prefix=PREFIX, redis_cluster=True)
    ids = [new_session(app) for _ in range(30)]
    while not all(keys_on(node, PREFIX) for node in nodes) and len(ids) < 120:
        ids.append(new_session(app))  # until every master holds one
    per_node = [len(keys_on(node, PREFIX)) for node in nodes]
    assert all(per_node) and sum(per_node) == len(ids)
    cluster_client = app.factory.client
    for i in range(30):
        cluster_client.set(f"keep:{i}", "x")  # outside the prefix, spread over the masters too
    kept = [len(keys_on(node, "keep:")) for node in nodes]
    assert all(kept)
    path = write_ini(tmp_path, redis_url=cluster.url, redis_cluster="true", prefix=PREFIX, secret=SECRET)
    for node in nodes:
        node.config_resetstat()

    status, out, err = run(capsys, path, "stats", "--json", "--batch", "5")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["sessions"] == len(ids)
    assert report["cluster"] is True
    scans = [command_stats(node).get("scan", 0) for node in nodes]
    assert all(scans), scans  # every master was scanned
    assert report["scan_batches"] == sum(scans)

    status, out, _ = run(capsys, path, "show", ids[-1])
    assert status == 0 and out.startswith(f"session:  {ids[-1]}\n")

    status, out, err = run(capsys, path, "purge", "--yes", "--batch", "5")
    assert status == 0, err
    assert f"deleted {len(ids)} keys matching {PREFIX}*" in out
    assert "(Redis Cluster: every primary)" in out
    assert [keys_on(node, PREFIX) for node in nodes] == [[], [], []]
    assert [len(keys_on(node, "keep:")) for node in nodes] == kept

    status, _, err = run(capsys, path, "delete", ids[0])
    assert status == 1

    # An application that configures its factory in Python: the location given on the command line.
    for _ in range(10):
        new_session(app)
    bare = tmp_path / "bare.ini"
    bare.write_text("[app:main]\nuse = call:tests.test_cli:app_factory\n")
    status, out, _ = run(capsys, str(bare), "stats", "--json", "--redis-url", cluster.url, "--cluster", "--prefix", PREFIX)
    assert status == 0
    assert (json.loads(out)["sessions"], json.loads(out)["cluster"]) == (10, True)
    assert sum(len(keys_on(node, PREFIX)) for node in nodes) == 10
