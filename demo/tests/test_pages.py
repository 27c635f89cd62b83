"""The demo's pages, through WebTest, with the session read and set by the helpers."""

from __future__ import annotations

from typing import Any

from pyramid import testing

from demo.views import add_demo_views, home
from pyramid_session_redis.testing import (
    attach_session,
    finish_request,
    read_session,
    session_id_of,
    session_of,
    set_session,
)


def csrf_token(page: Any) -> str:
    return str(page.html.find("input", attrs={"name": "csrf_token"})["value"])


def test_the_first_visit_is_welcomed_and_counted(app):
    page = app.get("/")
    assert "Welcome! This session lives in Redis." in page.text
    assert session_of(app) == {"visits": 1, "_csrft_": csrf_token(page)}


def test_a_visitor_whose_session_holds_a_user_is_logged_in(app):
    set_session(app, {"user": "alice", "visits": 41})
    page = app.get("/")
    assert 'Logged in as <strong id="user">alice</strong>' in page.text
    assert '<strong id="visits">42</strong>' in page.text
    assert session_of(app)["visits"] == 42


def test_login_stores_the_user_under_a_new_session_id(app, session_redis_client):
    page = app.get("/")
    before = session_id_of(app)
    app.post("/login", {"user": "alice", "csrf_token": csrf_token(page)}, status=302)
    assert session_id_of(app) != before and session_of(app)["user"] == "alice"
    assert not session_redis_client.exists(before)


def test_logout_ends_the_session_and_says_goodbye_in_a_new_one(app, session_redis_client):
    logged_in = set_session(app, {"user": "alice", "_csrft_": "token"})
    app.post("/logout", {"csrf_token": "token"}, status=302)
    assert session_id_of(app) != logged_in and not session_redis_client.exists(logged_in)
    assert session_of(app) == {"_f_": ["You are logged out."]}


def test_the_home_view_alone_counts_the_visit(memory_session_factory):
    request = testing.DummyRequest()
    session = attach_session(request, memory_session_factory, {"visits": 2})
    with testing.testConfig(request=request) as config:
        add_demo_views(config)
        response = finish_request(request, home(request))
    assert '<strong id="visits">3</strong>' in response.text
    assert read_session(memory_session_factory, session.session_id)["visits"] == 3
