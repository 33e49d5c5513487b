"""The editors' desk: server-rendered pages under /desk (sign-in, articles, feeds, taxonomy).

This module owns what every desk page shares: the blueprint, sign-in enforcement, CSRF on
every POST, the security headers (CSP), the session cookie and the language (Flask-Babel,
zh-Hans by default, English on request). The pages live in the sibling modules.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel, get_locale, lazy_gettext
from werkzeug.exceptions import HTTPException

from feedsvc.app import services
from feedsvc.config import Settings
from feedsvc.errors import FeedsvcError
from feedsvc.users import active_user

bp = Blueprint(
    "desk",
    __name__,
    url_prefix="/desk",
    template_folder="../templates",
    static_folder="../static/desk",
    static_url_path="/static",
)

LANGUAGES = ("zh_Hans", "en")
TRANSLATIONS = Path(__file__).resolve().parent.parent.parent / "translations"
# Everything the desk loads comes from this origin; no inline script or style at all.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PUBLIC_ENDPOINTS = {"desk.login", "desk.static"}
# Words the templates translate from data (article statuses, user roles): listed here so
# the message extractor finds them.
DATA_WORDS = (
    lazy_gettext("draft"),
    lazy_gettext("scheduled"),
    lazy_gettext("published"),
    lazy_gettext("retracted"),
    lazy_gettext("editor"),
    lazy_gettext("admin"),
)


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def select_locale() -> str:
    if request.blueprint == "desk" or request.path.startswith("/desk"):
        asked = request.args.get("lang")
        if asked in LANGUAGES:
            session["lang"] = asked
        chosen = session.get("lang")
        if chosen in LANGUAGES:
            return str(chosen)
    return LANGUAGES[0]


@bp.before_request
def guard() -> Response | None:
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf")
        if not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
            return _refused()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user_id = session.get("user_id")
    user = None
    if isinstance(user_id, int):
        with services().sessions() as db_session:
            user = active_user(db_session, user_id)
    if user is None:
        session.pop("user_id", None)
        if request.path.startswith("/desk/api/"):
            return Response('{"error": "sign in first"}', 401, mimetype="application/json")
        return redirect(url_for("desk.login", next=request.full_path.rstrip("?")))  # type: ignore[return-value]
    g.user = user
    return None


def _refused() -> Response:
    from flask_babel import gettext as _

    body = render_template(
        "desk/error.html",
        title=_("Form refused"),
        message=_("The form was missing its security token or it expired. Reload and retry."),
    )
    return Response(body, 400)


@bp.after_app_request
def security_headers(response: Response) -> Response:
    if request.path.startswith("/desk"):
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        if not request.path.startswith("/desk/static/"):
            response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[str, int]:
    return render_template(
        "desk/error.html", title=exc.name, message=exc.description
    ), exc.code or 500


@bp.errorhandler(FeedsvcError)
def use_case_error(exc: FeedsvcError) -> tuple[str, int]:
    # e.g. an article id that no longer exists: a page, not the API's problem+json
    return render_template("desk/error.html", title=exc.title, message=exc.detail), exc.status


@bp.get("/")
def home() -> Response:
    return redirect(url_for("desk.articles"))  # type: ignore[return-value]


def _local_time(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else "—"


def _age(delta: timedelta) -> str:
    """A short, language-neutral age: 3d 4h, 5h 10m, 42m."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def register(app: Flask) -> None:
    """Wire the desk into the app: cookie, language, template helpers, blueprints."""
    # Importing the page modules adds their routes to bp.
    from feedsvc.web.desk import articles, auth, health, live, preview, taxonomy  # noqa: F401

    settings: Settings = app.extensions["feedsvc"].settings
    app.secret_key = settings.secret_key or secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_NAME="feedsvc_desk",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=12 * 3600,
    )
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=LANGUAGES[0],
        default_translation_directories=str(TRANSLATIONS),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["desk_locale"] = lambda: str(get_locale())
    app.jinja_env.filters["desk_time"] = _local_time
    app.jinja_env.filters["desk_age"] = _age
    app.jinja_env.globals["desk_languages"] = LANGUAGES
    app.register_blueprint(bp)
