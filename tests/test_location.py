"""Where Redis is (location.py): the URL the client will connect to, $REDIS_URL
and the default included, and the database a URL selects; then the option
checks that depend on that URL (TLS files, redis_ssl, a Redis Cluster's database).

No Redis server is needed: redis-py connects lazily, so building a factory
never touches the network.
"""

from __future__ import annotations

import re

import pytest
import redis

from pyramid_session_redis import location, options
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.options import validate

from .app import SECRET
from .settings_helpers import factory, from_ini


def client_callable(request, **kw):
    return None




# -- location_url: the URL the client connects to -------------------------------------------


def test_no_location_at_all_is_redis_url_from_the_environment_then_localhost(monkeypatch):
    values = validate({"secret": SECRET})
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6380/2")
    assert location.location_url(values) == "redis://elsewhere:6380/2"
    monkeypatch.delenv("REDIS_URL")
    assert location.location_url(values) == location.DEFAULT_URL == "redis://localhost:6379/0"
    assert location.location_url({**values, "redis_host": "h"}) is None


def test_a_redis_url_wins_over_host_port_and_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6380/2")
    values = validate({"secret": SECRET, "redis_url": "redis://given:1/3", "redis_host": "h", "redis_port": 2})
    assert location.location_url(values) == "redis://given:1/3"


@pytest.mark.parametrize("given", [
    {"redis_host": "h"}, {"redis_port": 6380}, {"redis_unix_socket_path": "/tmp/r.sock"},
    {"redis_connection_pool": redis.ConnectionPool()},
], ids=["host", "port", "unix-socket", "pool"])
def test_host_port_socket_or_pool_without_a_url_means_no_url_even_with_redis_url_in_the_environment(given, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6380/2")
    assert location.location_url(validate({"secret": SECRET, **given})) is None


def test_sentinels_without_a_url_mean_no_url_and_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6380/2")
    values = validate({"secret": SECRET, "redis_sentinels": "h:26379", "redis_sentinel_master": "m"})
    assert location.location_url(values) is None


def test_an_empty_redis_url_in_the_environment_falls_back_to_localhost(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    assert location.location_url(validate({"secret": SECRET})) == "redis://localhost:6379/0"


# -- url_database: the database a URL selects ------------------------------------------------


@pytest.mark.parametrize("url, database", [
    ("redis://h:1/2", "2"),
    ("redis://h:1", ""),
    ("redis://h:1/", ""),
    ("redis://h:1?db=4", "4"),
    ("redis://h:1/2?db=5", "5"),
    ("rediss://user:pw@h:1/7?socket_timeout=1", "7"),
    ("unix:///tmp/r.sock?db=3", "3"),
])
def test_the_database_is_read_from_db_in_the_query_first_then_the_path(url, database):
    assert location.url_database(url) == database


# -- option checks that depend on where the client connects -----------------------------------


def test_tls_settings_follow_the_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "rediss://127.0.0.1:1/0")
    tls = factory(redis_ssl_ca_certs="/etc/ca.pem")
    assert tls.client.connection_pool.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert tls.client.connection_pool.connection_class is redis.SSLConnection
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(InvalidSetting, match="redis_ssl_ca_certs is set but the connection to Redis does not use TLS"):
        factory(redis_ssl_ca_certs="/etc/ca.pem")


def test_tls_files_without_tls_from_ini_name_the_ini_keys():
    expected = re.escape("redis.sessions.redis_ssl_ca_certs is set but the connection to Redis does not use TLS: "
                         "use a rediss:// redis.sessions.redis_url, or redis.sessions.redis_ssl = true")
    with pytest.raises(InvalidSetting, match=f"^{expected}$"):
        from_ini(redis_url="redis://127.0.0.1:1/0", redis_ssl_ca_certs="/ca.pem")


def test_redis_ssl_with_a_unix_url_from_ini_names_the_ini_keys():
    expected = re.escape("redis.sessions.redis_ssl = true but Redis is reached through a unix:// URL "
                         "(redis.sessions.redis_url, $REDIS_URL or the default), which does not use TLS")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(redis_url="unix:///tmp/psr-no-such.sock", redis_ssl="true")


def test_redis_ssl_with_a_plain_redis_url_from_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(InvalidSetting, match=r"^redis_ssl = true but Redis is reached through a redis:// URL"):
        factory(redis_ssl=True)


def test_tls_files_with_a_rediss_url_from_the_environment_are_accepted(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "rediss://127.0.0.1:1/0")
    values = options.validate({"secret": "s" * 32, "redis_ssl_ca_certs": "/ca.pem"})
    assert values["redis_ssl_ca_certs"] == "/ca.pem"


def test_a_database_in_a_cluster_url_from_ini_names_the_ini_keys():
    expected = re.escape("redis.sessions.redis_url selects database '2', but a Redis Cluster "
                         "(redis.sessions.redis_cluster) has only database 0")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(redis_cluster="true", redis_url="redis://127.0.0.1:7000?db=2")


def test_a_database_in_a_cluster_url_from_the_environment_names_redis_url_env(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7000/3")
    with pytest.raises(InvalidSetting, match=re.escape("$REDIS_URL selects database '3', but a Redis Cluster (redis_cluster)")):
        factory(redis_cluster=True)


@pytest.mark.parametrize("values", [
    {"redis_url": "redis://127.0.0.1:1/0", "redis_ssl_ca_certs": "/ca.pem"},
    {"redis_ssl": True, "redis_url": "unix:///tmp/psr-no-such.sock"},
    {"redis_cluster": True, "redis_url": "redis://127.0.0.1:7000/1"},
], ids=["tls-files", "redis_ssl-unix", "cluster-db"])
def test_location_checks_run_in_validate_without_building_a_client(values):
    with pytest.raises(InvalidSetting):
        options.validate({"secret": "s" * 32, **values})


@pytest.mark.parametrize("location", [
    {"redis_url": "memory://"},
    {"redis_client_callable": client_callable},
], ids=["memory", "client-callable"])
def test_tls_files_are_not_checked_where_no_client_of_ours_connects(location):
    """As before the checks moved: neither builds a redis-py client from these options."""
    values = options.validate({"secret": "s" * 32, "redis_ssl_ca_certs": "/ca.pem", **location})
    assert values["redis_ssl_ca_certs"] == "/ca.pem"


# -- redis_db against the database of a URL ---------------------------------------------------


@pytest.mark.parametrize("url, without", [
    ("redis://elsewhere:6380/2", "redis://elsewhere:6380"),
    ("redis://elsewhere:6380/", "redis://elsewhere:6380"),
    ("redis://elsewhere:6380", "redis://elsewhere:6380"),
    ("rediss://u:p%40ss@h:1/2?db=5&socket_timeout=1", "rediss://u:p%40ss@h:1?socket_timeout=1"),
    ("unix:///run/redis.sock?db=5", "unix:///run/redis.sock"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_an_explicit_redis_db_replaces_the_database_of_the_environments_url(url, without, monkeypatch):
    monkeypatch.setenv("REDIS_URL", url)
    assert location.location_url(validate({"secret": SECRET, "redis_db": 9})) == without
    assert location.location_url(validate({"secret": SECRET})) == url  # redis_db left at 0: the URL's database


def test_an_explicit_redis_db_replaces_the_database_of_the_default_url(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert location.location_url(validate({"secret": SECRET, "redis_db": 9})) == "redis://localhost:6379"


def test_a_memory_url_in_the_environment_is_left_alone(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "memory://tests-db")
    assert location.location_url(validate({"secret": SECRET, "redis_db": 9})) == "memory://tests-db"


@pytest.mark.parametrize("url", ["redis://h:1/0", "redis://h:1/2", "redis://h:1?db=0", "unix:///tmp/r.sock?db=1"])
def test_redis_url_naming_another_database_than_redis_db_is_refused(url):
    with pytest.raises(InvalidSetting, match=re.escape(f"redis_url selects database {location.url_database(url)!r}, "
                                                       "but redis_db = 9")):
        factory(redis_url=url, redis_db=9)


def test_redis_url_and_redis_db_conflict_from_ini_names_the_ini_keys():
    with pytest.raises(InvalidSetting, match=re.escape(
            "redis.sessions.redis_url selects database '0', but redis.sessions.redis_db = 9")):
        from_ini(redis_url="redis://127.0.0.1:1/0", redis_db="9")


@pytest.mark.parametrize("url", ["redis://h:1", "redis://h:1/", "redis://h:1/9", "redis://h:1?db=9", "unix:///tmp/r.sock"])
def test_redis_url_naming_no_database_or_the_same_is_accepted_with_redis_db(url):
    assert factory(redis_url=url, redis_db=9).client.connection_pool.connection_kwargs["db"] == 9


def test_unix_url_database_is_read_from_the_query_only():
    assert location.url_database("unix:///tmp/r.sock") == ""
    assert location.url_database("unix:///tmp/r.sock?db=2") == "2"
