"""Secret rotation: old secrets still read cookies; every cookie is re-signed with the new one.

Through a real app and Redis: a site changes ``secret`` and moves the old one
to ``secret_fallbacks``; nobody is logged out, and the old secret stops
mattering once the browsers have been given re-signed cookies.
"""

from __future__ import annotations

import hmac

import pytest
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.cookies import SENT, SENT_OLD_SECRET, SessionIdSigner
from pyramid_session_redis.exceptions import InvalidSession_BadCookie, InvalidSession_NoSessionCookie, InvalidSetting

from .app import make_app, make_wsgi

OLD, NEW, OLDER = "the old secret", "the new secret", "an even older secret"


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


def test_several_fallbacks_from_ini(redis_server, redis_client):
    factory = session_factory_from_settings({
        "redis.sessions.secret": NEW,
        "redis.sessions.secret_fallbacks": f"\n{OLD.replace(' ', '-')}\n{OLDER.replace(' ', '-')}\n",
        "redis.sessions.redis_url": redis_server.url,
    })
    assert factory.options["secret_fallbacks"] == ("the-old-secret", "an-even-older-secret")
    older = make_app(redis_server.url, secret="an-even-older-secret")
    older.get("/write?key=k&value=v2")
    app = TestApp(make_wsgi(factory))
    app.set_cookie("session", older.cookies["session"])
    assert app.get("/read?key=k").text == "'v2'"


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


@pytest.mark.parametrize("bad", ["old secret", [""], ["  "], [1], "none"])
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
