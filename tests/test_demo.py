"""The demo app works end to end against a real Redis."""

from __future__ import annotations

from webtest import TestApp

from demo.app import make_app


def demo(redis_server):
    return TestApp(make_app({"redis.sessions.secret": "demo", "redis.sessions.redis_url": redis_server.url}))


def test_demo_counts_visits_and_flashes_once(redis_server, redis_client):
    app = demo(redis_server)
    first = app.get("/")
    assert '<strong id="visits">1</strong>' in first.text and "Welcome!" in first.text
    second = app.get("/")
    assert '<strong id="visits">2</strong>' in second.text and "Welcome!" not in second.text
    assert redis_client.dbsize() == 1


def test_demo_form_needs_the_csrf_token(redis_server, redis_client):
    app = demo(redis_server)
    page = app.get("/")
    token = page.html.find(id="csrf").text
    app.post("/say", {"message": "no token"}, status=400)
    app.post("/say", {"message": "hi <there>", "csrf_token": token}, status=302)
    assert "hi &lt;there&gt;" in app.get("/").text


def test_demo_logout_invalidates(redis_server, redis_client):
    app = demo(redis_server)
    token = app.get("/").html.find(id="csrf").text
    app.post("/logout", {"csrf_token": token}, status=302)
    assert redis_client.dbsize() == 0
    assert '<strong id="visits">1</strong>' in app.get("/").text
