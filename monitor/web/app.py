"""The console application: Flask, with its maintained extensions doing the security work.

- Sessions are Flask's cookie sessions, signed by itsdangerous with the key from
  `links.signing_key` (the config's `[web] secret_key`, or one generated once and kept in the
  database so every daemon sharing it agrees). A session holds only the staff user's id, their
  `session_version` and when it was last used: it ends after `[web] session_idle` unused, and is
  refused as soon as the account is disabled or its password reset (the version changes).
- Every POST needs Flask-WTF's CSRF token; sign-in attempts are rate limited by Flask-Limiter.
- Cookies are HttpOnly and SameSite=Lax, and Secure whenever the request came over https (behind
  a reverse proxy, its X-Forwarded-Proto says so when `[web] behind_proxy` is set).
- Every response carries a strict Content-Security-Policy (no inline script, no framing) and
  Referrer-Policy no-referrer: one-time links carry their token in the path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask, Response, g, render_template, render_template_string, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from monitor import links, models
from monitor.config import Config
from monitor.web import auth
from monitor.web.access import Viewer, login_required, viewer_or_none
from monitor.web.context import EXTENSION, Console, close_db, db, hm_config, now

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # One-time links carry their token in the path: never hand a page's address to anyone.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ROLE_LABELS = {
    "digital_champion": "digital champion",
    "dsl": "DSL",
    "head": "headteacher",
    "it": "IT",
    "admin": "trust admin",
}
# How stale the "last used" time in a session may get before it is rewritten: the idle limit is
# judged to within this, and the cookie is not reissued on every click.
SEEN_RESOLUTION = 60.0

ERROR_TEXT = {
    400: ("Something was wrong with that request", "Go back, reload the page and try again."),
    403: ("Not available to you", "Your account cannot see this page. If you think it should, "
          "ask whoever runs Hall Monitor for your school."),
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not allowed", "This page cannot be used that way."),
    429: ("Too many attempts", "There have been too many attempts to sign in. Wait a minute, "
          "then try again."),
    500: ("Something went wrong", "The console could not finish this. Try again; if it keeps "
          "happening, tell IT."),
}


class ConsoleFlask(Flask):
    def log_exception(self, exc_info) -> None:  # type: ignore[override]
        # Flask names the path, and a one-time link's path is its token: name the view instead.
        self.logger.error("unexpected error in %s [%s]", request.endpoint, request.method,
                          exc_info=exc_info)


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, marked Secure when the request came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def create_app(config: Config, sessions: sessionmaker[Session], *,
               clock: Callable[[], datetime] | None = None) -> Flask:
    """The console for this config and database. `clock` (UTC) is for tests that move time."""
    app = ConsoleFlask(__name__)
    app.extensions[EXTENSION] = Console(config, sessions, clock or (lambda: datetime.now(UTC)))
    web = config.web
    with sessions.begin() as session:
        app.secret_key = links.signing_key(config, session)
    app.config.update(
        SESSION_COOKIE_NAME="hallmonitor_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=web.session_idle),
        # The token is tied to the session, not to the clock: a confirmation page left open
        # for an hour still works.
        WTF_CSRF_TIME_LIMIT=None,
        # Flask-WTF's https check wants a Referer; our pages send none (no-referrer), so the
        # token and SameSite cookies are what stop cross-site posts.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.session_interface = ConsoleSessions()
    app.jinja_env.autoescape = True
    app.jinja_env.filters["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    if web.behind_proxy:
        # One reverse proxy in front: trust its forwarded client address, scheme and host.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    CSRFProtect(app)
    auth.init_app(app)
    _register_pages(app)
    app.before_request(_load_viewer)
    app.teardown_appcontext(close_db)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    for code in ERROR_TEXT:
        app.register_error_handler(code, _error_page)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.add_url_rule("/healthz", "healthz", _healthz)
    return app


def _register_pages(app: Flask) -> None:
    try:
        from monitor.web.pages import pages
    except ModuleNotFoundError as exc:
        if exc.name != "monitor.web.pages":
            raise
        pages = None
    if pages is not None:
        app.register_blueprint(pages)
    if not any(rule.rule == "/" for rule in app.url_map.iter_rules()):
        app.add_url_rule("/", "home", _home)


@login_required
def _home() -> str:
    # Only while the pages are not installed: the queue normally lives here.
    return render_template_string(
        '{% extends "base.html" %}{% block title %}Signed in{% endblock %}'
        '{% block content %}<h1>Signed in</h1>{% endblock %}')


def _load_viewer() -> None:
    """Who is signed in, from the session: nobody if it has been idle too long, or the account
    is gone, disabled or has been reset since."""
    g.viewer = None
    user_id = session.get("uid")
    if user_id is None or request.endpoint == "static":  # a stylesheet needs nobody
        return
    config = hm_config()
    current = now().timestamp()
    seen = session.get("seen", 0.0)
    user = None
    if current - seen <= config.web.session_idle:
        user = db().get(models.StaffUser, user_id)
    if user is None or user.disabled or user.session_version != session.get("ver"):
        auth.forget_sign_in()
        return
    g.viewer = viewer_of(user)
    if current - seen >= SEEN_RESOLUTION:
        session["seen"] = current


def viewer_of(user: models.StaffUser) -> Viewer:
    return Viewer(id=user.id, email=user.email, name=user.name, role=user.role,
                  school_id=user.school_id)


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        # Pages show who did what to whom: no copies in shared caches or the back button's.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _template_globals() -> dict[str, object]:
    viewer = viewer_or_none()
    config = hm_config()
    if viewer is None:
        schools = ""
    elif viewer.school_id is not None:
        schools = config.school_name(viewer.school_id)
    else:
        schools = ", ".join(school.name for school in config.schools)
    return {"viewer": viewer, "header_schools": schools}


def _error_page(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
    return render_template("error.html", code=code, title=title, text=text), code


def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    # The usual cause is a page opened long ago, before a sign-out or restart.
    text = Markup("This form had expired or was not sent from the console. Go back, reload "
                  "the page and try again.")
    return render_template("error.html", code=400, title="Please try again", text=text), 400


def _healthz() -> Response:
    """For a load balancer or uptime check: the console answers and reaches its database."""
    from sqlalchemy import text

    try:
        db().execute(text("SELECT 1"))
    except Exception:  # a database down is the answer, not a crash
        log.warning("health check: the database did not answer")
        return Response("database unavailable\n", 503, mimetype="text/plain")
    return Response("ok\n", 200, mimetype="text/plain")
