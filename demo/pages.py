"""The demo's HTML, as plain Python string templates.

Whatever a visitor could have chosen (a flash message, a user name, the
session's contents, a request's path) goes through ``esc`` before it is put
in a page; only the HTML built here is inserted as it is.
"""

from __future__ import annotations

import json
from html import escape as esc
from typing import Any, Dict, List, Optional, Sequence

from pyramid.request import Request

from .requestlog import LoggedRequest

LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - pyramid_session_redis demo</title>
<style>
  body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }}
  .flash {{ background: #ffd; border: 1px solid #cc9; padding: .4em .6em; }}
  code {{ background: #f3f3f3; }}
  table {{ border-collapse: collapse; }}
  th, td {{ border: 1px solid #ccc; padding: .2em .5em; text-align: left; vertical-align: top; }}
  .note {{ color: #555; font-size: .9em; }}
</style>
</head>
<body>
<nav><a href="{home}">Home</a> | <a href="{session}">This session</a></nav>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def layout(request: Request, title: str, body: str) -> str:
    return LAYOUT.format(
        title=esc(title), body=body, home=request.route_path("home"), session=request.route_path("session")
    )


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf_token" value="{esc(token)}">'


def home_page(request: Request, user: Optional[str], visits: int, flashes: Sequence[Any], csrf_token: str) -> str:
    csrf = csrf_field(csrf_token)
    flash_html = "".join(f'<p class="flash">{esc(str(message))}</p>\n' for message in flashes)
    if user:
        account = f"""<p>Logged in as <strong id="user">{esc(user)}</strong>.</p>
<form method="post" action="{request.route_path("logout")}">{csrf}<button type="submit">Log out</button></form>"""
    else:
        account = f"""<form method="post" action="{request.route_path("login")}">{csrf}
  <label>User name <input name="user" maxlength="40" required></label> <button type="submit">Log in</button>
</form>
<p class="note">Logging in gives the session a new id (<code>regenerate_id()</code>) and keeps its contents.</p>"""
    body = f"""{flash_html}{account}
<p>You have visited this page <strong id="visits">{visits}</strong> times in this session.</p>
<form method="post" action="{request.route_path("say")}">{csrf}
  <input name="message" maxlength="200" placeholder="a message to flash"> <button type="submit">Flash it</button>
</form>
<p class="note">Every form carries the session's CSRF token; a request without it gets a 400.</p>
<p><a href="{request.route_path("session")}">What is in this session, and which Redis commands did it take?</a></p>
"""
    return layout(request, "Sessions in Redis", body)


def _ttl_text(session_id: Optional[str], ttl: Optional[int]) -> str:
    if session_id is None:
        return "none: this browser has no stored session yet"
    if ttl is None:
        return "unknown (this app's session factory has no shared store to ask)"
    if ttl == -2:
        return "not in Redis (yet: a new session is written after this page is rendered)"
    if ttl == -1:
        return "no expiry"
    return f'<strong id="ttl">{ttl}</strong> seconds'


COMMANDS_CLASS = 'class="commands"'


def _command_list(commands: Sequence[str], attributes: str) -> str:
    if not commands:
        return f"<p {attributes}>none</p>"
    items = "".join(f"<li><code>{esc(command)}</code></li>" for command in commands)
    return f"<ol {attributes}>{items}</ol>"


def session_page(
    request: Request,
    session_id: Optional[str],
    ttl: Optional[int],
    contents: Dict[str, Any],
    commands_so_far: Optional[List[str]],
    log: Optional[List[LoggedRequest]],
) -> str:
    rows = "".join(
        f"<tr><td><code>{esc(str(key))}</code></td><td><code>{esc(json.dumps(value, default=repr))}</code></td></tr>"
        for key, value in sorted(contents.items(), key=lambda item: str(item[0]))
    )
    if rows:
        contents_html = f'<table id="contents"><tr><th>key</th><th>value (as JSON)</th></tr>{rows}</table>'
    else:
        contents_html = '<p id="contents">empty</p>'
    if commands_so_far is None:
        so_far = "<p>(this request is not traced)</p>"
    else:
        so_far = _command_list(commands_so_far, 'id="commands-so-far"')
    if log is None:
        log_html = "<p>(no log in this app)</p>"
    else:
        log_rows = "".join(
            f"<tr><td>{esc(entry.method)} <code>{esc(entry.path)}</code></td><td>{esc(entry.action)}</td>"
            f"<td>{_command_list(entry.commands, COMMANDS_CLASS)}</td></tr>"
            for entry in log
        )
        header = "<tr><th>request</th><th>the policy's decision</th><th>Redis commands</th></tr>"
        log_html = f'<table id="log">{header}{log_rows}</table>'
    shown_id = f'<code id="session-id">{esc(session_id)}</code>' if session_id else '<span id="session-id">none</span>'
    body = f"""<p>Session id: {shown_id}</p>
<p>Time to live in Redis: {_ttl_text(session_id, ttl)}</p>
<p class="note">The demo reads the time to live with its own <code>TTL</code> command, after the session was
loaded (with <code>memory://</code>, it asks the in-process store).  pyramid_session_redis never sends it,
so it is in neither list below.</p>
<h2>Contents</h2>
{contents_html}
<h2>Redis commands this request has sent so far</h2>
{so_far}
<p class="note">The session is written at the very end of the request, in a Pyramid finished callback that
runs after this page is rendered, so a write made by this request is not listed above: it appears in the
log below on the next visit.</p>
<h2>The last requests this process finished</h2>
<p class="note">Newest first, at most 10, from every visitor: session ids are cut short.</p>
{log_html}
"""
    return layout(request, "This session", body)


def redis_failed_page(request: Request, error: str) -> str:
    body = (
        '<p class="flash">The demo cannot reach its Redis, where the sessions live: '
        "no page can load or store a session until Redis answers again.</p>\n"
        f"<p><code>{esc(error)}</code></p>\n"
        '<p class="note">The library raised <code>SessionBackendError</code>; the demo renders it '
        "with an exception view (see docs/reliability.rst).</p>"
    )
    return layout(request, "Redis is unreachable", body)
