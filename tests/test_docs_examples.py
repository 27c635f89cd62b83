"""The documentation's examples, run: every Python snippet of the pages below,
what the pages say about them, and the "Testing your app" page's test files,
run by pytest as a user's project would run them.

A snippet that cannot run on its own (a fragment, or one that needs a
server of yours) says so in an RST comment right before it,
``.. not run: <reason>``; it must still compile.  A snippet with a
``:caption:`` is a file of that name: it is written under that name, so that
other snippets can import it (``cart.py`` of getting_started is tested by the
test files of testing.rst).
"""

from __future__ import annotations

import configparser
import importlib
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
from pyramid.config import Configurator
from pyramid.paster import get_app, get_appsettings
from webtest import TestApp

from pyramid_session_redis import session_factory_from_settings
from pyramid_session_redis.cookies import SessionIdSigner
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.testing import factory_of, read_session, session_of, set_session

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# The pages whose snippets are run (those issue 20 touched; add a page when its snippets are made runnable).
PAGES = ["getting_started", "testing", "security", "deployment", "debugtoolbar", "performance", "faq"]
SECRET = "a secret for the docs' examples"


@dataclass(frozen=True)
class Snippet:
    page: str
    line: int  # of the code-block directive, 1-based
    code: str
    caption: Optional[str]
    not_run: Optional[str]  # the reason, when marked ``.. not run:``

    @property
    def module(self) -> str:
        """The module it is imported as: its caption's, or one named after its place."""
        if self.caption:
            return self.caption[:-3].replace("/__init__", "").replace("/", ".")
        return f"snippet_{self.page}_{self.line}"

    def __str__(self) -> str:
        return f"{self.page}.rst:{self.line}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def snippets(page: str) -> List[Snippet]:
    """The ``.. code-block:: python`` blocks of ``docs/<page>.rst``."""
    lines = (DOCS / f"{page}.rst").read_text(encoding="utf-8").splitlines()
    found = []
    for at, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        indent, body_at, caption = _indent(line), at + 1, None
        while body_at < len(lines) and lines[body_at].strip().startswith(":") and _indent(lines[body_at]) > indent:
            name, _, value = lines[body_at].strip()[1:].partition(":")
            if name == "caption":
                caption = value.strip()
            body_at += 1
        body = []
        for text in lines[body_at:]:
            if text.strip() and _indent(text) <= indent:
                break
            body.append(text)
        before = next((lines[i] for i in range(at - 1, -1, -1) if lines[i].strip()), "")
        marked = re.fullmatch(r"\s*\.\. not run: (.+)", before)
        code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        found.append(Snippet(page, at + 1, code, caption, marked.group(1) if marked else None))
    return found


ALL = [snippet for page in PAGES for snippet in snippets(page)]


def snippet(page: str, containing: str) -> Snippet:
    """The one snippet of ``page`` whose code contains ``containing``."""
    matches = [s for s in ALL if s.page == page and containing in s.code]
    assert len(matches) == 1, f"{len(matches)} snippets of {page}.rst contain {containing!r}"
    return matches[0]


def write_files(directory: Path) -> None:
    """Every captioned snippet, as the file its caption names."""
    for each in ALL:
        if each.caption:
            path = directory / each.caption
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(each.code, encoding="utf-8")


@pytest.fixture
def importer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``importer(snippet)`` imports it as a module, beside the captioned files;
    the modules are forgotten afterwards."""
    write_files(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)

    def load(each: Snippet) -> Any:
        if not each.caption:
            (tmp_path / f"{each.module}.py").write_text(each.code, encoding="utf-8")
        return importlib.import_module(each.module)

    yield load
    for name in set(sys.modules) - before:
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", None) or ""):
            del sys.modules[name]


# -- every snippet ------------------------------------------------------------------


def test_the_pages_have_snippets_and_every_file_name_is_used_once():
    assert len(ALL) >= 12
    captions = [s.caption for s in ALL if s.caption]
    assert len(captions) == len(set(captions)) and "cart.py" in captions and "test_cart.py" in captions


@pytest.mark.parametrize("each", ALL, ids=str)
def test_every_python_snippet_runs_or_says_why_not(each, importer, monkeypatch, redis_server):
    if each.not_run is not None:
        assert len(each.not_run) > 10  # a reason, not just a mark
        compile(each.code, str(each), "exec")
        return
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    module = importer(each)
    assert module.__name__ == each.module


# -- getting_started ---------------------------------------------------------------


def test_hello_py_counts_visits(importer, monkeypatch, redis_server, redis_client):
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    app = TestApp(importer(snippet("getting_started", "def hello(request)")).main())
    assert app.get("/").text == "You have been here 1 times.\n"
    assert app.get("/").text == "You have been here 2 times.\n"
    assert redis_client.ttl(redis_client.keys()[0]) == 1200  # as the page shows


def test_configuring_in_python_gives_the_options_shown(importer, monkeypatch):
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    app = TestApp(importer(snippet("getting_started", "cookie_secure=True")).main({}))
    options = factory_of(app).options
    assert options["cookie_secure"] is True and options["timeout"] == 1200 and options["secret"] == SECRET


def test_configuring_from_an_ini_file_reads_the_settings(importer):
    main = importer(snippet("getting_started", "# ... your routes and views ...")).main
    app = TestApp(main({}, **{"redis.sessions.secret": SECRET, "redis.sessions.redis_url": "memory://docs",
                              "redis.sessions.timeout": "60"}))
    assert factory_of(app).options["timeout"] == 60


def test_the_cart_of_a_first_view_flashes_escapes_and_checks_csrf(importer):
    cart = importer(snippet("getting_started", "def add_to_cart(request)"))
    app = TestApp(cart.main({}, **{"redis.sessions.secret": SECRET, "redis.sessions.redis_url": "memory://cart"}))
    form = app.get("/cart").forms[0]
    form["item"] = "<b>fig</b>"
    page = form.submit(status=303).follow()
    assert "<li>&lt;b&gt;fig&lt;/b&gt;</li>" in page.text and "<p>Added to your cart.</p>" in page.text
    assert "Added to your cart." not in app.get("/cart").text  # flashed once
    app.post("/cart", {"item": "x", "csrf_token": "forged"}, status=400)
    assert session_of(app)["cart"] == ["<b>fig</b>"]


def test_the_testing_page_s_files_pass_as_a_project_s_tests(pytester, redis_server):
    write_files(pytester.path)
    tests = [s for s in ALL if s.page == "testing" and s.caption]
    assert {s.caption for s in tests} >= {"conftest.py", "test_cart.py", "test_views.py", "test_unittest.py"}
    expected = sum(s.code.count("\n    def test_") + s.code.count("\ndef test_") for s in tests)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=expected)
    assert expected == 6


# -- security / deployment: the secret ------------------------------------------------


def app_factory(global_config: Dict[str, str], **settings: str) -> Any:
    """The app of the ini files below (``use = call:...``)."""
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    return config.make_wsgi_app()


def _ini(tmp_path: Path, lines: str, defaults: str = "") -> str:
    path = tmp_path / "production.ini"
    path.write_text(f"[DEFAULT]\n{defaults}\n[app:main]\nuse = call:tests.test_docs_examples:app_factory\n"
                    f"redis.sessions.redis_url = memory://docs\n{lines}\n")
    return str(path)


def _signs_with(factory: Any, secret: str) -> bool:
    return bool(factory.settings.cookies.signer.dumps("some-id") == SessionIdSigner(secret).dumps("some-id"))


def test_a_session_secret_variable_is_given_when_the_ini_is_loaded(tmp_path):
    ini = _ini(tmp_path, "redis.sessions.secret = %(SESSION_SECRET)s")
    factory = session_factory_from_settings(get_appsettings(ini, options={"SESSION_SECRET": "from the command line"}))
    assert _signs_with(factory, "from the command line")
    # pserve production.ini SESSION_SECRET=... loads the app this way:
    app = TestApp(get_app(ini, options={"SESSION_SECRET": "from the command line"}))
    assert _signs_with(factory_of(app), "from the command line")


@pytest.mark.parametrize("variable", ["SESSION_SECRET", "ENV_SESSION_SECRET"])
def test_the_environment_is_not_read_by_ini_interpolation(tmp_path, monkeypatch, variable):
    monkeypatch.setenv("SESSION_SECRET", "from the environment")
    ini = _ini(tmp_path, f"redis.sessions.secret = %({variable})s")
    with pytest.raises(configparser.InterpolationMissingOptionError, match=variable):
        get_appsettings(ini)


def test_in_default_the_file_wins_for_interpolation_and_get_takes_the_command_line(tmp_path):
    ini = _ini(tmp_path, "redis.sessions.secret = %(SESSION_SECRET)s\nget other = SESSION_SECRET",
               defaults="SESSION_SECRET = from the file")
    settings = get_appsettings(ini, options={"SESSION_SECRET": "from the command line"})
    assert settings["redis.sessions.secret"] == "from the file"
    assert settings["other"] == "from the command line"
    assert get_appsettings(ini)["other"] == "from the file"


def test_reading_the_secret_from_the_environment_in_main(importer, monkeypatch):
    main = importer(snippet("security", 'os.environ["SESSION_SECRET"]')).main
    settings = {"redis.sessions.redis_url": "memory://docs"}
    monkeypatch.setenv("SESSION_SECRET", "from the environment")
    assert _signs_with(factory_of(TestApp(main({}, **settings))), "from the environment")
    # The environment wins over the file's secret...
    with_secret = {**settings, "redis.sessions.secret": "throw-away"}
    assert _signs_with(factory_of(TestApp(main({}, **with_secret))), "from the environment")
    monkeypatch.delenv("SESSION_SECRET")
    assert _signs_with(factory_of(TestApp(main({}, **with_secret))), "throw-away")
    # ... and with neither, the app does not start, with the message the page quotes.
    with pytest.raises(InvalidSetting, match="^give exactly one of redis.sessions.secret and redis.sessions.cookie_signer"):
        main({}, **settings)


def test_the_scan_and_unlink_loop_deletes_only_the_prefix_s_keys(redis_server, redis_client):
    code = snippet("deployment", "scan_iter").code
    assert code.count("redis://redis.internal:6379/0") == 1
    redis_client.mset({f"shop:session:{i}": "x" for i in range(1234)})
    redis_client.mset({"shop:other": "x", "blog:session:1": "x"})
    exec(compile(code.replace("redis://redis.internal:6379/0", redis_server.url), "deployment.rst", "exec"), {})
    assert sorted(redis_client.keys()) == [b"blog:session:1", b"shop:other"]


# -- debugtoolbar / performance: installing this version ---------------------------


def test_no_page_tells_users_to_install_the_package_by_its_index_name():
    # pip install "pyramid_session_redis[extra]" fetches 1.8.1 from the index until this version is released.
    pages = [*DOCS.glob("*.rst"), ROOT / "README.md", ROOT / "demo" / "README.md"]
    bad = re.compile(r"pip install[^\n`]*?(?<![/.\w-])[\"']?pyramid_session_redis\[")
    offenders = [str(p.relative_to(ROOT)) for p in pages if bad.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    assert bad.search('pip install "pyramid_session_redis[debugtoolbar]"')
    assert not bad.search('pip install -e "../pyramid_session_redis[debugtoolbar]"')


# -- faq: pyramid_tm -------------------------------------------------------------------

# pyramid_tm and transaction are in the testing extra; without them these tests skip.


class FailingVote:
    """A data manager whose commit fails at the vote, as a database's can (a constraint, a conflict)."""

    transaction_manager = None

    def abort(self, txn: Any) -> None:
        pass

    def tpc_begin(self, txn: Any) -> None:
        pass

    def commit(self, txn: Any) -> None:
        pass

    def tpc_vote(self, txn: Any) -> None:
        raise RuntimeError("the database refused the order")

    def tpc_finish(self, txn: Any) -> None:
        pass

    def tpc_abort(self, txn: Any) -> None:
        pass

    def sortKey(self) -> str:
        return "failing-vote"


@pytest.fixture
def shop(importer, redis_server, redis_client):
    pytest.importorskip("pyramid_tm")
    module = importer(snippet("faq", "addAfterCommitHook"))
    app = TestApp(module.main({}, **{"redis.sessions.secret": SECRET, "redis.sessions.redis_url": redis_server.url}))
    app.shop = module
    return app


def test_pyramid_tm_after_a_commit_the_session_changes(shop):
    set_session(shop, {"cart": ["fig"], "user": "alice"})
    assert shop.post("/checkout").text == "ordered"
    assert session_of(shop) == {"user": "alice", "_f_": ["Thank you for your order."]}


def test_pyramid_tm_a_view_that_fails_leaves_the_session_as_it_was(shop):
    set_session(shop, {"cart": [], "user": "alice"})
    with pytest.raises(ValueError, match="at least one item"):
        shop.post("/checkout")
    assert session_of(shop) == {"cart": [], "user": "alice"}


def test_pyramid_tm_a_commit_that_fails_leaves_the_session_as_it_was(shop, monkeypatch):
    def save_order(request, items):
        request.tm.get().join(FailingVote())

    monkeypatch.setattr(shop.shop, "save_order", save_order)
    set_session(shop, {"cart": ["fig"], "user": "alice"})
    with pytest.raises(RuntimeError, match="the database refused the order"):
        shop.post("/checkout")
    assert session_of(shop) == {"cart": ["fig"], "user": "alice"}


@pytest.mark.parametrize("exception_view", [False, True], ids=["error", "exception view"])
def test_pyramid_tm_without_the_hook_the_session_changes_whatever_the_transaction_did(
        importer, redis_server, redis_client, exception_view):
    # What the page warns about: the cart is emptied though the order was never stored.
    pytest.importorskip("pyramid_tm")
    commits: List[bool] = []

    def naive_checkout(request):
        request.session.pop("cart")
        request.tm.get().addAfterCommitHook(commits.append)
        raise RuntimeError("the database refused the order")

    config = Configurator(settings={"redis.sessions.secret": SECRET, "redis.sessions.redis_url": redis_server.url})
    config.include("pyramid_tm")
    config.include("pyramid_session_redis")
    config.add_route("checkout", "/checkout")
    config.add_view(naive_checkout, route_name="checkout")
    if exception_view:
        config.add_view(lambda exc, request: request.response, context=RuntimeError)
    app = TestApp(config.make_wsgi_app())
    session_id = set_session(app, {"cart": ["fig"], "user": "alice"})
    if exception_view:
        app.post("/checkout")
    else:
        with pytest.raises(RuntimeError):
            app.post("/checkout")
    assert commits == []  # no commit was attempted: pyramid_tm aborted the transaction
    assert read_session(factory_of(app), session_id) == {"user": "alice"}  # and yet the cart is gone
