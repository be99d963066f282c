"""``labkit review``: a local web app where TAs grade the written answers of a graded folder.

The app (``create_app``) is thin: pages (``pages``) and JSON endpoints (``api``) over the review
store (``labkit.gradebook.store``), each request with a store connection of its own
(``requests``). Every change carries the session's CSRF token and is saved at once; the gradebook
and the students' feedback are rewritten right after (``refresher``). Student work reaches a page
only through ``render.render_cells``. Every response carries a strict Content-Security-Policy: no
inline script, nothing from elsewhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
from pathlib import Path

from flask import Flask, Response, g, jsonify, render_template, request, session
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from labkit.gradebook.folder import GradebookError, GradedFolder
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore
from labkit.review.api import add_api
from labkit.review.identity import Identity
from labkit.review.pages import add_pages
from labkit.review.refresher import ReportRefresher
from labkit.review.requests import REFRESHER_KEY, BadRequest, request_store

logger = logging.getLogger(__name__)
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC_DIR = Path(__file__).with_name("static")
TEMPLATE_DIR = Path(__file__).with_name("templates")


def create_app(
    output_dir: Path,
    *,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
    report_delay: float | None = 0.5,
) -> Flask:
    """The review app over ``output_dir`` (a folder written by ``labkit grade``).

    Args:
        output_dir: the graded folder; the store lives in ``output_dir/review.sqlite``.
        allowed_hosts: Host header values the app answers to (loopback names by default), so
            a web page elsewhere cannot reach it by DNS rebinding; None answers to any.
        report_delay: the pause in changes after which the gradebook and feedback are
            rewritten (see ``ReportRefresher``); None rewrites them before a change's request
            answers.
    """
    output_dir = Path(output_dir).resolve()
    app = Flask(
        __name__,
        static_folder=str(STATIC_DIR),
        template_folder=str(TEMPLATE_DIR),
    )
    app.config.update(
        # A new key per run: a page left open from an earlier run must be reloaded to save.
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="labkit_review",
        TRUSTED_HOSTS=None if allowed_hosts is None else list(allowed_hosts),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.extensions[REFRESHER_KEY] = ReportRefresher(output_dir, delay=report_delay)

    @app.before_request
    def before() -> Response | None:
        g.output_dir = output_dir
        request.host  # noqa: B018 -- reading it checks the Host header against TRUSTED_HOSTS
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
                response = jsonify(error="refused: missing or wrong CSRF token (reload the page)")
                response.status_code = 403
                return response
        return None

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_appcontext
    def close_store(_exc: BaseException | None) -> None:
        store = g.pop("store", None)
        if store is not None:
            store.close()

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return jsonify(error=str(exc)), 400

    @app.errorhandler(GradebookError)
    def refused(exc: GradebookError):
        message = str(exc)
        try:  # a refusal names a submission by file name: in anonymous grading, by pseudonym
            message = Identity.of_store(request_store()).redact(message)
        except Exception:  # noqa: BLE001 -- no store: the refusal is about the folder itself
            pass
        if request.path.startswith("/api/"):
            return jsonify(error=message), 400
        return render_template("error.html", message=message), 404

    @app.context_processor
    def page_globals() -> dict:
        try:
            anonymous = request_store().anonymous  # kept in the store: every TA, every run
        except Exception:  # noqa: BLE001 -- a page about a broken store names no one
            anonymous = True
        return {"csrf_token": session.get("csrf", ""), "anonymous": anonymous}

    add_pages(app)
    add_api(app)
    return app


def make_review_server(
    output_dir: Path, *, host: str = "127.0.0.1", port: int = 0
) -> BaseWSGIServer:
    """A threaded HTTP server for the review app, bound but not yet serving (port 0: any free).

    Raises GradebookError if ``output_dir`` is not a folder ``labkit grade`` wrote.
    """
    GradedFolder(output_dir).check()
    ReviewStore.open(output_dir).close()  # creates and syncs the store, or says what is wrong
    # Served on another address on purpose, the app must answer to whatever name reaches it.
    app = create_app(output_dir, allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None)
    # Grades given in an earlier run whose reports were never rewritten (a killed server)
    # reach the gradebook now.
    app.extensions[REFRESHER_KEY].changed(None)
    app.extensions[REFRESHER_KEY].flush()
    return make_server(host, port, app, threaded=True, request_handler=_QuietRequestHandler)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address or name of this machine's loopback interface only."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request (errors are still logged)."""

    def log_request(self, code="-", size="-") -> None:
        pass


def close_review_server(server: BaseWSGIServer) -> None:
    """Close a server from ``make_review_server`` (shut down first); write pending reports and
    redraw ``summary.png`` with the grades given."""
    server.server_close()
    refresher = server.app.extensions[REFRESHER_KEY]
    refresher.close()
    try:
        refresh_reports(GradedFolder(refresher.output_dir), summary=True)
    except Exception as exc:  # noqa: BLE001 -- the grades are safe in the store
        logger.error("could not redraw summary.png: %s", exc)


def server_url(server: BaseWSGIServer) -> str:
    """The address a browser opens to reach ``server``."""
    host = server.host if ":" not in server.host else f"[{server.host}]"
    return f"http://{host}:{server.server_port}/"


def serve(
    output_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    announce=print,
    stop: threading.Event | None = None,
) -> None:
    """Serve the review app until Ctrl-C (or until ``stop`` is set), then close cleanly."""
    server = make_review_server(output_dir, host=host, port=port)
    announce(f"labkit review: serving {output_dir} at {server_url(server)} (Ctrl-C stops)")
    if not is_loopback(host):
        announce(
            f"warning: listening on {host}: anyone who can reach it can read the submissions and "
            "change grades (the app has no login)"
        )
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), server.shutdown()), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        close_review_server(server)
