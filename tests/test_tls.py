"""Sessions over TLS, against real redis-servers that listen only on a TLS port.

Every server here has its plain port off (``--port 0``), so a request that
works went through TLS.  The certificates are made for the run by
``pyramid_session_redis.testing.tls``: a test CA, a server certificate for 127.0.0.1/localhost,
a client certificate, a server certificate for another name, and an
unrelated CA.
"""

from __future__ import annotations

import json

import pytest
import redis
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.options import parse_settings
from pyramid_session_redis.testing.servers import RedisServer
from pyramid_session_redis.testing.tls import Certs, make_certs, missing_tls_support

from .app import SECRET, backend_failure, make_app, make_wsgi

_missing = missing_tls_support()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    return make_certs(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def tls_server(certs):
    with RedisServer(tls=certs.server_files()) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(certs):
    """Refuses clients without a certificate signed by the test CA."""
    with RedisServer(tls=certs.server_files(auth_clients=True)) as server:
        yield server


@pytest.fixture(scope="module")
def elsewhere_server(certs):
    """Its certificate is valid (test CA) but names elsewhere.invalid, not 127.0.0.1."""
    with RedisServer(tls=certs.server_files(elsewhere=True)) as server:
        yield server


def _direct(server: RedisServer, certs: Certs, **extra) -> redis.Redis:
    """A verifying redis-py client of our own, to look at what the app stored."""
    return redis.Redis.from_url(server.url, **certs.client_kwargs(), **extra)


@pytest.fixture
def tls_client(tls_server, certs):
    client = _direct(tls_server, certs)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def elsewhere_client(elsewhere_server, certs):
    """Verifies the chain but not the name, which is not ours."""
    client = _direct(elsewhere_server, certs, ssl_check_hostname=False)
    client.flushall()
    yield client
    client.close()


def _stored(client: redis.Redis) -> dict:
    keys = client.keys("*")
    assert len(keys) == 1, keys
    assert client.ttl(keys[0]) > 0
    return json.loads(client.get(keys[0]))["m"]


def _round_trip(app: TestApp, value: str = "over tls") -> None:
    app.get("/write", {"key": "a", "value": value})
    assert app.get("/read", {"key": "a"}).text == repr(value)
    assert app.get("/incr").text == "1"
    assert app.get("/incr").text == "2"


# -- the ways to turn TLS on --------------------------------------------------------------


def test_rediss_url_with_the_test_ca(tls_server, tls_client, certs):
    app = make_app(tls_server.url, redis_ssl_ca_certs=certs.ca)
    _round_trip(app)
    assert _stored(tls_client) == {"a": "over tls", "n": 2}


def test_host_port_with_redis_ssl(tls_server, tls_client, certs):
    app = make_app(None, redis_host="127.0.0.1", redis_port=tls_server.port, redis_ssl=True,
                   redis_ssl_ca_certs=certs.ca)
    _round_trip(app, "host and port")
    assert _stored(tls_client) == {"a": "host and port", "n": 2}


@pytest.mark.parametrize("form", ["url", "host"])
def test_ini_settings(tls_server, tls_client, certs, form):
    """What a .ini file holds: every value a string, read by session_factory_from_settings."""
    settings = {"redis.sessions.secret": SECRET, "redis.sessions.redis_ssl_ca_certs": certs.ca}
    if form == "url":
        settings["redis.sessions.redis_url"] = tls_server.url
    else:
        settings.update({"redis.sessions.redis_host": "127.0.0.1", "redis.sessions.redis_port": str(tls_server.port),
                         "redis.sessions.redis_ssl": "true"})
    assert parse_settings(settings)["redis_ssl_ca_certs"] == certs.ca
    app = TestApp(make_wsgi(session_factory_from_settings(settings)))
    _round_trip(app, form)
    assert _stored(tls_client) == {"a": form, "n": 2}


def test_a_plain_connection_is_refused_by_the_tls_only_server(tls_server):
    """The servers have no clear-text port: the passing tests above really used TLS."""
    app = make_app(tls_server.url.replace("rediss://", "redis://"), redis_socket_timeout=2)
    with backend_failure(redis.exceptions.ConnectionError):
        app.get("/write")


# -- verifying the server -----------------------------------------------------------------


@pytest.mark.parametrize("cert_reqs", ["required", "optional"])
def test_a_server_certificate_from_another_ca_fails_the_request(tls_server, certs, cert_reqs):
    """"optional" is no escape: a client still verifies a certificate the server presents."""
    app = make_app(tls_server.url, redis_ssl_ca_certs=certs.wrong_ca, redis_ssl_cert_reqs=cert_reqs)
    assert app.get("/untouched").text == "untouched"  # building the factory connects to nothing
    with backend_failure(redis.exceptions.ConnectionError, match="certificate verify failed"):
        app.get("/write")


def test_cert_reqs_none_connects_to_any_server(tls_server, tls_client, certs):
    """Encrypted but unauthenticated: anyone in the path can present a certificate and
    read every session.  This is why "none" is for development only."""
    app = make_app(tls_server.url, redis_ssl_ca_certs=certs.wrong_ca, redis_ssl_cert_reqs="none")
    _round_trip(app, "unverified")
    assert _stored(tls_client) == {"a": "unverified", "n": 2}


def test_cert_reqs_none_turns_the_hostname_check_off(elsewhere_server, elsewhere_client):
    """No certificate check leaves no name to check.  redis-py before 6.1 refused the pair
    (verify_mode CERT_NONE with check_hostname) on every connection."""
    app = make_app(elsewhere_server.url, redis_ssl_cert_reqs="none")  # check_hostname left at its default, True
    assert app.factory.client.connection_pool.connection_kwargs["ssl_check_hostname"] is False
    _round_trip(app, "no names")
    assert _stored(elsewhere_client)["a"] == "no names"


def test_the_ip_address_in_the_certificate_is_checked(elsewhere_server, certs):
    """Same CA, valid certificate, but it names elsewhere.invalid: 127.0.0.1 does not match."""
    app = make_app(elsewhere_server.url, redis_ssl_ca_certs=certs.ca)
    with backend_failure(redis.exceptions.ConnectionError, match="certificate verify failed.*mismatch"):
        app.get("/write")


@pytest.mark.parametrize("form", ["python", "ini"])
def test_check_hostname_off_accepts_a_certificate_for_another_name(elsewhere_server, elsewhere_client, certs, form):
    """Still signed by the trusted CA, so the chain is verified; only the name is not."""
    if form == "python":
        app = make_app(elsewhere_server.url, redis_ssl_ca_certs=certs.ca, redis_ssl_check_hostname=False)
    else:
        app = TestApp(make_wsgi(session_factory_from_settings({
            "redis.sessions.secret": SECRET,
            "redis.sessions.redis_url": elsewhere_server.url,
            "redis.sessions.redis_ssl_ca_certs": certs.ca,
            "redis.sessions.redis_ssl_check_hostname": "false",
        })))
    _round_trip(app, form)
    assert _stored(elsewhere_client) == {"a": form, "n": 2}


# -- client certificates ------------------------------------------------------------------


def test_a_server_that_wants_client_certificates_refuses_a_client_without_one(mtls_server, certs):
    app = make_app(mtls_server.url, redis_ssl_ca_certs=certs.ca)
    with backend_failure(redis.exceptions.ConnectionError):
        app.get("/write")


def test_client_certificate_and_key(mtls_server, certs):
    app = make_app(mtls_server.url, redis_ssl_ca_certs=certs.ca,
                   redis_ssl_certfile=certs.client_cert, redis_ssl_keyfile=certs.client_key)
    client = _direct(mtls_server, certs)
    client.flushall()
    _round_trip(app, "mutual")
    assert _stored(client) == {"a": "mutual", "n": 2}
    client.close()


# -- settings that cannot work, refused when the factory is built -------------------------


def _factory(**options):
    return RedisSessionFactory(secret=SECRET, **options)


def test_ca_certs_with_a_plain_url_is_refused(tls_server, certs):
    with pytest.raises(InvalidSetting, match="redis_ssl_ca_certs is set but the connection to Redis does not use TLS"):
        _factory(redis_url=tls_server.url.replace("rediss://", "redis://"), redis_ssl_ca_certs=certs.ca)


def test_ca_certs_with_a_plain_url_from_ini_names_the_ini_keys(tls_server, certs):
    expected = (r"^redis\.sessions\.redis_ssl_ca_certs is set but the connection to Redis does not use TLS: "
                r"use a rediss:// redis\.sessions\.redis_url, or redis\.sessions\.redis_ssl = true$")
    with pytest.raises(InvalidSetting, match=expected):
        session_factory_from_settings({
            "redis.sessions.secret": SECRET,
            "redis.sessions.redis_url": tls_server.url.replace("rediss://", "redis://"),
            "redis.sessions.redis_ssl_ca_certs": certs.ca,
        })


@pytest.mark.parametrize("name", ["redis_ssl_certfile", "redis_ssl_keyfile"])
def test_client_certificate_with_a_plain_connection_is_refused(certs, name):
    options = {"redis_ssl_certfile": certs.client_cert}
    if name == "redis_ssl_keyfile":
        options["redis_ssl_keyfile"] = certs.client_key
    with pytest.raises(InvalidSetting, match="redis_ssl_certfile is set"):
        _factory(redis_host="127.0.0.1", redis_port=1, **options)


def test_client_certificate_with_a_plain_connection_from_ini_names_the_ini_key(certs):
    with pytest.raises(InvalidSetting, match=r"^redis\.sessions\.redis_ssl_certfile is set but"):
        session_factory_from_settings({
            "redis.sessions.secret": SECRET, "redis.sessions.redis_host": "127.0.0.1",
            "redis.sessions.redis_port": "1", "redis.sessions.redis_ssl_certfile": certs.client_cert,
        })


def test_redis_ssl_with_a_redis_url_is_refused():
    with pytest.raises(InvalidSetting, match="redis_ssl.*redis://.*rediss://"):
        _factory(redis_url="redis://127.0.0.1:1/0", redis_ssl=True)


@pytest.mark.parametrize("location", [{"redis_url": "unix:///tmp/psr-no-such.sock"}, {}],
                         ids=["unix-url", "default-location"])
def test_redis_ssl_that_would_connect_in_clear_text_is_refused(location, monkeypatch):
    """A unix:// URL, or no location at all (the default redis://localhost), cannot do TLS."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(InvalidSetting, match="redis_ssl = true but .* does not use TLS"):
        _factory(redis_ssl=True, **location)


def test_keyfile_without_certfile_is_refused(tls_server, certs):
    with pytest.raises(InvalidSetting, match="redis_ssl_keyfile needs redis_ssl_certfile"):
        _factory(redis_url=tls_server.url, redis_ssl_keyfile=certs.client_key)


@pytest.mark.parametrize("how", ["python", "ini"])
def test_unknown_cert_reqs_is_refused_with_the_accepted_values(tls_server, how):
    if how == "python":
        build = lambda: _factory(redis_url=tls_server.url, redis_ssl_cert_reqs="bogus")  # noqa: E731
    else:
        build = lambda: session_factory_from_settings({  # noqa: E731
            "redis.sessions.secret": SECRET, "redis.sessions.redis_url": tls_server.url,
            "redis.sessions.redis_ssl_cert_reqs": "bogus"})
    with pytest.raises(InvalidSetting) as info:
        build()
    message = str(info.value)
    assert "redis_ssl_cert_reqs" in message and "bogus" in message
    assert all(value in message for value in ("required", "optional", "none"))
