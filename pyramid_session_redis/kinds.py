"""How one option's value is checked in Python and read from an ini string.

A ``Kind`` pairs the two: ``check`` takes what a keyword argument (or a
setting built in code) holds, ``from_ini`` the text of an ini file.  Both
return the normalised value or raise ValueError; the option table in
``options`` turns that into an ``InvalidSetting`` that shows ``accepts``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Any, Callable, NoReturn, Optional, Tuple, Union

from pyramid.path import DottedNameResolver

from .payload import MAX_TIMEOUT

_TRUE = frozenset(("true", "1", "yes", "on", "t", "y"))
_FALSE = frozenset(("false", "0", "no", "off", "f", "n"))


@dataclass(frozen=True)
class Kind:
    """What one option accepts; ``check`` and ``from_ini`` raise ValueError on anything else."""

    name: str  # shown in the settings reference
    accepts: str  # shown in error messages
    check: Callable[[Any], Any]
    from_ini: Callable[[str], Any]

    @property
    def python_only(self) -> bool:
        """Whether an ini file cannot give this value (a pool, a datetime)."""
        return self.from_ini is _python_only


def _none_word(text: str) -> bool:
    return text.strip() in ("None", "none", "")


def _check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError


def _ini_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError


def _check_opt_bool(value: Any) -> Optional[bool]:
    return None if value is None else _check_bool(value)


def _ini_opt_bool(text: str) -> Optional[bool]:
    return None if _none_word(text) else _ini_bool(text)


def _check_count(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError


def _ini_count(text: str) -> int:
    return _check_count(int(text.strip()))


def _check_opt_count(value: Any) -> Optional[int]:
    return None if value is None else _check_count(value)


def _ini_opt_count(text: str) -> Optional[int]:
    return None if _none_word(text) else _ini_count(text)


def _check_seconds(value: Any) -> Optional[int]:
    """A duration where 0 and None both mean 'none'; at most ``MAX_TIMEOUT``,
    beyond which a payload is taken for damaged and a TTL may be one Redis refuses."""
    value = _check_opt_count(value)
    if value is not None and value > MAX_TIMEOUT:
        raise ValueError
    return value or None


def _ini_seconds(text: str) -> Optional[int]:
    return None if _none_word(text) else _check_seconds(int(text.strip()))


def _check_opt_float(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ValueError


def _ini_opt_float(text: str) -> Optional[float]:
    return None if _none_word(text) else _check_opt_float(float(text.strip()))


def _check_float(value: Any) -> float:
    checked = _check_opt_float(value)
    if checked is None:
        raise ValueError
    return checked


def _ini_float(text: str) -> float:
    return _check_float(float(text.strip()))


def _check_cooldown(value: Any) -> float:
    """A pause in seconds where 0 and None both mean 'none'."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    raise ValueError


def _ini_cooldown(text: str) -> float:
    return 0.0 if _none_word(text) else _check_cooldown(float(text.strip()))


def _check_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError


def _check_opt_str(value: Any) -> Optional[str]:
    return None if value is None else _check_str(value)


def _ini_opt_str(text: str) -> Optional[str]:
    return None if _none_word(text) else text


def _check_callable(value: object) -> Optional[Callable[..., object]]:
    if value is None or callable(value):
        return value
    raise ValueError


def _resolve_dotted(text: str) -> Any:
    text = text.strip()
    if _none_word(text):
        return None
    try:
        return DottedNameResolver(None).resolve(text)
    except Exception as exc:  # ImportError, AttributeError, ValueError...
        raise ValueError(f"cannot import it ({exc})") from exc


def _check_signer(value: Any) -> Any:
    if value is None or (callable(getattr(value, "loads", None)) and callable(getattr(value, "dumps", None))):
        return value
    raise ValueError


_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def _check_samesite(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in _SAMESITE:
        return _SAMESITE[value.lower()]
    raise ValueError


def _ini_samesite(text: str) -> Optional[str]:
    # In ini, "None" here is the SameSite=None attribute value, as it was in
    # 1.x (which passed the string through).  An empty value omits the attribute.
    return None if not text.strip() else _check_samesite(text.strip())


def _check_expires(value: object) -> Union[datetime.datetime, datetime.timedelta, None]:
    if value is None or isinstance(value, (datetime.datetime, datetime.timedelta)):
        return value
    raise ValueError


def _python_only(text: str) -> NoReturn:
    raise ValueError("it can only be given in Python, not in an ini file")


def _check_pool(value: Any) -> Any:
    if value is None or callable(getattr(value, "get_connection", None)):
        return value
    raise ValueError


def _check_hosts(value: Any) -> Optional[Tuple[Tuple[str, int], ...]]:
    """``host:port`` addresses: a list of strings or of (host, port) pairs."""
    if value is None:
        return None
    if isinstance(value, str):
        return _ini_hosts(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError
    return tuple(_one_host(item) for item in value)


def _one_host(item: Any) -> Tuple[str, int]:
    if isinstance(item, str):
        host, sep, port_text = item.strip().rpartition(":")
        if not sep:
            raise ValueError(f"{item!r} has no port")
        item = (host.strip("[]"), port_text)  # [::1]:26379 is an IPv6 address
    if isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str) and item[0]:
        try:
            port = int(item[1])
        except (TypeError, ValueError):
            raise ValueError(f"bad port in {item!r}") from None
        if 0 < port < 65536:
            return (item[0], port)
    raise ValueError(f"{item!r} is not host:port")


def _ini_hosts(text: str) -> Optional[Tuple[Tuple[str, int], ...]]:
    if _none_word(text):
        return None
    hosts = tuple(_one_host(word) for word in text.replace(",", " ").split())
    if not hosts:
        raise ValueError("no address in it")
    return hosts


def _check_secrets(value: Any) -> Optional[Tuple[str, ...]]:
    if value is None:
        return None
    # A bare str in Python is refused rather than split: a secret may contain spaces.
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(value)
    raise ValueError


def _ini_secrets(text: str) -> Optional[Tuple[str, ...]]:
    """One secret per line, as a multi-line ini value reads; never split at
    spaces, which a passphrase secret may hold."""
    lines = tuple(line.strip() for line in text.splitlines() if line.strip())
    return lines if lines and not _none_word(text) else None


def _choice(*words: str, optional: bool = False) -> Kind:
    def check(value: Any) -> Optional[str]:
        if optional and value is None:
            return None
        if isinstance(value, str) and value.lower() in words:
            return value.lower()
        raise ValueError

    def from_ini(text: str) -> Optional[str]:
        return None if optional and _none_word(text) else check(text.strip())

    accepts = " or ".join(repr(w) for w in words) + (", or None" if optional else "")
    return Kind("|".join(words) + (" or None" if optional else ""), accepts, check, from_ini)


BOOL = Kind("bool", "true or false", _check_bool, _ini_bool)
OPT_BOOL = Kind("bool or None", "true, false or None", _check_opt_bool, _ini_opt_bool)
COUNT = Kind("int", "a whole number >= 0", _check_count, _ini_count)
OPT_COUNT = Kind("int or None", "a whole number >= 0, or None", _check_opt_count, _ini_opt_count)
SECONDS = Kind(
    "seconds",
    f"a whole number of seconds from 0 to {MAX_TIMEOUT} (100 years; 0 or None: none)",
    _check_seconds,
    _ini_seconds,
)
FLOAT = Kind("float", "a number of seconds > 0", _check_float, _ini_float)
OPT_FLOAT = Kind("float or None", "a number of seconds > 0, or None", _check_opt_float, _ini_opt_float)
COOLDOWN = Kind("float", "a number of seconds >= 0 (0 or None: none)", _check_cooldown, _ini_cooldown)
STR = Kind("str", "a string", _check_str, str)
OPT_STR = Kind("str or None", "a string, or None", _check_opt_str, _ini_opt_str)
CALLABLE = Kind("callable", "a callable (in ini: a dotted Python name)", _check_callable, _resolve_dotted)
SIGNER = Kind(
    "signer",
    "an object with loads() and dumps() (in ini: a dotted Python name)",
    _check_signer,
    _resolve_dotted,
)
SAMESITE = Kind("Strict|Lax|None", '"Strict", "Lax", "None", or None to omit', _check_samesite, _ini_samesite)
EXPIRES = Kind(
    "datetime or timedelta",
    "a datetime.datetime, a datetime.timedelta, or None (Python only)",
    _check_expires,
    _python_only,
)
SECRETS = Kind(
    "list of str or None",
    "a list of non-empty strings (in ini: one per line; in Python a list, not a str), or None",
    _check_secrets,
    _ini_secrets,
)
HOSTS = Kind(
    "host:port list",
    "host:port addresses (in ini: separated by spaces or commas), or None",
    _check_hosts,
    _ini_hosts,
)
CERT_REQS = _choice("required", "optional", "none")
ON_CONFLICT = _choice("merge", "overwrite", "raise")
ON_BACKEND_ERROR = _choice("raise", "degrade")
SERIALIZER = _choice("json", "pickle", "msgpack", "orjson", "msgspec", optional=True)
POOL = Kind("ConnectionPool", "a redis.ConnectionPool, or None (Python only)", _check_pool, _python_only)
