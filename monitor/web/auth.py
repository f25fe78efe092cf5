"""Signing in and out, one-time links, and acknowledging an incident from an alert.

Passwords are checked by `monitor.users` (argon2). Sign-in can also be by a one-time link emailed
through the configured Apprise email URL (`[web] mail_url`). Either way the session only learns
the user's id and `session_version`.

One-time links (sign-in, acknowledge) are signed, expiring, single-purpose and spent in the same
transaction as what they do. Opening one only shows a confirmation page: mail scanners open every
link in an email, so only the POST from that page acts.

Sign-in attempts are limited per client address and per email address (`[web] sign_in_limit`);
only failed attempts count, so staff signing in all day are never locked out by their own
successes.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy.orm import Session

from monitor import incidents, links, models
from monitor.web.access import viewer_or_none
from monitor.web.context import console, db, db_begin, hm_config, now

log = logging.getLogger(__name__)

auth = Blueprint("auth", __name__)

SESSION_KEYS = ("uid", "ver", "seen")
LINK_SENT = ("If that address belongs to a Hall Monitor account, a sign-in link is on its way. "
             "It works once, for {minutes} minutes.")
HARM_LABELS = {
    "safeguarding": "Safeguarding concern",
    "threat": "Threat",
    "personal_data": "Personal data about a pupil",
    "hostility": "Hostile comments",
}

__all__ = ["auth", "forget_sign_in", "init_app", "remember_sign_in"]


# --- the session -------------------------------------------------------------------------------

def remember_sign_in(user: models.StaffUser) -> None:
    """Start a signed-in session for this user (anything the session held before is dropped)."""
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    session["ver"] = user.session_version
    session["seen"] = now().timestamp()


def forget_sign_in() -> None:
    for key in SESSION_KEYS:
        session.pop(key, None)


def _next_location(target: str | None) -> str:
    """Where to go after signing in: a path on this console only, never another site."""
    # Browsers drop tabs and newlines from a URL ("/\t/evil.example" is "//evil.example") and
    # read a backslash as a slash: anything of the kind is refused, not cleaned.
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or not target.isprintable()):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def _email_field() -> str:
    return request.form.get("email", "").strip().lower()


# --- password sign-in --------------------------------------------------------------------------

@auth.get("/sign-in")
def sign_in_form() -> str | Response:
    if viewer_or_none() is not None:
        return redirect(_next_location(request.args.get("next")))
    return render_template("sign_in.html", next=request.args.get("next", ""),
                           email="", email_links=_mail_configured())


@auth.post("/sign-in")
def sign_in() -> tuple[str, int] | Response:
    from monitor import users

    email = _email_field()
    password = request.form.get("password", "")
    target = request.form.get("next", "")
    user = None
    if email and password:
        with db_begin() as session:  # a successful check may rehash the password or stamp it
            user = users.authenticate(session, email, password)
            if user is not None:
                user.last_sign_in_at = now()
    if user is None:
        # The same words for an unknown address, a wrong password and a disabled account, so
        # the page never says which addresses have accounts.
        page = render_template("sign_in.html", next=target, email=email,
                               error="That email address and password do not match an "
                               "account that can sign in.", email_links=_mail_configured())
        return page, 401
    remember_sign_in(user)
    return redirect(_next_location(target), 303)


@auth.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    flash("You are signed out.")
    return redirect("/sign-in", 303)


# --- sign-in by a link sent by email -----------------------------------------------------------

def _mail_configured() -> bool:
    return bool(hm_config().web.mail_url)


def _mail_url() -> str | None:
    """The Apprise email URL sign-in links are sent through (a reference is resolved, and kept
    out of the logs, when the config loads)."""
    config = hm_config()
    return config.secret(config.web.mail_url) if config.web.mail_url else None


def mail_to(url: str, address: str) -> str:
    """The Apprise email URL with its recipient replaced by `address`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() != "to"]
    query.append(("to", address))
    return urlunsplit(parts._replace(query=urlencode(query)))


@auth.get("/sign-in/email")
def email_link_form() -> str:
    return render_template("sign_in_email.html", email="", available=_mail_configured())


@auth.post("/sign-in/email")
def email_link() -> str:
    from monitor import users

    config = hm_config()
    email = _email_field()
    url = _mail_url()
    minutes = round(config.web.sign_in_link_ttl / 60)
    if url is not None and email:
        user = users.find_by_email(db(), email)
        if user is not None and not user.disabled:
            link = links.console_url(config, "/sign-in/" + links.make_token(
                current_app.secret_key, links.SIGN_IN, user.id))
            # Sent in the background: the answer takes as long for an unknown address as for a
            # known one, so its timing does not say which addresses have accounts.
            threading.Thread(target=_send_link, args=(mail_to(url, user.email), link, minutes),
                             name="sign-in-link", daemon=True).start()
    return render_template("sign_in_email_sent.html", text=LINK_SENT.format(minutes=minutes))


def _send_link(url: str, link: str, minutes: int) -> None:
    from monitor.notify import send_apprise

    body = (f"Someone (we hope you) asked to sign in to Hall Monitor.\n\n"
            f"Open this link to sign in. It works once, within {minutes} minutes:\n{link}\n\n"
            "If you did not ask for it, ignore this message: nobody can use it without "
            "access to your email.")
    result = send_apprise(url, "Your Hall Monitor sign-in link", body)
    if not result.ok:
        log.warning("a sign-in link could not be sent: %s", result.reason)


def _read_link(purpose: str, token: str, ttl: float) -> links.Link:
    return links.read_token(current_app.secret_key, purpose, token, ttl)


def _spend(session: Session, link: links.Link) -> None:
    """Spend the link in the transaction of what it does, after that has been written: on
    SQLite a savepoint opened before any write releases as a commit of its own, which would
    spend the link even when what it does is then rolled back. A link spent already raises
    LinkError, and the whole transaction is rolled back."""
    session.flush()
    links.spend(session, link, now())


def _refused(error: links.LinkError | str, code: int = 400, *, what: str) -> tuple[str, int]:
    return render_template("error.html", code=code, title=f"This {what} link cannot be used",
                           text=f"{str(error).capitalize()}.", link_refused=what), code


@auth.get("/sign-in/<token>")
def sign_in_link(token: str) -> str | tuple[str, int]:
    try:
        link = _read_link(links.SIGN_IN, token, hm_config().web.sign_in_link_ttl)
        if links.is_spent(db(), link):
            raise links.LinkError("this link has already been used")
    except links.LinkError as error:
        return _refused(error, what="sign-in")
    user = db().get(models.StaffUser, link.subject)
    if user is None or user.disabled:
        return _refused("this account cannot sign in", 403, what="sign-in")
    return render_template("sign_in_link.html", email=user.email)


@auth.post("/sign-in/<token>")
def sign_in_by_link(token: str) -> tuple[str, int] | Response:
    try:
        with db_begin() as session:
            link = _read_link(links.SIGN_IN, token, hm_config().web.sign_in_link_ttl)
            user = session.get(models.StaffUser, link.subject)
            if user is None or user.disabled:
                raise links.LinkError("this account cannot sign in")
            user.last_sign_in_at = now()
            _spend(session, link)
    except links.LinkError as error:
        return _refused(error, what="sign-in")
    remember_sign_in(user)
    return redirect("/", 303)


# --- acknowledging from an alert ---------------------------------------------------------------

def _incident_summary(incident: models.Incident) -> dict[str, object]:
    """What the confirmation page says about the incident: no more than the alert already did,
    and no comment text (the person holding the link may not be signed in). Times, severity and
    status are written as everywhere else in the console."""
    from monitor.web.pages.filters import local_time, severity_label, status_label

    config = hm_config()
    school = config.find_school(incident.school_id)
    tz = config.school_timezone(school) if school else config.daemon.timezone
    # A category that only repeats the harm adds nothing ("Threat (threat)").
    also = [c for c in incident.categories or [] if c != incident.harm]
    return {
        "id": incident.id,
        "school": config.school_name(incident.school_id),
        "harm": HARM_LABELS.get(incident.harm, incident.harm.replace("_", " ")),
        "categories": ", ".join(c.replace("_", " ") for c in also),
        "severity": incident.severity,
        "severity_label": severity_label(incident.severity),
        "opened": local_time(incident.opened_at, tz),
        "opened_iso": incident.opened_at.isoformat() if incident.opened_at else "",
        "item_count": incident.item_count,
        "status": incident.status,
        "status_label": status_label(incident.status),
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": local_time(incident.acknowledged_at, tz)
        if incident.acknowledged_at else None,
    }


def _ack_actor(incident: models.Incident) -> str:
    """Who acknowledged: the signed-in member of staff if there is one who may see this school,
    else whoever holds the alert's link."""
    viewer = viewer_or_none()
    if viewer is not None and viewer.sees_school(incident.school_id):
        return viewer.email
    return f"alert link recipient at {hm_config().school_name(incident.school_id)}"


@auth.get("/ack/<token>")
def ack_confirm(token: str) -> str | tuple[str, int]:
    try:
        link = _read_link(links.ACKNOWLEDGE, token, hm_config().web.ack_link_ttl)
        if links.is_spent(db(), link):
            raise links.LinkError("this link has already been used")
    except links.LinkError as error:
        return _refused(error, what="acknowledge")
    incident = db().get(models.Incident, link.subject)
    if incident is None:
        return _refused("this incident no longer exists", 404, what="acknowledge")
    return render_template("ack.html", incident=_incident_summary(incident))


@auth.post("/ack/<token>")
def ack(token: str) -> str | tuple[str, int]:
    try:
        with db_begin() as session:
            link = _read_link(links.ACKNOWLEDGE, token, hm_config().web.ack_link_ttl)
            incident = session.get(models.Incident, link.subject)
            if incident is None:
                raise links.LinkError("this incident no longer exists")
            incidents.record_acknowledgement(session, incident, _ack_actor(incident), now(),
                                             via=incidents.VIA_ALERT_LINK)
            _spend(session, link)
            summary = _incident_summary(incident)
    except links.LinkError as error:
        return _refused(error, what="acknowledge")
    except incidents.IncidentError as error:
        return _refused(str(error), 409, what="acknowledge")
    log.info("incident %s acknowledged from an alert link", summary["id"])
    return render_template("ack_done.html", incident=summary)


# --- wiring ------------------------------------------------------------------------------------

def _email_key() -> str:
    return "email:" + _email_field()


def _failed(response: Response) -> bool:
    return response.status_code != 303


def init_app(app: Flask) -> None:
    """Register the routes, with sign-in attempts limited by a Flask-Limiter of this app's own
    (in memory: each console process counts its own attempts)."""
    app.register_blueprint(auth)
    limit = console(app).config.web.sign_in_limit
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://",
                      strategy="moving-window", headers_enabled=False)
    for endpoint, deduct_when in (("auth.sign_in", _failed), ("auth.email_link", None)):
        view = app.view_functions[endpoint]
        view = limiter.limit(limit, methods=["POST"], deduct_when=deduct_when)(view)
        view = limiter.limit(limit, key_func=_email_key, methods=["POST"],
                             deduct_when=deduct_when)(view)
        app.view_functions[endpoint] = view
    app.extensions["hallmonitor_limiter"] = limiter

