"""``show`` and ``delete`` (``cli/show.py``): by raw id or by cookie value, and every refusal, against a real Redis."""

from __future__ import annotations

import ast
import json
import re

from pyramid.paster import get_app
from webtest import TestApp

from pyramid_session_redis.cookies import SessionIdSigner, looks_signed
from pyramid_session_redis.keyspace import Keyspace

from .app import SECRET, make_app
from .cli_helpers import CREATED, PREFIX, new_session, run, write_ini


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
    old = "the old secret, a passphrase of words"
    app = make_app(redis_server.url, prefix=PREFIX, secret=old)
    session_id = new_session(app)
    cookie = app.cookies["session"]
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret="the new secret, a passphrase too",
                     secret_fallbacks=f"\n    an older one, also a long passphrase\n    {old}")
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


def test_a_custom_cookie_signer_verifies_cookie_values(tmp_path, redis_server, redis_client, capsys):
    session_id = new_session(make_app(redis_server.url, prefix=PREFIX))
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX,
                     cookie_signer="tests.cli_app.REVERSING_SIGNER")
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
                     cookie_signer="tests.cli_app.REVERSING_SIGNER")
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
    assert not looks_signed(SessionIdSigner("s").dumps("three words here").decode())  # no id holds a space
    # local_cache: the id, a space and the version (a stamp)
    assert looks_signed(SessionIdSigner("s").dumps("an-id-of-some-length abcDEF012_-x").decode())
    assert not looks_signed("")


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
