"""What each kind of option value accepts (kinds.py): how a value given in Python
is checked, and how the text of an ini file is read, through the options that
use the kind; then each Kind on its own.

No Redis server is needed: redis-py connects lazily, so building a factory
never touches the network.
"""

from __future__ import annotations

import datetime
import re

import pytest

from pyramid_session_redis import RedisSessionFactory, kinds, options, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSetting

from .settings_helpers import (
    MY_SIGNER,
    P,
    factory,
    from_ini,
    ini,
    log_invalid,
    my_deserialize,
    my_id_generator,
    my_serialize,
)

# -- ini: booleans ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("  true  ", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
        ("OFF", False),
    ],
)
def test_ini_bool_words(text, expected):
    f = from_ini(cookie_secure=text)
    assert f.options["cookie_secure"] is expected


def test_ini_bool_false_turns_default_true_off():
    f = from_ini(cookie_httponly="off", detect_changes="No")
    assert f.options["cookie_httponly"] is False
    assert f.options["detect_changes"] is False


@pytest.mark.parametrize("word", ["maybe", "2", "truthy", ""])
def test_ini_bool_rejects_other_words_naming_key_value_and_accepted(word):
    expected = re.escape(f"redis.sessions.cookie_secure = {word!r} is not valid") + ".*" + re.escape(
        "cookie_secure accepts true or false"
    )
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(cookie_secure=word)


@pytest.mark.parametrize("text, expected", [("None", None), ("none", None), ("true", True), ("off", False)])
def test_ini_optional_bool_accepts_none(text, expected):
    f = from_ini(python_expires=text)
    assert f.options["python_expires"] is expected


def test_ini_optional_bool_rejects_other_words():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.python_expires = 'maybe'.*true, false or None"):
        from_ini(python_expires="maybe")


# -- ini: numbers ----------------------------------------------------------------------


def test_ini_int_is_coerced():
    f = from_ini(redis_db="3", redis_port="6380", cookie_max_age="3600", timeout_trigger="60")
    assert f.options["redis_db"] == 3
    assert f.options["redis_port"] == 6380
    assert f.options["cookie_max_age"] == 3600
    assert f.options["timeout_trigger"] == 60


def test_ini_int_rejects_non_number_naming_key_value_and_accepted():
    expected = re.escape("redis.sessions.redis_db = 'three' is not valid") + ".*" + re.escape(
        "redis_db accepts a whole number >= 0"
    )
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(redis_db="three")


def test_ini_int_rejects_negative():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.cookie_max_age = '-5'.*a whole number >= 0, or None"):
        from_ini(cookie_max_age="-5")


def test_ini_int_rejects_fraction():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.redis_port = '6379\.5'"):
        from_ini(redis_port="6379.5")


def test_ini_required_int_does_not_accept_none():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.redis_db = 'None'"):
        from_ini(redis_db="None")


@pytest.mark.parametrize("name", ["cookie_max_age", "redis_port", "timeout_trigger"])
def test_ini_optional_int_none_word_is_none(name):
    f = from_ini(**{name: "None"})
    assert f.options[name] is None


@pytest.mark.parametrize("text", ["0", "None", "none"])
def test_ini_timeout_zero_and_none_mean_no_timeout(text):
    f = from_ini(timeout=text)
    assert f.options["timeout"] is None
    assert f.settings.rules.timeout is None


def test_ini_timeout_number():
    f = from_ini(timeout="20")
    assert f.options["timeout"] == 20


def test_ini_timeout_rejects_negative_and_words():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.timeout = '-1'.*timeout accepts a whole number of seconds"):
        from_ini(timeout="-1")
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.timeout = 'forever'"):
        from_ini(timeout="forever")


def test_ini_socket_timeout_is_float():
    f = from_ini(redis_socket_timeout="2.5")
    assert f.options["redis_socket_timeout"] == 2.5
    assert isinstance(f.options["redis_socket_timeout"], float)
    f = from_ini(redis_socket_timeout="3")
    assert f.options["redis_socket_timeout"] == 3.0
    assert isinstance(f.options["redis_socket_timeout"], float)


def test_ini_socket_timeout_none():
    assert from_ini(redis_socket_timeout="None").options["redis_socket_timeout"] is None


@pytest.mark.parametrize("text", ["0", "-1", "soon"])
def test_ini_socket_timeout_rejects_non_positive_or_words(text):
    expected = re.escape(f"redis.sessions.redis_socket_timeout = {text!r}") + ".*" + re.escape(
        "a number of seconds > 0, or None"
    )
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(redis_socket_timeout=text)


@pytest.mark.parametrize("text, expected", [("2.5", 2.5), ("3", 3.0), ("0", 0.0), ("None", 0.0), ("", 0.0)])
def test_ini_backend_cooldown_is_seconds_where_0_and_none_turn_the_breaker_off(text, expected):
    f = from_ini(backend_cooldown=text)
    assert f.options["backend_cooldown"] == expected and isinstance(f.options["backend_cooldown"], float)
    assert (f.breaker is None) == (expected == 0)


@pytest.mark.parametrize("text", ["-1", "soon", "inf", "nan"])
def test_ini_backend_cooldown_rejects_negative_endless_or_words(text):
    expected = re.escape(f"redis.sessions.backend_cooldown = {text!r}") + ".*" + re.escape(
        "a number of seconds >= 0 (0 or None: none)"
    )
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(backend_cooldown=text)


@pytest.mark.parametrize("value", [-0.5, float("inf"), float("nan"), True, "2"])
def test_python_backend_cooldown_rejects_what_is_not_seconds(value):
    with pytest.raises(InvalidSetting, match=r"backend_cooldown = .* is not valid: backend_cooldown accepts a number"):
        factory(backend_cooldown=value)


@pytest.mark.parametrize("value, expected", [(None, 0.0), (0, 0.0), (1, 1.0), (0.25, 0.25)])
def test_python_backend_cooldown(value, expected):
    assert factory(backend_cooldown=value).options["backend_cooldown"] == expected


# -- ini: strings ----------------------------------------------------------------------


def test_ini_strings_are_kept():
    f = from_ini(cookie_name="sid", cookie_path="/app", prefix="sess:", redis_url="redis://example:6380/2")
    assert f.options["cookie_name"] == "sid"
    assert f.options["cookie_path"] == "/app"
    assert f.options["prefix"] == "sess:"
    assert f.options["redis_url"] == "redis://example:6380/2"


@pytest.mark.parametrize("name", ["cookie_domain", "redis_password", "redis_host", "cookie_comment"])
def test_ini_optional_string_none_word_is_none(name):
    assert from_ini(**{name: "None"}).options[name] is None


def test_ini_secret_none_word_means_no_secret():
    with pytest.raises(InvalidSetting, match=r"give exactly one of redis\.sessions\.secret and redis\.sessions\.cookie_signer"):
        session_factory_from_settings({P + "secret": "None"})


def test_ini_empty_secret_is_rejected():
    # A blank value reads as no value: the secret is missing.
    with pytest.raises(InvalidSetting, match=r"give exactly one of redis\.sessions\.secret"):
        session_factory_from_settings({P + "secret": "   "})


# -- ini: dotted names -----------------------------------------------------------------


def test_ini_dotted_name_func_invalid_logger():
    f = from_ini(func_invalid_logger="tests.settings_helpers.log_invalid")
    assert f.options["func_invalid_logger"] is log_invalid
    assert f.hooks.invalid is log_invalid


def test_ini_dotted_name_with_colon_form():
    f = from_ini(func_invalid_logger="tests.settings_helpers:log_invalid")
    assert f.options["func_invalid_logger"] is log_invalid


def test_ini_dotted_names_serialize_and_deserialize_together():
    f = from_ini(serialize="tests.settings_helpers.my_serialize", deserialize="tests.settings_helpers.my_deserialize")
    assert f.settings.serialize is my_serialize
    assert f.settings.deserialize is my_deserialize


def test_ini_dotted_name_id_generator():
    f = from_ini(id_generator="tests.settings_helpers.my_id_generator")
    assert f.settings.new_id is my_id_generator


def test_ini_dotted_name_cookie_signer():
    settings = {P + "cookie_signer": "tests.settings_helpers.MY_SIGNER"}
    f = session_factory_from_settings(settings)
    assert f.options["cookie_signer"] is MY_SIGNER
    assert f.settings.cookies.signer is MY_SIGNER


def test_ini_dotted_name_none_word_is_none():
    assert from_ini(func_invalid_logger="None").options["func_invalid_logger"] is None


def test_ini_unimportable_dotted_name_names_the_key():
    expected = re.escape("redis.sessions.func_invalid_logger = 'no_such_module_xyz.logger' is not valid (cannot import it")
    with pytest.raises(InvalidSetting, match=expected + r".*a callable \(in ini: a dotted Python name\)"):
        from_ini(func_invalid_logger="no_such_module_xyz.logger")


def test_ini_dotted_name_of_missing_attribute_names_the_key():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.id_generator = 'tests\.settings_helpers\.nope'.*cannot import it"):
        from_ini(id_generator="tests.settings_helpers.nope")


def test_ini_dotted_name_of_non_callable_is_rejected():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.func_invalid_logger = .*func_invalid_logger accepts a callable"):
        from_ini(func_invalid_logger="tests.settings_helpers.P")


def test_ini_dotted_name_of_object_without_loads_is_not_a_signer():
    settings = {P + "cookie_signer": "tests.settings_helpers.log_invalid"}
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.cookie_signer = .*an object with loads\(\) and dumps\(\)"):
        session_factory_from_settings(settings)


# -- ini: cookie_samesite --------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("Strict", "Strict"), ("strict", "Strict"), ("lax", "Lax"), ("LAX", "Lax")])
def test_ini_samesite_is_normalised(text, expected):
    assert from_ini(cookie_samesite=text).options["cookie_samesite"] == expected


def test_ini_samesite_none_is_the_attribute_value_and_needs_secure():
    f = from_ini(cookie_samesite="None", cookie_secure="true")
    assert f.options["cookie_samesite"] == "None"
    expected = re.escape("redis.sessions.cookie_samesite = 'None' needs redis.sessions.cookie_secure = true")
    with pytest.raises(InvalidSetting, match=expected):
        from_ini(cookie_samesite="None")


@pytest.mark.parametrize("text", ["", "   "])
def test_ini_samesite_empty_value_omits_attribute(text):
    f = from_ini(cookie_samesite=text)
    assert f.options["cookie_samesite"] is None
    assert "samesite" not in f.settings.cookies._set_kwargs


def test_ini_samesite_rejects_other_words():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.cookie_samesite = 'sometimes'.*\"Strict\", \"Lax\", \"None\""):
        from_ini(cookie_samesite="sometimes")


# -- ini: Python-only options ----------------------------------------------------------


@pytest.mark.parametrize("name", ["cookie_expires", "redis_connection_pool"])
def test_ini_python_only_options_are_rejected(name):
    expected = re.escape(f"redis.sessions.{name} = 'whatever' is not valid (it can only be given in Python, not in an ini file)")
    with pytest.raises(InvalidSetting, match=expected + ".*Python only"):
        from_ini(**{name: "whatever"})


# -- wrong Python values, and how right ones are normalised ----------------------------


@pytest.mark.parametrize(
    "name, value, accepts",
    [
        ("timeout", "20", "a whole number of seconds from 0 to 3155760000"),
        ("timeout", -1, "a whole number of seconds from 0 to 3155760000"),
        ("timeout", 20.5, "a whole number of seconds from 0 to 3155760000"),
        ("timeout", True, "a whole number of seconds from 0 to 3155760000"),
        ("cookie_secure", "yes", "true or false"),
        ("set_redis_ttl", 1, "true or false"),
        ("set_redis_ttl", None, "true or false"),
        ("python_expires", "true", "true, false or None"),
        ("serialize", 42, "a callable"),
        ("cookie_name", None, "a string"),
        ("cookie_name", b"session", "a string"),
        ("cookie_max_age", -1, "a whole number >= 0, or None"),
        ("redis_port", "6379", "a whole number >= 0, or None"),
        ("redis_db", None, "a whole number >= 0"),
        ("redis_socket_timeout", 0, "a number of seconds > 0, or None"),
        ("redis_socket_timeout", True, "a number of seconds > 0, or None"),
        ("cookie_samesite", "", '"Strict", "Lax", "None", or None to omit'),
        ("cookie_samesite", "sometimes", '"Strict", "Lax", "None", or None to omit'),
        ("cookie_expires", 3600, "a datetime.datetime, a datetime.timedelta, or None"),
        ("cookie_signer", object(), "an object with loads() and dumps()"),
        ("func_invalid_logger", "tests.settings_helpers.log_invalid", "a callable"),
    ],
)
def test_wrong_python_value_names_key_value_and_accepted(name, value, accepts):
    expected = re.escape(f"{name} = {value!r} is not valid: {name} accepts {accepts}")
    with pytest.raises(InvalidSetting, match=expected):
        factory(**{name: value})


def test_python_values_are_normalised():
    f = factory(timeout=0, cookie_samesite="strict", redis_socket_timeout=2)
    assert f.options["timeout"] is None
    assert f.options["cookie_samesite"] == "Strict"
    assert f.options["redis_socket_timeout"] == 2.0
    assert isinstance(f.options["redis_socket_timeout"], float)


def test_python_cookie_expires_accepts_datetime_and_timedelta():
    when = datetime.datetime(2030, 1, 1)
    assert factory(cookie_expires=when).options["cookie_expires"] is when
    delta = datetime.timedelta(hours=1)
    assert factory(cookie_expires=delta).options["cookie_expires"] is delta


def test_python_connection_pool_must_be_a_pool():
    with pytest.raises(InvalidSetting, match=r"redis_connection_pool = 42 is not valid"):
        factory(redis_connection_pool=42)


# -- host:port lists, and the choices (cert_reqs, serializer) --------------------------


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:26379", (("127.0.0.1", 26379),)),
    ("a:1 b:2,c:3", (("a", 1), ("b", 2), ("c", 3))),
    ("\n  s1.internal:26379\n  s2.internal:26380\n", (("s1.internal", 26379), ("s2.internal", 26380))),
    ("[::1]:26379", (("::1", 26379),)),
    ("none", None),
])
def test_ini_host_lists(text, expected):
    assert options.OPTIONS["redis_sentinels"].kind.from_ini(text) == expected


@pytest.mark.parametrize("value", [["h:1", ("h2", 2)], ("h:1", ["h2", "2"])])
def test_python_host_lists_take_strings_and_pairs(value):
    assert options.validate({"secret": "s" * 32, "redis_sentinels": value, "redis_sentinel_master": "m"})[
        "redis_sentinels"] == (("h", 1), ("h2", 2))


@pytest.mark.parametrize("bad", ["h", "h:0", "h:70000", "h:port", ":1", [], [("h",)], [("h", 1, 2)], 5, [5]])
def test_bad_host_lists_name_the_setting_and_the_form(bad):
    with pytest.raises(InvalidSetting, match="redis_sentinels.*host:port"):
        RedisSessionFactory(secret="s" * 32, redis_sentinels=bad, redis_sentinel_master="m")


def test_ini_bad_host_list_names_the_key():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.redis_sentinels = 'a:1 b' is not valid \('b' has no port\)"):
        from_ini(redis_sentinels="a:1 b", redis_sentinel_master="m")


@pytest.mark.parametrize("text, expected", [("required", "required"), (" Optional ", "optional"), ("NONE", "none")])
def test_cert_reqs_choice(text, expected):
    assert options.parse_settings(ini(redis_ssl_cert_reqs=text))["redis_ssl_cert_reqs"] == expected


def test_cert_reqs_rejects_other_words_listing_the_choices():
    with pytest.raises(InvalidSetting, match="'required' or 'optional' or 'none'"):
        factory(redis_ssl_cert_reqs="bogus")
    with pytest.raises(InvalidSetting, match="redis_ssl_cert_reqs"):
        factory(redis_ssl_cert_reqs=None)


def test_none_means_unset_for_host_lists_and_secret_fallbacks():
    values = options.validate({"secret": "s" * 32, "redis_sentinels": None, "secret_fallbacks": None})
    assert values["redis_sentinels"] is None and values["secret_fallbacks"] is None


def test_ini_host_list_of_separators_only_is_refused():
    with pytest.raises(InvalidSetting, match=r"redis_sentinels = ' , ,' is not valid \(no address in it\)"):
        from_ini(redis_sentinels=" , ,", redis_sentinel_master="m")


def test_an_optional_choice_takes_none_in_python():
    assert options.validate({"secret": "s" * 32, "serializer": None})["serializer"] is None


# -- each Kind on its own ----------------------------------------------------------------


def test_only_the_kinds_an_ini_file_cannot_give_are_python_only():
    python_only = {name for name, kind in vars(kinds).items() if isinstance(kind, kinds.Kind) and kind.python_only}
    assert python_only == {"EXPIRES", "POOL"}
    with pytest.raises(ValueError, match="it can only be given in Python"):
        kinds.POOL.from_ini("redis://h:1")


@pytest.mark.parametrize("kind, value", [
    (kinds.BOOL, 1), (kinds.BOOL, "true"), (kinds.BOOL, None),
    (kinds.COUNT, True), (kinds.COUNT, -1), (kinds.COUNT, 1.0),
    (kinds.OPT_FLOAT, False), (kinds.OPT_FLOAT, 0), (kinds.OPT_FLOAT, "1"),
    (kinds.STR, b"x"), (kinds.CALLABLE, "print"), (kinds.SIGNER, object()),
    (kinds.SECRETS, "one secret"), (kinds.SECRETS, ["ok", " "]), (kinds.SECRETS, [b"x"]),
    (kinds.HOSTS, ()), (kinds.HOSTS, [("", 1)]), (kinds.HOSTS, [("h", None)]),
    (kinds.SAMESITE, "Sometimes"), (kinds.ON_CONFLICT, None), (kinds.SERIALIZER, 1),
])
def test_check_raises_value_error_for_what_the_kind_does_not_accept(kind, value):
    with pytest.raises(ValueError):
        kind.check(value)


@pytest.mark.parametrize("kind, value, expected", [
    (kinds.SECONDS, 0, None), (kinds.SECONDS, None, None), (kinds.SECONDS, 30, 30),
    (kinds.OPT_FLOAT, 2, 2.0), (kinds.OPT_BOOL, None, None),
    (kinds.SAMESITE, "NONE", "None"), (kinds.ON_CONFLICT, "Merge", "merge"),
    (kinds.SECRETS, ["a b", "c"], ("a b", "c")), (kinds.HOSTS, "h:1, [::1]:2", (("h", 1), ("::1", 2))),
    (kinds.SERIALIZER, None, None),
])
def test_check_returns_the_normalised_value(kind, value, expected):
    assert kind.check(value) == expected


@pytest.mark.parametrize("kind, text, expected", [
    (kinds.BOOL, " Y ", True), (kinds.BOOL, "f", False), (kinds.OPT_BOOL, "", None),
    (kinds.OPT_COUNT, " 7 ", 7), (kinds.SECONDS, "0", None), (kinds.OPT_FLOAT, "none", None),
    (kinds.STR, "  kept as is ", "  kept as is "), (kinds.OPT_STR, "", None),
    (kinds.SECRETS, "  new\n  old  ", ("new", "old")), (kinds.SECRETS, "None", None), (kinds.SECRETS, "", None),
    (kinds.SERIALIZER, " None ", None), (kinds.SERIALIZER, " MsgPack ", "msgpack"),
    (kinds.CALLABLE, " tests.settings_helpers.log_invalid ", log_invalid),
])
def test_from_ini_reads_the_text(kind, text, expected):
    assert kind.from_ini(text) == expected


@pytest.mark.parametrize("kind, text", [
    (kinds.BOOL, "None"), (kinds.COUNT, "None"), (kinds.COUNT, "-1"), (kinds.OPT_FLOAT, "0"),
    (kinds.ON_CONFLICT, "none"), (kinds.CALLABLE, "tests.settings_helpers.no_such_name"),
])
def test_from_ini_raises_value_error_for_text_the_kind_does_not_accept(kind, text):
    with pytest.raises(ValueError):
        kind.from_ini(text)


def test_a_choice_lists_its_words_and_says_when_none_is_accepted():
    assert kinds.ON_BACKEND_ERROR.accepts == "'raise' or 'degrade'"
    assert kinds.SERIALIZER.accepts == "'json' or 'pickle' or 'msgpack' or 'orjson' or 'msgspec', or None"
    assert kinds.SERIALIZER.name == "json|pickle|msgpack|orjson|msgspec or None"
