"""Reading the ini file (``cli/target.py``, ``cli/parser.py``): whatever is wrong with it, or with
``--redis-url``, is one line naming the problem and exit status 2; pshell-style ``name=value``
variables; ``--version``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyramid_session_redis import __version__
from pyramid_session_redis.cli.parser import split_variables
from pyramid_session_redis.cookies import SessionIdSigner

from .app import SECRET, make_app
from .cli_helpers import PREFIX, REPO, new_session, run

APP = "use = call:tests.cli_app:app_factory"


def ini_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "app.ini"
    path.write_text(text)
    return str(path)


def one_line_exit_2(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Runs the command; checks for the shape every such failure has; the message."""
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, ""), err
    assert err.startswith("pyramid-session-redis: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len("pyramid-session-redis: "):-1]


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "redis.sessions.secret = s\n",
            r"cannot parse .*app\.ini: File contains no section headers\. file: '.*app\.ini', line: 1 'redis\.sessions\.secret = s\\n'",
            id="MissingSectionHeaderError",
        ),
        pytest.param(
            f"[app:main]\n{APP}\nthis line has no equals sign\n",
            r"cannot parse .*app\.ini: Source contains parsing errors: '.*app\.ini' \[line +3\]: 'this line has no equals sign\\n'",
            id="ParsingError",
        ),
        pytest.param(
            f"[app:main]\n{APP}\n[app:main]\n{APP}\n",
            r"cannot parse .*app\.ini: While reading from '.*app\.ini' \[line +3\]: section 'app:main' already exists",
            id="DuplicateSectionError",
        ),
        pytest.param(
            f"[app:main]\n{APP}\nredis.sessions.secret = %(SESSION_SECRET)s\n",
            r".*app\.ini: \[app:main\] redis\.sessions\.secret uses %\(SESSION_SECRET\)s, which is not defined: "
            r"give it after the file name \(SESSION_SECRET=\.\.\.\) or in the file's \[DEFAULT\] section",
            id="InterpolationMissingOptionError",
        ),
        pytest.param(
            f"[app:main]\n{APP}\nredis.sessions.secret = %(SESSION_SECRET\n",
            r"cannot parse .*app\.ini: bad interpolation variable reference '%\(SESSION_SECRET'",
            id="InterpolationSyntaxError",
        ),
        pytest.param(
            "[app:main]\nuse = egg:no_such_package_for_psr_tests\n",
            r"cannot load the application of .*app\.ini: the package no_such_package_for_psr_tests is not installed "
            r"\(pip install it, or pip install -e its project directory\)",
            id="PackageNotFoundError",
        ),
        pytest.param(
            "[app:main]\nuse = call:no_such_module_for_psr_tests:factory\n",
            r"cannot load the application of .*app\.ini: ModuleNotFoundError: No module named 'no_such_module_for_psr_tests'",
            id="ModuleNotFoundError",
        ),
        pytest.param(
            f"[app:other]\n{APP}\n",
            r"cannot read the settings of .*app\.ini: .*main.*",
            id="no [app:main]",
        ),
    ],
)
def test_an_ini_file_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, text, expected, capsys):
    message = one_line_exit_2(capsys, ini_file(tmp_path, text), "stats")
    assert re.fullmatch(expected, message), message


def test_a_missing_ini_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = str(tmp_path / "nowhere.ini")
    assert one_line_exit_2(capsys, path, "stats") == f"cannot read the settings of {path}: no such file"
    assert one_line_exit_2(capsys, path + "#main", "show", "x") == f"cannot read the settings of {path}#main: no such file"


def test_distribution_not_found_from_an_older_pastedeploy_is_one_line(tmp_path, monkeypatch, capsys):
    """PasteDeploy < 3 looked packages up with pkg_resources, whose error is DistributionNotFound
    (matched by name: importing pkg_resources only to catch it would cost every run)."""
    (tmp_path / "psr_old_loader.py").write_text(
        "class DistributionNotFound(Exception):\n"
        "    pass\n"
        "raise DistributionNotFound(\"The 'myapp' distribution was not found and is required by the application\")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = ini_file(tmp_path, "[app:main]\nuse = call:psr_old_loader:factory\n")
    message = one_line_exit_2(capsys, path, "stats")
    assert message == (
        f"cannot load the application of {path}: The 'myapp' distribution was not found and is required "
        "by the application (is its package installed?)"
    )


def test_other_errors_of_the_application_module_are_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "psr_broken_app.py").write_text("raise RuntimeError('a bug in the application module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = ini_file(tmp_path, "[app:main]\nuse = call:psr_broken_app:factory\n")
    with pytest.raises(RuntimeError, match="a bug in the application module"):
        run_main(path, "stats")


def run_main(*argv: str) -> int:
    from pyramid_session_redis.cli import main

    return main(list(argv))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("foo://127.0.0.1/0", "Redis URL must specify one of the following schemes (redis://, rediss://, unix://)"),
        ("redis://:s3cret@127.0.0.1:port/0", "Port could not be cast to integer value as 'port'"),
    ],
)
def test_a_bad_redis_url_is_one_line_and_exit_2_without_the_password(tmp_path, url, expected, capsys):
    path = ini_file(tmp_path, f"[app:main]\n{APP}\n")
    shown = url.replace("s3cret", "***")
    for command in (["stats"], ["stats", "--cluster"], ["show", "x"], ["purge", "--yes"]):
        message = one_line_exit_2(capsys, path, "--redis-url", url, *command)
        assert message == f"--redis-url {shown}: {expected}"
        assert "s3cret" not in message
    # The same URL in the ini file: the message names the setting.
    path = ini_file(tmp_path, f"[app:main]\n{APP}\nredis.sessions.redis_url = {url}\nredis.sessions.redis_cluster = true\n")
    assert one_line_exit_2(capsys, path, "stats") == f"{path}: redis.sessions.redis_url = {shown}: {expected}"


def test_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert (status, out) == (0, f"pyramid-session-redis {__version__}\n")


# -- name=value variables ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, words, variables",
    [
        (["app.ini", "stats"], ["app.ini", "stats"], {}),
        (["app.ini", "a=1", "b=x=y", "stats", "--json"], ["app.ini", "stats", "--json"], {"a": "1", "b": "x=y"}),
        (["--redis-url", "redis://h/0?x=1", "app.ini", "a=", "show", "k=v"], ["--redis-url", "redis://h/0?x=1", "app.ini", "show", "k=v"], {"a": ""}),
        (["--prefix=p:", "app.ini", "a=1", "--cluster", "stats"], ["--prefix=p:", "app.ini", "--cluster", "stats"], {"a": "1"}),
        (["app.ini", "=x", "stats"], ["app.ini", "=x", "stats"], {}),  # no name: left for argparse to refuse
        (["app.ini", "a=1", "--", "-id"], ["app.ini", "--", "-id"], {"a": "1"}),
        (["app.ini", "a=1"], ["app.ini"], {"a": "1"}),
    ],
)
def test_split_variables_takes_name_value_words_between_the_config_uri_and_the_command(argv, words, variables):
    assert split_variables(argv) == (words, variables)


def secret_ini(tmp_path: Path, redis_url_line: str) -> str:
    return ini_file(
        tmp_path,
        f"[app:main]\n{APP}\n{redis_url_line}\nredis.sessions.prefix = {PREFIX}\n"
        "redis.sessions.secret = %(SESSION_SECRET)s\n",
    )


def test_variables_fill_the_ini_files_interpolations(tmp_path, redis_server, redis_client, capsys):
    """The docs' pattern (docs/security.rst): the secret and the Redis URL given on the command
    line, as ``pserve app.ini SESSION_SECRET=...`` gives them to the application."""
    app = make_app(redis_server.url, prefix=PREFIX)
    session_id = new_session(app)
    cookie = SessionIdSigner(SECRET).dumps(session_id).decode()
    path = secret_ini(tmp_path, "redis.sessions.redis_url = %(redis_url)s")

    status, out, err = run(capsys, path, f"redis_url={redis_server.url}", f"SESSION_SECRET={SECRET}", "show", cookie)
    assert (status, err) == (0, "")
    assert out.startswith(f"session:  {session_id}  (from a cookie value verified with redis.sessions.secret)\n")
    # Another secret: the same cookie value is refused.
    status, _, err = run(capsys, path, f"redis_url={redis_server.url}", "SESSION_SECRET=another", "show", cookie)
    assert status == 1 and "refused" in err
    status, out, _ = run(capsys, path, f"redis_url={redis_server.url}", "SESSION_SECRET=x", "--prefix", PREFIX, "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 1


def test_defaults_section_and_get_lines_read_variables_as_pserve_does(tmp_path, redis_server, redis_client, capsys):
    """As with pserve: for ``%(name)s`` a value in the file's [DEFAULT] wins over the command line's
    (PasteDeploy's rule), while ``get setting = name`` takes the command line's."""
    new_session(make_app(redis_server.url, prefix=PREFIX))
    dead = "redis://127.0.0.1:1/0"
    interpolated = ini_file(
        tmp_path,
        f"[DEFAULT]\nredis_url = {dead}\n[app:main]\n{APP}\nredis.sessions.redis_url = %(redis_url)s\n"
        f"redis.sessions.prefix = {PREFIX}\nredis.sessions.redis_socket_connect_timeout = 1\n",
    )
    status, _, err = run(capsys, interpolated, f"redis_url={redis_server.url}", "stats")
    assert status == 3 and "127.0.0.1:1" in err
    got = ini_file(
        tmp_path,
        f"[DEFAULT]\nredis_url = {dead}\n[app:main]\n{APP}\nget redis.sessions.redis_url = redis_url\n"
        f"redis.sessions.prefix = {PREFIX}\n",
    )
    status, out, _ = run(capsys, got, f"redis_url={redis_server.url}", "stats", "--json")
    assert status == 0 and json.loads(out)["sessions"] == 1
    status, _, err = run(capsys, got, "stats")  # nothing given: [DEFAULT]'s value
    assert status == 3 and "127.0.0.1:1" in err


def test_the_demo_ini_is_pointed_elsewhere_with_a_variable(redis_server, redis_client):
    """The demo's own ini file (its [DEFAULT] redis_url read with `get`), through the console
    script in a process of its own, since the file also sets up logging."""
    new_session(make_app(redis_server.url))  # the demo has no prefix: its keys are the bare ids
    done = subprocess.run(
        [str(Path(sys.executable).with_name("pyramid-session-redis")), str(REPO / "demo" / "development.ini"),
         f"redis_url={redis_server.url}", "stats", "--json"],
        capture_output=True, text=True, timeout=60, cwd=str(REPO),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["location"], report["sessions"]) == (redis_server.url, 1)


def test_host_and_port_settings_need_no_url_check(tmp_path, redis_server, redis_client, capsys):
    """Only a URL is parsed before the command; host and port settings were checked as options."""
    new_session(make_app(redis_server.url, prefix=PREFIX))
    path = ini_file(
        tmp_path,
        f"[app:main]\n{APP}\nredis.sessions.redis_host = 127.0.0.1\nredis.sessions.redis_port = {redis_server.port}\n"
        f"redis.sessions.prefix = {PREFIX}\n",
    )
    status, out, err = run(capsys, path, "stats", "--json")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert (report["location"], report["sessions"]) == (f"redis://127.0.0.1:{redis_server.port}", 1)
