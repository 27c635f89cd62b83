"""Secret rotation: old secrets still read cookies; every cookie is re-signed with the new one.

Through a real app and Redis: a site changes ``secret`` and moves the old one
to ``secret_fallbacks``; nobody is logged out, and the old secret stops
mattering once the browsers have been given re-signed cookies.
"""

from __future__ import annotations

import hmac
import logging

import pytest
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.cookies import SENT, SENT_OLD_SECRET, SessionIdSigner
from pyramid_session_redis.exceptions import InvalidSession_BadCookie, InvalidSession_NoSessionCookie, InvalidSetting

from .app import make_app, make_wsgi

# Passphrases (spaces and all) of at least 32 bytes, as secrets must be.
OLD, NEW, OLDER = "the old secret, a passphrase of words", "the new secret, a passphrase too", \
    "an even older secret, also a passphrase"


class Seen(list):
    def __call__(self, request, exc):
        self.append(type(exc))


def test_rotation_keeps_sessions_and_re_signs_cookies(redis_server, redis_client, commands):
    before = make_app(redis_server.url, secret=OLD)
    before.get("/write?key=user&value=alice")
    old_cookie = before.cookies["session"]

    seen = Seen()
    after = make_app(redis_server.url, secret=NEW, secret_fallbacks=[OLD], func_invalid_logger=seen)
    after.set_cookie("session", old_cookie)
    commands.reset()
    response = after.get("/read?key=user")
    assert response.text == "'alice'" and seen == []
    assert commands.counts() == {"getex": 1}  # re-signing costs no Redis command
    new_cookie = after.cookies["session"]
    assert "session=" in response.headers["Set-Cookie"] and new_cookie != old_cookie
    assert SessionIdSigner(NEW).loads(new_cookie.encode()) == SessionIdSigner(OLD).loads(old_cookie.encode())
    # Once re-signed, the cookie is not sent again on every response.
    assert "Set-Cookie" not in after.get("/read?key=user").headers

    # When the old secret is finally dropped, the re-signed cookie still works.
    later = make_app(redis_server.url, secret=NEW)
    later.set_cookie("session", new_cookie)
    assert later.get("/read?key=user").text == "'alice'"


def test_a_cookie_of_a_secret_not_listed_is_refused(redis_server, redis_client):
    before = make_app(redis_server.url, secret=OLDER)
    before.get("/write?key=user&value=mallory")
    seen = Seen()
    after = make_app(redis_server.url, secret=NEW, secret_fallbacks=[OLD], func_invalid_logger=seen)
    after.set_cookie("session", before.cookies["session"])
    assert after.get("/read?key=user").text == "None"
    assert seen == [InvalidSession_BadCookie]


def test_several_fallbacks_from_ini_one_per_line(redis_server, redis_client):
    factory = session_factory_from_settings({
        "redis.sessions.secret": NEW,
        # What a multi-line ini value reads as: blank lines and indentation are not secrets.
        "redis.sessions.secret_fallbacks": f"\n  {OLD}\n\n{OLDER}  \n",
        "redis.sessions.redis_url": redis_server.url,
    })
    assert factory.options["secret_fallbacks"] == (OLD, OLDER)
    older = make_app(redis_server.url, secret=OLDER)
    older.get("/write?key=k&value=v2")
    app = TestApp(make_wsgi(factory))
    app.set_cookie("session", older.cookies["session"])
    assert app.get("/read?key=k").text == "'v2'"


def test_a_passphrase_moved_into_the_fallbacks_stays_one_secret(redis_server, redis_client):
    """Split at white space, it became several one-word secrets: the cookies of
    the passphrase were refused, and a cookie signed with one word was accepted."""
    passphrase = "correct horse battery staple, and then some"
    before = make_app(redis_server.url, secret=passphrase)
    before.get("/write?key=user&value=alice")
    factory = session_factory_from_settings({
        "redis.sessions.secret": NEW,
        "redis.sessions.secret_fallbacks": passphrase,
        "redis.sessions.redis_url": redis_server.url,
    })
    assert factory.options["secret_fallbacks"] == (passphrase,)
    seen = Seen()

    def browser(cookie):
        app = make_app(redis_server.url, secret=NEW, secret_fallbacks=list(factory.options["secret_fallbacks"]),
                       func_invalid_logger=seen)
        app.set_cookie("session", cookie)
        return app

    assert browser(before.cookies["session"]).get("/read?key=user").text == "'alice'" and seen == []
    # A cookie signed with one word of the passphrase is forged.
    forger = make_app(redis_server.url, secret="horse", allow_short_secret=True)
    forger.get("/write?key=user&value=mallory")
    assert browser(forger.cookies["session"]).get("/read?key=user").text == "None"
    assert seen == [InvalidSession_BadCookie]


def test_a_short_fallback_is_refused_at_start_up_naming_the_setting():
    with pytest.raises(InvalidSetting) as caught:
        session_factory_from_settings({
            "redis.sessions.secret": NEW,
            "redis.sessions.secret_fallbacks": "correct horse battery staple",  # 28 bytes
            "redis.sessions.redis_url": "memory://short-fallback",
        })
    message = str(caught.value)
    assert "redis.sessions.secret_fallbacks: its secret is 28 bytes long" in message
    assert "at least 32 bytes" in message and "redis.sessions.allow_short_secret = true" in message
    assert "correct" not in message  # the secret itself is never shown
    with pytest.raises(InvalidSetting, match="secret_fallbacks: secret 2 of 3 is 5 bytes long"):
        RedisSessionFactory(secret=NEW, secret_fallbacks=[OLD, "short", OLDER], redis_url="memory://")


def test_a_short_secret_logs_a_warning_at_start_up_naming_the_setting(caplog):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        session_factory_from_settings({"redis.sessions.secret": "seekrit", "redis.sessions.redis_url": "memory://"})
    assert "redis.sessions.secret is 7 bytes long; use at least 32 random bytes" in caplog.text
    assert "seekrit" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        RedisSessionFactory("seekrit", redis_url="memory://")  # as 1.8 accepted it: it still starts
    assert "secret is 7 bytes long" in caplog.text and "allow_short_secret = true silences this" in caplog.text


@pytest.mark.parametrize("secret", ["x" * 32, "✓" * 11])  # 32 bytes; 11 characters of 3 bytes each
def test_a_secret_of_32_bytes_is_long_enough(caplog, secret):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        RedisSessionFactory(secret=secret, secret_fallbacks=[secret], redis_url="memory://")
    assert caplog.text == ""


def test_allow_short_secret_opts_out_of_both_checks(redis_server, redis_client, caplog):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        factory = session_factory_from_settings({
            "redis.sessions.secret": "test",
            "redis.sessions.secret_fallbacks": "old",
            "redis.sessions.allow_short_secret": "true",
            "redis.sessions.redis_url": redis_server.url,
        })
    assert caplog.text == "" and factory.options["secret_fallbacks"] == ("old",)
    older = make_app(redis_server.url, secret="old", allow_short_secret=True)
    older.get("/write?key=k&value=v")
    app = TestApp(make_wsgi(factory))
    app.set_cookie("session", older.cookies["session"])
    assert app.get("/read?key=k").text == "'v'"


def test_signer_verify_says_which_secret_signed():
    signer = SessionIdSigner(NEW, [OLD, OLDER])
    assert signer.verify(SessionIdSigner(NEW).dumps("abc")) == ("abc", True)
    assert signer.verify(SessionIdSigner(OLDER).dumps("abc")) == ("abc", False)
    assert signer.loads(SessionIdSigner(OLD).dumps("abc")) == "abc"
    assert signer.dumps("abc") == SessionIdSigner(NEW).dumps("abc")  # always signs with the current secret
    with pytest.raises(ValueError, match="signature"):
        signer.loads(SessionIdSigner("other").dumps("abc"))


def test_cookie_jar_reports_an_old_signature(redis_server):
    from webob import Request

    factory = RedisSessionFactory(secret=NEW, secret_fallbacks=[OLD], redis_url=redis_server.url)
    request = Request.blank("/", headers={"Cookie": "session=" + SessionIdSigner(OLD).dumps("abc").decode()})
    assert factory.settings.cookies.read(request) == ("abc", SENT_OLD_SECRET)
    request = Request.blank("/", headers={"Cookie": "session=" + SessionIdSigner(NEW).dumps("abc").decode()})
    assert factory.settings.cookies.read(request) == ("abc", SENT)


def test_signatures_are_compared_in_constant_time(monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = SessionIdSigner(NEW, [OLD])
    with pytest.raises(ValueError):
        signer.loads(SessionIdSigner("forged").dumps("abc"))
    assert compared == [(64, 64), (64, 64)]  # every candidate secret, through compare_digest


@pytest.mark.parametrize("bad", [OLD, [""], ["  "], [1], "none"])
def test_bad_fallbacks_are_refused_naming_the_setting(bad):
    with pytest.raises(InvalidSetting, match="secret_fallbacks"):
        RedisSessionFactory(secret=NEW, secret_fallbacks=bad)


def test_fallbacks_need_a_secret():
    with pytest.raises(InvalidSetting, match="secret_fallbacks needs secret"):
        RedisSessionFactory(cookie_signer=SessionIdSigner(NEW), secret_fallbacks=[OLD])


def test_no_cookie_is_still_no_cookie(redis_server, redis_client):
    seen = Seen()
    app = make_app(redis_server.url, secret=NEW, secret_fallbacks=[OLD], func_invalid_logger=seen)
    assert app.get("/read?key=k").text == "None" and seen == [InvalidSession_NoSessionCookie]
