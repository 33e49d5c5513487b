"""Sign-in and sign-out of the desk; who is signed in is `g.user` (set in __init__.guard)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from feedsvc.app import services
from feedsvc.users import authenticate
from feedsvc.web.desk import bp, csrf_token


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would let a link sign someone in elsewhere.
    if target and target.startswith("/desk") and not urlsplit(target).netloc:
        return target
    return url_for("desk.articles")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "")
        with services().sessions() as db_session:
            user = authenticate(db_session, username, request.form.get("password", ""))
        if user is not None:
            lang = session.get("lang")
            session.clear()  # a fresh session at sign-in: no fixation
            session["user_id"] = user.id
            if lang:
                session["lang"] = lang
            csrf_token()
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))  # type: ignore[return-value]
        error = _("Wrong user name or password.")
    page = render_template(
        "desk/login.html", error=error, username=username, next=request.args.get("next", "")
    )
    return (page, 401) if error else page


@bp.post("/logout")
def logout() -> Response:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("desk.login"))  # type: ignore[return-value]
