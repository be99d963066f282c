"""``labkit review``: a local web app where TAs grade the written answers of a graded folder.

Pages are Jinja templates (autoescaped) over the review store; every change is a JSON POST that
carries the session's CSRF token and is saved at once through the store, and the gradebook and
the student's feedback are rewritten right after (``ReportRefresher``). Student work reaches the
page only through ``render.render_cells``.
Every response carries a strict Content-Security-Policy: no inline script, nothing from
elsewhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
import time
from pathlib import Path

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    session,
)
from markupsafe import Markup
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from labkit.review import analysis, render
from labkit.review.store import ReviewError, ReviewStore, refresh_reports

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
REFRESHER_KEY = "labkit_review_reports"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_COMMENT_CHARS = 5_000
MAX_RUBRIC_TEXT_CHARS = 500
STATIC_DIR = Path(__file__).with_name("static")
TEMPLATE_DIR = Path(__file__).with_name("templates")

logger = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request whose JSON body is not what the endpoint takes; the message says why."""


def _store() -> ReviewStore:
    """This request's store connection (one per request, so concurrent graders both save).

    Page loads first bring the store up to date with the folder (a regrade shows at once);
    changes skip that, so a save stays quick.
    """
    if "store" not in g:
        g.store = ReviewStore.open(g.output_dir, sync=request.method == "GET")
    return g.store


def _body() -> dict:
    """The request's JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


_KIND_NAMES = {str: "a string", bool: "true or false", (int, float): "a number"}


def _field(body: dict, name: str, kind: type | tuple[type, ...], *, optional: bool = False):
    """``body[name]`` checked to be of ``kind`` (a number is never a boolean)."""
    if name not in body or body[name] is None:
        if optional:
            return None
        raise BadRequest(f"missing field {name!r}")
    value = body[name]
    wrong_bool = isinstance(value, bool) and kind is not bool
    if wrong_bool or not isinstance(value, kind):
        raise BadRequest(f"{name} must be {_KIND_NAMES.get(kind, kind)}, not {value!r:.40}")
    return value


def _text_field(body: dict, name: str, limit: int, *, optional: bool = False) -> str | None:
    """A string field of at most ``limit`` characters."""
    value = _field(body, name, str, optional=optional)
    if value is not None and len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return value


def _grade_json(grade) -> dict:
    """A store Grade as the page's scripts read it."""
    return {
        "submission": grade.submission,
        "question": grade.question,
        "score": grade.score,
        "comment": grade.comment,
        "rubric_ids": list(grade.rubric_ids),
        "stale": grade.stale,
        "updated_at": grade.updated_at,
    }


def _item_json(item) -> dict:
    """A store RubricItem as the page's scripts read it."""
    return {"id": item.id, "question": item.question, "points": item.points, "text": item.text}


def _progress_json(store: ReviewStore, question: str) -> dict:
    """How many answers to ``question`` have a score, out of how many."""
    graded, total = store.progress(question)
    return {"graded": graded, "total": total}


def _refresh(submissions: list[str] | None) -> None:
    """Have the gradebook and these submissions' feedback rewritten after a change."""
    current_app.extensions[REFRESHER_KEY].changed(submissions)


class ReportRefresher:
    """Rewrites the gradebook and feedback after changes, off the request path.

    Rewriting the gradebook reads every submission, far longer than saving a grade, so a save
    answers at once and a worker thread calls ``refresh_reports`` once the changes pause for
    ``delay`` seconds (a TA clicking through answers gets one rewrite, not one per click), and
    never later than ``max_delay`` seconds after the first change it has not written. The store
    is the record; the reports always follow it, and ``flush`` (called when the server stops)
    writes whatever is still pending. With ``delay`` None, every change is written before its
    request answers.
    """

    def __init__(self, output_dir: Path, *, delay: float | None = 0.5, max_delay: float = 2.0):
        self.output_dir = output_dir
        self.delay = delay
        self.max_delay = max(max_delay, delay or 0.0)
        self._pending: set[str] = set()
        self._everything = False
        self._dirty = False
        self._stopping = False
        self._last_change = 0.0
        self._condition = threading.Condition()
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None

    def changed(self, submissions: list[str] | None) -> None:
        """Note a change to ``submissions`` (None: possibly all of them)."""
        with self._condition:
            if submissions is None:
                self._everything = True
            else:
                self._pending.update(submissions)
            self._dirty = True
            self._last_change = time.monotonic()
            if self.delay is not None and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="labkit-review-reports", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        if self.delay is None:
            self.flush()

    def flush(self) -> None:
        """Write the pending changes now."""
        with self._writing:
            with self._condition:
                if not self._dirty:
                    return
                names = None if self._everything else sorted(self._pending)
                self._pending, self._everything, self._dirty = set(), False, False
            try:
                refresh_reports(self.output_dir, submissions=names)
            except Exception as exc:  # noqa: BLE001 -- the grades are safe in the store
                logger.error("could not rewrite the gradebook and feedback: %s", exc)
                # Not retried in a loop: the next change rewrites everything.
                with self._condition:
                    self._everything = True

    def close(self) -> None:
        """Stop the worker and write what is still pending."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._dirty and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                first = time.monotonic()
                while not self._stopping:
                    now = time.monotonic()
                    wait = min(self._last_change + self.delay, first + self.max_delay) - now
                    if wait <= 0:
                        break
                    self._condition.wait(wait)
            self.flush()


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

    @app.errorhandler(ReviewError)
    def refused(exc: ReviewError):
        if request.path.startswith("/api/"):
            return jsonify(error=str(exc)), 400
        return render_template("error.html", message=str(exc)), 404

    @app.context_processor
    def page_globals() -> dict:
        return {
            "csrf_token": session.get("csrf", ""),
            "anonymous": bool(session.get("anonymous")),
        }

    _add_pages(app)
    _add_api(app)
    return app


def _add_pages(app: Flask) -> None:
    """The HTML pages: questions, one question's answers, submissions, item analysis."""

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)  # no icon, and no 404 in the console for its absence

    @app.get("/")
    def index():
        store = _store()
        questions = [(q, store.progress(q.name)) for q in store.questions()]
        return render_template("index.html", questions=questions, output_dir=g.output_dir)

    @app.get("/questions/<name>")
    def question(name: str):
        store = _store()
        current = store.question(name)
        answers = store.answers(name)
        rendered = [render.render_cells(answer.cells) for answer in answers]
        students = {row.name: row.students for row in store.submissions()}
        return render_template(
            "question.html",
            question=current,
            questions=store.questions(),
            prompt=Markup(render.render_markdown(current.prompt)),
            reference=render.render_cells(current.reference),
            rubric=store.rubric(name),
            answers=list(zip(answers, rendered, strict=True)),
            students=students,
            progress=store.progress(name),
        )

    @app.get("/submissions")
    def submissions():
        rows = sorted(_store().submissions(), key=lambda row: (not row.flags, row.name))
        return render_template("submissions.html", rows=rows, questions=_store().questions())

    @app.get("/submissions/<name>")
    def submission(name: str):
        store = _store()
        return render_template(
            "submission.html", row=store.submission(name), questions=store.questions()
        )

    @app.get("/analysis")
    def item_analysis():
        report = analysis.analyse(_store())
        return render_template("analysis.html", report=report)

    @app.get("/analysis/<plot>.svg")
    def analysis_plot(plot: str):
        if plot not in analysis.PLOTS:
            abort(404)
        svg = analysis.PLOTS[plot](analysis.analyse(_store()))
        return Response(svg, mimetype="image/svg+xml")


def _add_api(app: Flask) -> None:
    """The JSON endpoints that change grades, rubric items and the anonymous switch."""

    @app.post("/api/score")
    def set_score():
        body = _body()
        submission = _field(body, "submission", str)
        question = _field(body, "question", str)
        score = _field(body, "score", (int, float), optional=True)
        store = _store()
        grade = store.set_score(submission, question, None if score is None else float(score))
        _refresh([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/comment")
    def set_comment():
        body = _body()
        submission = _field(body, "submission", str)
        question = _field(body, "question", str)
        comment = _text_field(body, "comment", MAX_COMMENT_CHARS)
        store = _store()
        grade = store.set_comment(submission, question, comment)
        _refresh([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/rubric")
    def add_rubric_item():
        body = _body()
        question = _field(body, "question", str)
        points = float(_field(body, "points", (int, float)))
        text = _text_field(body, "text", MAX_RUBRIC_TEXT_CHARS)
        item = _store().add_rubric_item(question, points=points, text=text)
        return jsonify(item=_item_json(item))

    @app.post("/api/rubric/<int:item_id>")
    def update_rubric_item(item_id: int):
        body = _body()
        points = _field(body, "points", (int, float), optional=True)
        text = _text_field(body, "text", MAX_RUBRIC_TEXT_CHARS, optional=True)
        store = _store()
        item = store.update_rubric_item(
            item_id, points=None if points is None else float(points), text=text
        )
        touched = [
            a.submission for a in store.answers(item.question) if item_id in a.grade.rubric_ids
        ]
        _refresh(touched)
        return jsonify(item=_item_json(item), grades=_question_grades(store, item.question))

    @app.post("/api/rubric/<int:item_id>/delete")
    def delete_rubric_item(item_id: int):
        store = _store()
        question = next(
            (
                q.name
                for q in store.questions()
                if any(i.id == item_id for i in store.rubric(q.name))
            ),
            None,
        )
        if question is None:
            raise ReviewError(f"no rubric item {item_id}")
        touched = [a.submission for a in store.answers(question) if item_id in a.grade.rubric_ids]
        store.delete_rubric_item(item_id)
        _refresh(touched)
        return jsonify(grades=_question_grades(store, question))

    @app.post("/api/rubric/<int:item_id>/apply")
    def apply_rubric_item(item_id: int):
        body = _body()
        submission = _field(body, "submission", str)
        question = _field(body, "question", str)
        applied = _field(body, "applied", bool)
        store = _store()
        grade = store.apply_rubric_item(submission, question, item_id, applied=applied)
        _refresh([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/anonymous")
    def set_anonymous():
        session["anonymous"] = bool(_field(_body(), "anonymous", bool))
        return jsonify(anonymous=session["anonymous"])

    @app.get("/api/questions/<name>/grades")
    def question_grades(name: str):
        store = _store()
        store.question(name)
        return jsonify(grades=_question_grades(store, name), progress=_progress_json(store, name))


def _question_grades(store: ReviewStore, question: str) -> dict[str, dict]:
    """Every answer's grade for ``question``, by submission."""
    return {answer.submission: _grade_json(answer.grade) for answer in store.answers(question)}


def check_graded_folder(output_dir: Path) -> None:
    """Raise ReviewError unless ``output_dir`` is a folder ``labkit grade`` wrote."""
    if not (Path(output_dir) / "gradebook.csv").is_file():
        raise ReviewError(
            f"{output_dir} is not a folder written by labkit grade (no gradebook.csv)"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address or name of this machine's loopback interface only."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def make_review_server(
    output_dir: Path, *, host: str = "127.0.0.1", port: int = 0
) -> BaseWSGIServer:
    """A threaded HTTP server for the review app, bound but not yet serving (port 0: any free).

    Raises ReviewError if ``output_dir`` is not a folder ``labkit grade`` wrote.
    """
    check_graded_folder(output_dir)
    ReviewStore.open(output_dir).close()  # creates and syncs the store, or says what is wrong
    # Served on another address on purpose, the app must answer to whatever name reaches it.
    app = create_app(output_dir, allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) else None)
    # Grades given in an earlier run whose reports were never rewritten (a killed server)
    # reach the gradebook now.
    app.extensions[REFRESHER_KEY].changed(None)
    app.extensions[REFRESHER_KEY].flush()
    return make_server(host, port, app, threaded=True, request_handler=_QuietRequestHandler)


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without a log line per request (errors are still logged)."""

    def log_request(self, code="-", size="-") -> None:
        pass


def close_review_server(server: BaseWSGIServer) -> None:
    """Close a server from ``make_review_server`` (shut down first); write pending reports."""
    server.server_close()
    server.app.extensions[REFRESHER_KEY].close()


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
