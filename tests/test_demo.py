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


def test_demo_falls_back_to_memory_only_without_redis_server_and_says_so(monkeypatch, capsys):
    import demo.__main__ as main

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(main, "find_redis_server", lambda: None)
    with main.redis_url() as url:
        assert url == main.MEMORY_URL == "memory://demo"
    out = capsys.readouterr().out
    assert "WARNING: no redis-server found" in out and "in this process only" in out
    app = TestApp(make_app({"redis.sessions.secret": "demo", "redis.sessions.redis_url": url}))
    app.get("/")
    assert '<strong id="visits">2</strong>' in app.get("/").text


def test_demo_uses_a_private_redis_server_when_one_is_installed(monkeypatch, capsys):
    import demo.__main__ as main

    monkeypatch.delenv("REDIS_URL", raising=False)
    with main.redis_url() as url:
        assert url.startswith("redis://127.0.0.1:") and not url.startswith("redis://127.0.0.1:6379/")
        assert TestApp(make_app({"redis.sessions.secret": "demo", "redis.sessions.redis_url": url})).get("/").status_int == 200
    assert "started a private redis-server" in capsys.readouterr().out


def test_demo_uses_redis_url_from_the_environment(monkeypatch, capsys, redis_server):
    import demo.__main__ as main

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    with main.redis_url() as url:
        assert url == redis_server.url
    assert "sessions in $REDIS_URL" in capsys.readouterr().out
