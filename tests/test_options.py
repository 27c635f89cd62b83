"""Unit tests of the options table, ini parsing, validation and expiry rules.

No Redis server is needed: redis-py connects lazily, so building a factory
never touches the network.
"""

from __future__ import annotations

import datetime
import pathlib
import re

import pytest
import redis
from pyramid.exceptions import ConfigurationError

from pyramid_session_redis import RedisSessionFactory, options, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.payload import MAX_TIMEOUT

from .settings_helpers import (
    MY_SIGNER,
    P,
    client_callable,
    factory,
    from_ini,
    id_generator_raising,
    id_generator_returning_int,
    id_generator_returning_space,
    log_invalid,
    my_deserialize,
    my_id_generator,
    my_serialize,
)

SECRET_32 = "a secret of thirty-two bytes, or more"
DOCS_SETTINGS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "settings.rst"






# -- the exception -------------------------------------------------------------


def test_invalid_setting_is_configuration_error_and_value_error():
    assert issubclass(InvalidSetting, ConfigurationError)
    assert issubclass(InvalidSetting, ValueError)


def test_factory_error_is_catchable_as_value_error_and_configuration_error():
    with pytest.raises(ValueError):
        factory(timeout=-1)
    with pytest.raises(ConfigurationError):
        factory(timeout=-1)


# -- settings that are already Python objects ------------------------------------------


def test_settings_python_objects_are_accepted():
    pool = redis.ConnectionPool()
    expires = datetime.timedelta(days=1)
    f = session_factory_from_settings(
        {
            P + "secret": "s3cret-of-thirty-two-bytes-or-more",
            P + "timeout": 20,
            P + "cookie_secure": True,
            P + "func_invalid_logger": log_invalid,
            P + "cookie_expires": expires,
            P + "redis_connection_pool": pool,
        }
    )
    assert f.options["timeout"] == 20
    assert f.options["cookie_secure"] is True
    assert f.options["func_invalid_logger"] is log_invalid
    assert f.options["cookie_expires"] is expires
    assert f.options["redis_connection_pool"] is pool


def test_settings_python_objects_are_validated():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.timeout = -5 is not valid.*timeout accepts a whole number"):
        session_factory_from_settings({P + "secret": "s" * 32, P + "timeout": -5})
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.cookie_secure = 1 is not valid.*true or false"):
        session_factory_from_settings({P + "secret": "s" * 32, P + "cookie_secure": 1})
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.serialize = 42 is not valid.*a callable"):
        session_factory_from_settings({P + "secret": "s" * 32, P + "serialize": 42, P + "deserialize": my_deserialize})


def test_settings_python_timeout_zero_is_none():
    f = session_factory_from_settings({P + "secret": "s" * 32, P + "timeout": 0})
    assert f.options["timeout"] is None


def test_settings_keys_without_prefix_are_ignored():
    f = session_factory_from_settings(
        {
            P + "secret": "s3cret-of-thirty-two-bytes-or-more",
            "timeout": "not even a number",
            "redis.sessionsX.timeout": "x",
            "redis.timeout": "x",
            "pyramid.reload_templates": "true",
            "sessions.cookie_secure": "maybe",
        }
    )
    assert f.options["timeout"] == 1200
    assert f.options["cookie_secure"] is False


def test_settings_without_any_session_keys_need_a_secret():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.secret and redis\.sessions\.cookie_signer"):
        session_factory_from_settings({"pyramid.includes": "x"})


def test_parse_settings_returns_only_the_given_options():
    parsed = options.parse_settings({P + "timeout": "30", P + "cookie_secure": "yes", "other": "1"})
    assert parsed == {"timeout": 30, "cookie_secure": True}


# -- unknown keys ------------------------------------------------------------------


def test_unknown_ini_key_suggests_close_match():
    expected = re.escape("unknown session option 'redis.sessions.timeot'; did you mean 'redis.sessions.timeout'?")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(timeot="20")


def test_unknown_keyword_suggests_close_match():
    with pytest.raises(InvalidSetting, match=re.escape("unknown session option 'cookie_secur'; did you mean 'cookie_secure'?")):
        factory(cookie_secur=True)


def test_unknown_keyword_without_close_match_has_no_suggestion():
    with pytest.raises(InvalidSetting, match=r"^unknown session option 'banana'$"):
        factory(banana=1)


@pytest.mark.parametrize("old, new", sorted(options.RENAMED.items()))
def test_renamed_1x_keyword_says_new_name(old, new):
    with pytest.raises(InvalidSetting, match=re.escape(f"unknown session option {old!r}; it was renamed to {new!r}")):
        factory(**{old: "x"})


def test_renamed_1x_ini_key_says_new_name():
    expected = re.escape("unknown session option 'redis.sessions.host'; it was renamed to 'redis.sessions.redis_host'")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(host="localhost")


def test_renamed_url_ini_key_says_new_name():
    with pytest.raises(InvalidSetting, match=r"'redis\.sessions\.url'; it was renamed to 'redis\.sessions\.redis_url'"):
        from_ini(url="redis://localhost")


def test_unknown_ini_key_suggestion_only_replaces_the_option_part():
    # 'redis' is close to 'redis_db'; the suggestion must keep the prefix intact.
    with pytest.raises(InvalidSetting, match=re.escape("did you mean 'redis.sessions.redis_db'?")):
        from_ini(redis="x")


# -- defaults, and a ready pool given in Python (what each kind accepts: test_kinds.py) -----


def test_defaults_are_filled_in():
    f = factory()
    for name, opt in options.OPTIONS.items():
        if name != "secret":
            assert f.options[name] == opt.default, name
    assert f.options["secret"] == "s3cret-of-thirty-two-bytes-or-more"
    assert f.options["timeout"] == 1200
    assert f.options["cookie_samesite"] == "Lax"


def test_python_connection_pool_is_used():
    pool = redis.ConnectionPool(host="example.invalid", port=6390)
    f = factory(redis_connection_pool=pool)
    assert f.client.connection_pool is pool


# -- impossible combinations ----------------------------------------------------------


def test_neither_secret_nor_signer_is_rejected():
    with pytest.raises(InvalidSetting, match=r"give exactly one of secret and cookie_signer"):
        RedisSessionFactory()


def test_both_secret_and_signer_is_rejected():
    with pytest.raises(InvalidSetting, match=r"give exactly one of secret and cookie_signer"):
        RedisSessionFactory(secret="s" * 32, cookie_signer=MY_SIGNER)


def test_both_secret_and_signer_in_ini_names_keys():
    settings = {P + "secret": "s" * 32, P + "cookie_signer": "tests.settings_helpers.MY_SIGNER"}
    with pytest.raises(InvalidSetting, match=r"give exactly one of redis\.sessions\.secret and redis\.sessions\.cookie_signer"):
        session_factory_from_settings(settings)


def test_signer_alone_is_enough():
    f = RedisSessionFactory(cookie_signer=MY_SIGNER)
    assert f.settings.cookies.signer is MY_SIGNER


def test_empty_secret_is_rejected():
    with pytest.raises(InvalidSetting, match=r"secret is empty"):
        RedisSessionFactory(secret="")


def test_readheavy_with_timeout_trigger_is_rejected():
    with pytest.raises(InvalidSetting, match=r"set_redis_ttl_readheavy cannot be used with timeout_trigger"):
        factory(set_redis_ttl_readheavy=True, timeout_trigger=60)


def test_readheavy_with_zero_timeout_trigger_is_allowed():
    f = factory(set_redis_ttl_readheavy=True, timeout_trigger=0)
    assert f.options["set_redis_ttl_readheavy"] is True


@pytest.mark.parametrize("timeout", [None, 0])
def test_readheavy_without_timeout_is_rejected(timeout):
    with pytest.raises(InvalidSetting, match=r"set_redis_ttl_readheavy needs a timeout"):
        factory(set_redis_ttl_readheavy=True, timeout=timeout)


def test_readheavy_without_timeout_in_ini_names_keys():
    expected = re.escape("redis.sessions.set_redis_ttl_readheavy needs a redis.sessions.timeout")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(set_redis_ttl_readheavy="true", timeout="0")


def test_readheavy_without_redis_ttl_is_rejected():
    with pytest.raises(InvalidSetting, match=r"set_redis_ttl_readheavy needs set_redis_ttl = true"):
        factory(set_redis_ttl_readheavy=True, set_redis_ttl=False)


def test_readheavy_with_python_expires_is_rejected():
    with pytest.raises(InvalidSetting, match=r"set_redis_ttl_readheavy cannot be used with python_expires = true"):
        factory(set_redis_ttl_readheavy=True, python_expires=True)


def test_readheavy_false_allows_the_combinations():
    f = factory(set_redis_ttl_readheavy=False, timeout=None, set_redis_ttl=False, python_expires=True, timeout_trigger=5)
    assert f.options["set_redis_ttl_readheavy"] is False


def test_serialize_without_deserialize_is_rejected():
    with pytest.raises(InvalidSetting, match=r"give serialize and deserialize together, or neither"):
        factory(serialize=my_serialize)


def test_deserialize_without_serialize_in_ini_names_keys():
    expected = re.escape("give redis.sessions.serialize and redis.sessions.deserialize together")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(deserialize="tests.settings_helpers.my_deserialize")


def test_samesite_none_without_secure_is_rejected():
    with pytest.raises(InvalidSetting, match=r"cookie_samesite = 'None' needs cookie_secure = true"):
        factory(cookie_samesite="None")


def test_samesite_none_with_secure_is_accepted():
    f = factory(cookie_samesite="none", cookie_secure=True)
    assert f.options["cookie_samesite"] == "None"
    assert f.settings.cookies._set_kwargs["samesite"] == "None"


def test_samesite_python_none_omits_attribute():
    f = factory(cookie_samesite=None)
    assert "samesite" not in f.settings.cookies._set_kwargs


def test_client_callable_with_connection_pool_is_rejected():
    with pytest.raises(InvalidSetting, match=r"give redis_client_callable or redis_connection_pool, not both"):
        factory(redis_client_callable=client_callable, redis_connection_pool=redis.ConnectionPool())


def test_client_callable_alone_builds_no_shared_client():
    f = factory(redis_client_callable=client_callable)
    assert f.client is None


def test_id_generator_returning_non_str_fails_at_creation():
    with pytest.raises(InvalidSetting, match=r"id_generator returned 42: it must return a str"):
        factory(id_generator=id_generator_returning_int)


def test_id_generator_returning_spaces_fails_at_creation():
    with pytest.raises(InvalidSetting, match=r"id_generator returned 'has a space'.*without spaces"):
        factory(id_generator=id_generator_returning_space)


def test_id_generator_returning_empty_or_huge_fails_at_creation():
    with pytest.raises(InvalidSetting, match=r"id_generator returned ''"):
        factory(id_generator=lambda: "")
    with pytest.raises(InvalidSetting, match=r"id_generator returned 'xxxx"):
        factory(id_generator=lambda: "x" * 257)


def test_id_generator_raising_fails_at_creation():
    with pytest.raises(InvalidSetting, match=r"id_generator failed when called: RuntimeError\('no entropy today'\)"):
        factory(id_generator=id_generator_raising)


def test_id_generator_valid_is_used():
    f = factory(id_generator=my_id_generator)
    assert f.settings.new_id() == "fixed-session-id"


def test_default_id_generator_makes_distinct_urlsafe_ids():
    f = factory()
    a, b = f.settings.new_id(), f.settings.new_id()
    assert a != b
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a)


def test_id_generator_error_from_ini_names_the_ini_key():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.id_generator"):
        from_ini(id_generator="tests.settings_helpers.id_generator_returning_space")


# -- the settings reference --------------------------------------------------------------


def test_reference_rst_mentions_every_option_and_its_ini_key():
    text = options.reference_rst()
    for name, opt in options.OPTIONS.items():
        assert f"``{name}``" in text, name
        assert (f"``redis.sessions.{name}``" in text) is not opt.kind.python_only, name


def test_reference_rst_gives_python_only_options_no_ini_key():
    text = options.reference_rst()
    for name in ("cookie_expires", "redis_connection_pool"):
        entry = text.split(f"``{name}``\n", 1)[1].split("\n", 1)[0]
        assert entry.endswith("; Python only (no ini key)") and "redis.sessions." not in entry
    assert "    *seconds*, default ``1200``; ini: ``redis.sessions.timeout``\n" in text
    assert text.count("Python only (no ini key)") == 2


def test_reference_rst_shows_secret_as_required_not_as_default_none():
    entry = options.reference_rst().split("``secret``\n", 1)[1].split("\n", 1)[0]
    assert entry == "    *str or None*, no default: required unless ``cookie_signer`` is given; ini: ``redis.sessions.secret``"


def test_reference_rst_has_one_heading_per_group():
    text = options.reference_rst()
    groups = {opt.group for opt in options.OPTIONS.values()}
    for group in groups:
        assert f"\n{group}\n{'-' * len(group)}\n" in text
        assert text.count(f"\n{group}\n") == 1


def test_docs_settings_rst_is_up_to_date():
    if not DOCS_SETTINGS.exists():
        pytest.skip("docs/settings.rst does not exist yet")
    assert DOCS_SETTINGS.read_text(encoding="utf-8") == options.reference_rst()


def test_settings_key():
    assert options.settings_key("timeout") == "redis.sessions.timeout"


# -- expiry rules (policy.resolve_rules) through a factory ----------------------------------


def test_rules_defaults():
    rules = factory().settings.rules
    assert rules.timeout == 1200
    assert rules.redis_ttl is True
    assert rules.track_expiry is False
    assert rules.trigger == 0
    assert rules.getex_on_load is True
    assert rules.invalidate_empty is True
    assert rules.detect_changes is True


def test_rules_lru_mode_tracks_expiry_with_half_timeout_trigger():
    rules = factory(set_redis_ttl=False, timeout=1200).settings.rules
    assert rules.redis_ttl is False
    assert rules.track_expiry is True
    assert rules.trigger == 600
    assert rules.getex_on_load is False


def test_rules_lru_mode_odd_timeout_trigger_rounds_down():
    assert factory(set_redis_ttl=False, timeout=61).settings.rules.trigger == 30


def test_rules_lru_mode_trigger_zero_turns_trigger_off():
    rules = factory(set_redis_ttl=False, timeout_trigger=0).settings.rules
    assert rules.track_expiry is True
    assert rules.trigger == 0
    assert rules.getex_on_load is False


def test_rules_timeout_trigger_tracks_expiry():
    rules = factory(timeout_trigger=600).settings.rules
    assert rules.track_expiry is True
    assert rules.trigger == 600
    assert rules.getex_on_load is False
    assert rules.redis_ttl is True


def test_rules_no_timeout_means_no_tracking_and_no_getex():
    rules = factory(timeout=0).settings.rules
    assert rules.timeout is None
    assert rules.track_expiry is False
    assert rules.trigger == 0
    assert rules.getex_on_load is False


def test_rules_no_timeout_ignores_python_expires_and_trigger():
    rules = factory(timeout=None, python_expires=True, timeout_trigger=30).settings.rules
    assert rules.track_expiry is False
    assert rules.trigger == 0
    assert rules.getex_on_load is False


def test_rules_python_expires_true_tracks_with_trigger_zero():
    rules = factory(python_expires=True).settings.rules
    assert rules.track_expiry is True
    assert rules.trigger == 0
    assert rules.getex_on_load is False


def test_rules_python_expires_false_in_lru_mode_does_not_track():
    rules = factory(python_expires=False, set_redis_ttl=False).settings.rules
    assert rules.track_expiry is False
    assert rules.trigger == 0
    assert rules.getex_on_load is False


def test_rules_from_ini_match_python():
    assert from_ini(set_redis_ttl="false", timeout="1200").settings.rules == factory(set_redis_ttl=False, timeout=1200).settings.rules
    assert from_ini(detect_changes="off", invalidate_empty_session="0").settings.rules == factory(
        detect_changes=False, invalidate_empty_session=False
    ).settings.rules


# -- positional arguments, as 1.8 accepted them -------------------------------------------


def test_secret_may_be_positional_as_in_1x():
    factory = RedisSessionFactory("s" * 40, 600, "sid", redis_url="redis://localhost:1/0")
    assert factory.options["secret"] == "s" * 40
    assert factory.options["timeout"] == 600
    assert factory.options["cookie_name"] == "sid"


def test_positional_order_is_1x_order_and_every_name_is_an_option():
    assert options.POSITIONAL_1X[:3] == ("secret", "timeout", "cookie_name")
    assert options.POSITIONAL_1X[-1] == "invalidate_empty_session"
    assert set(options.POSITIONAL_1X) <= set(options.OPTIONS)


def test_positional_values_are_validated_like_keywords():
    with pytest.raises(InvalidSetting, match="timeout"):
        RedisSessionFactory("s" * 40, "soon")


def test_positional_and_keyword_for_the_same_option_is_an_error():
    with pytest.raises(TypeError, match="multiple values for argument 'secret'"):
        RedisSessionFactory("s" * 40, secret="t" * 40)


def test_too_many_positional_arguments_is_an_error():
    with pytest.raises(TypeError, match="at most 36 positional"):
        RedisSessionFactory(*([None] * 37))


# -- connection topology: addresses, TLS choices ----------------------------------------


def test_redis_ssl_with_host_and_port_selects_a_tls_connection():
    kwargs = factory(redis_host="127.0.0.1", redis_port=1, redis_ssl=True, redis_ssl_cert_reqs="optional",
                     redis_ssl_check_hostname=False).client.connection_pool
    assert kwargs.connection_class is redis.SSLConnection
    assert kwargs.connection_kwargs["ssl_cert_reqs"] == "optional"
    assert kwargs.connection_kwargs["ssl_check_hostname"] is False


def test_plain_connections_get_no_tls_keywords():
    kwargs = factory(redis_url="redis://127.0.0.1:1/0").client.connection_pool.connection_kwargs
    assert not [k for k in kwargs if k.startswith("ssl")]


@pytest.mark.parametrize("kw, named", [
    ({"redis_ssl": True, "redis_unix_socket_path": "/tmp/r.sock"}, "redis_ssl"),
    ({"redis_url": "redis://h:1", "redis_ssl": True}, "redis_ssl.*use rediss://"),
    ({"redis_url": "rediss://h:1", "redis_ssl_keyfile": "k.pem"}, "redis_ssl_keyfile needs redis_ssl_certfile"),
])
def test_impossible_tls_combinations(kw, named):
    with pytest.raises(InvalidSetting, match=named):
        factory(**kw)


def test_sentinel_settings_build_a_master_client_through_the_sentinels():
    from redis.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

    built = factory(redis_sentinels="127.0.0.1:1 127.0.0.1:2", redis_sentinel_master="svc", redis_db=3,
                    redis_password="master-pw", redis_sentinel_password="sentinel-pw", redis_ssl=True,
                    redis_ssl_ca_certs="/etc/ca.pem")
    pool = built.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "svc"
    assert pool.connection_class is SentinelManagedSSLConnection
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (3, "master-pw")
    sentinels = pool.sentinel_manager.sentinels
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in sentinels] == [("127.0.0.1", 1), ("127.0.0.1", 2)]
    sentinel_kwargs = sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["password"] == "sentinel-pw"
    assert sentinel_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert sentinels[0].connection_pool.connection_class is redis.SSLConnection


@pytest.mark.parametrize("topology", [
    {"redis_sentinels": ["h:1"], "redis_sentinel_master": "m"},
    {"redis_cluster": True, "redis_url": "redis://h:1"},
])
def test_a_ready_pool_cannot_be_combined_with_sentinel_or_cluster(topology):
    with pytest.raises(InvalidSetting, match="redis_connection_pool cannot be used with"):
        factory(redis_connection_pool=redis.ConnectionPool(), **topology)


# -- every message names settings as the user wrote them -----------------------------------

_POOL = redis.ConnectionPool()
_CALLABLE = "tests.settings_helpers.client_callable"

# One ini configuration per combination check; Python-only values (the pool) are
# given as objects, as settings built in code may be.
_REFUSED_FROM_INI = {
    "no signer": {"secret": "None"},
    "two signers": {"cookie_signer": "tests.settings_helpers.MY_SIGNER"},
    "fallbacks without secret": {"secret": "None", "cookie_signer": "tests.settings_helpers.MY_SIGNER",
                                 "secret_fallbacks": "old"},
    "readheavy without timeout": {"set_redis_ttl_readheavy": "true", "timeout": "0"},
    "readheavy without ttl": {"set_redis_ttl_readheavy": "true", "set_redis_ttl": "false"},
    "readheavy with trigger": {"set_redis_ttl_readheavy": "true", "timeout_trigger": "60"},
    "readheavy with python_expires": {"set_redis_ttl_readheavy": "true", "python_expires": "true"},
    "serialize alone": {"serialize": "tests.settings_helpers.my_serialize"},
    "serializer and serialize": {"serializer": "json", "serialize": "tests.settings_helpers.my_serialize",
                                 "deserialize": "tests.settings_helpers.my_deserialize"},
    "pickle_migration with pickle": {"pickle_migration": "true", "serializer": "pickle"},
    "samesite None without secure": {"cookie_samesite": "None"},
    "id_generator raising": {"id_generator": "tests.settings_helpers.id_generator_raising"},
    "id_generator returning a space": {"id_generator": "tests.settings_helpers.id_generator_returning_space"},
    "callable and pool": {"redis_client_callable": _CALLABLE, "redis_connection_pool": _POOL},
    "sentinels without master": {"redis_sentinels": "h:1"},
    "sentinel password without sentinels": {"redis_sentinel_password": "pw"},
    "url with sentinels": {"redis_sentinels": "h:1", "redis_sentinel_master": "m", "redis_url": "redis://h:2"},
    "sentinels and cluster": {"redis_sentinels": "h:1", "redis_sentinel_master": "m", "redis_cluster": "true"},
    "sentinels and callable": {"redis_sentinels": "h:1", "redis_sentinel_master": "m",
                               "redis_client_callable": _CALLABLE},
    "cluster with redis_db": {"redis_cluster": "true", "redis_host": "h", "redis_db": "1"},
    "cluster over a unix socket": {"redis_cluster": "true", "redis_unix_socket_path": "/tmp/r.sock"},
    "cluster and callable": {"redis_cluster": "true", "redis_client_callable": _CALLABLE},
    "memory and cluster": {"redis_url": "memory://", "redis_cluster": "true"},
    "memory and callable": {"redis_url": "memory://", "redis_client_callable": _CALLABLE},
    "redis_ssl with redis://": {"redis_url": "redis://h:1", "redis_ssl": "true"},
    "redis_ssl with a unix socket": {"redis_unix_socket_path": "/tmp/r.sock", "redis_ssl": "true"},
    "keyfile without certfile": {"redis_url": "rediss://h:1", "redis_ssl_keyfile": "/k.pem"},
    "redis_ssl with a unix:// url": {"redis_url": "unix:///tmp/r.sock", "redis_ssl": "true"},
    "ca_certs without TLS": {"redis_url": "redis://h:1", "redis_ssl_ca_certs": "/ca.pem"},
    "certfile without TLS": {"redis_host": "h", "redis_ssl_certfile": "/c.pem"},
    "database in a cluster url": {"redis_cluster": "true", "redis_url": "redis://h:1/2"},
}


@pytest.mark.parametrize("values", list(_REFUSED_FROM_INI.values()), ids=list(_REFUSED_FROM_INI))
def test_every_combination_refused_from_ini_names_only_ini_keys(values):
    with pytest.raises(InvalidSetting) as info:
        from_ini(**values)
    message = str(info.value)
    assert P in message, message
    bare = message.replace(P, P.upper())  # what is left unprefixed is the bare names
    for name in options.OPTIONS:
        assert not re.search(rf"(?<![\w.]){name}(?!\w)", bare), (name, message)


def test_a_wrong_ini_value_is_named_as_the_ini_key_in_both_places():
    with pytest.raises(InvalidSetting, match=re.escape(
            "redis.sessions.cookie_secure = 'maybe' is not valid: redis.sessions.cookie_secure accepts true or false")):
        from_ini(cookie_secure="maybe")


# -- validating without a signer (tools that read sessions but check no cookie) ---------------


def test_require_signer_false_accepts_options_without_secret_or_signer():
    values = options.validate({"redis_url": "redis://127.0.0.1:1/0"}, require_signer=False)
    assert values["secret"] is None and values["cookie_signer"] is None
    assert values["redis_url"] == "redis://127.0.0.1:1/0"


def test_a_signer_is_required_by_default():
    with pytest.raises(InvalidSetting, match="give exactly one of secret and cookie_signer"):
        options.validate({"redis_url": "redis://127.0.0.1:1/0"})


@pytest.mark.parametrize("values, message", [
    ({"secret": "s" * 32, "cookie_signer": MY_SIGNER}, "give exactly one of secret and cookie_signer"),
    ({"secret": "  "}, "secret is empty"),
    ({"timeout": -1}, "timeout = -1 is not valid"),
    ({"redis_cluster": True, "redis_db": 1}, "redis_db must be 0 with redis_cluster"),
    ({"redis_url": "redis://127.0.0.1:1/0", "redis_ssl_ca_certs": "/ca.pem"}, "redis_ssl_ca_certs is set but"),
])
def test_require_signer_false_skips_no_other_check(values, message):
    with pytest.raises(InvalidSetting, match=re.escape(message)):
        options.validate(values, require_signer=False)


def test_require_signer_false_names_ini_keys_too():
    with pytest.raises(InvalidSetting, match=re.escape("redis.sessions.timeout = -5 is not valid")):
        options.validate(options.parse_settings({P + "timeout": -5}), options.settings_key, require_signer=False)
    with pytest.raises(InvalidSetting, match=re.escape("redis.sessions.redis_db must be 0")):
        options.validate(options.parse_settings({P + "redis_cluster": "true", P + "redis_db": "1"}),
                         options.settings_key, require_signer=False)


# -- help(RedisSessionFactory): the signature and docstring come from the table ---------------


def test_the_factory_signature_lists_every_option_with_its_default_18_positional_order_first():
    import inspect

    params = inspect.signature(RedisSessionFactory).parameters
    assert sorted(params) == sorted(options.OPTIONS)
    assert list(params)[: len(options.POSITIONAL_1X)] == list(options.POSITIONAL_1X)
    for name, opt in options.OPTIONS.items():
        assert params[name].default == opt.default, name
        expected = (inspect.Parameter.POSITIONAL_OR_KEYWORD if name in options.POSITIONAL_1X
                    else inspect.Parameter.KEYWORD_ONLY)
        assert params[name].kind is expected, name


def test_the_factory_docstring_keeps_its_intro_and_lists_every_option_with_its_default():
    import inspect

    doc = inspect.getdoc(RedisSessionFactory)
    assert doc.startswith("Build a Pyramid session factory that keeps sessions in Redis.")
    assert "raises\n``pyramid_session_redis.exceptions.InvalidSetting``" in doc  # the intro, whole
    for name, opt in options.OPTIONS.items():
        assert f"``{name}={opt.default!r}``" in doc, name
    # each option's doc follows its name (first words, before any wrapping)
    entry = doc.index("``timeout=1200``")
    assert doc[entry:].split("\n", 1)[1].lstrip().startswith("Seconds of inactivity after which a session expires.")


def test_the_factory_takes_the_18_positional_order_its_signature_shows():
    import inspect

    args = ("s3cret-of-thirty-two-bytes-or-more", 60, "sid")
    bound = inspect.signature(RedisSessionFactory).bind(*args)
    assert dict(bound.arguments) == {"secret": "s3cret-of-thirty-two-bytes-or-more", "timeout": 60, "cookie_name": "sid"}
    built = RedisSessionFactory(*args)
    assert (built.options["secret"], built.options["timeout"], built.options["cookie_name"]) == args


def test_pydoc_shows_every_option():
    import pydoc

    text = pydoc.render_doc(RedisSessionFactory, renderer=pydoc.plaintext)
    for name in options.OPTIONS:
        assert f"{name}=" in text, name




# -- the timeout's bound (what a payload may hold, and what Redis accepts as EX) -------------


def test_the_timeout_is_at_most_100_years():
    assert options.validate({"secret": SECRET_32, "timeout": MAX_TIMEOUT})["timeout"] == MAX_TIMEOUT
    with pytest.raises(InvalidSetting, match=re.escape(f"timeout = {MAX_TIMEOUT + 1} is not valid")) as caught:
        options.validate({"secret": SECRET_32, "timeout": MAX_TIMEOUT + 1})
    assert f"from 0 to {MAX_TIMEOUT} (100 years" in str(caught.value)
    with pytest.raises(InvalidSetting, match=re.escape("redis.sessions.timeout = '10000000000000000000' is not valid")):
        session_factory_from_settings({P + "secret": SECRET_32, P + "timeout": "10000000000000000000"})


def test_allow_short_secret_from_ini_is_a_boolean():
    parsed = options.parse_settings({P + "allow_short_secret": "yes"})
    assert parsed == {"allow_short_secret": True}
    with pytest.raises(InvalidSetting, match="redis.sessions.allow_short_secret"):
        options.parse_settings({P + "allow_short_secret": "maybe"})
