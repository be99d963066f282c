"""``labkit review``: the web app over a graded folder, through Flask's client and a real browser.

Graded folders are written here as ``labkit grade`` writes them (results.json per submission,
written_questions.json, gradebook.csv), without running the grader. The browser tests drive
Debian's chromium through Playwright; they carry the slow marker.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from review_helpers import write_gradebook

from labkit.cli import main
from labkit.gradebook.outcome import Outcome, Status
from labkit.gradebook.store import ReviewStore
from labkit.gradebook.written import (
    WrittenQuestion,
    answer_fingerprint,
    is_empty,
    questions_to_json,
)
from labkit.review import app as review_app

WRITTEN = {"q_confusion": 2.0, "q_modified_digit": 2.0, "q_l1_reading": 1.0}
AUTOGRADED = {"q_z": 1.0, "q_softmax": 2.0, "q_predict": 1.0}
PROMPTS = {
    "q_confusion": "Which two digits does the model confuse most, and why? Use $P(y=k \\mid x)$.",
    "q_modified_digit": "Draw a digit the model gets wrong and show it.",
    "q_l1_reading": "What does the number of zero coefficients tell you?",
}


@functools.cache
def _digits_by_class() -> tuple:
    """The lab's MNIST pixels, and the row numbers of each class."""
    from labkit.data import load_mnist

    pixels, labels = load_mnist()
    return pixels, {
        str(k): [i for i, label in enumerate(labels) if label == str(k)] for k in range(10)
    }


@functools.cache
def digit_png(index: int, variant: int = 0) -> str:
    """Base64 PNG of one of the lab's MNIST digits of class ``index % 10``, drawn large: the
    digit the ``index``-th student drew (``variant`` 1: the same class, another sample)."""
    from PIL import Image

    pixels, classes = _digits_by_class()
    same_class = classes[str(index % 10)]
    chosen = same_class[(index // 10 * 7 + variant * 300) % len(same_class)]
    image = Image.fromarray(255 - pixels[chosen].reshape(28, 28))
    buffer = io.BytesIO()
    image.resize((112, 112), Image.NEAREST).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


HOSTILE_MARKER = "PWNED"


def _markdown(source: str, attachments: dict | None = None) -> dict:
    return {"cell_type": "markdown", "source": source, "attachments": attachments or {}}


def honest_answer(question: str, index: int) -> list[dict]:
    """A varied, honest answer cell list for ``question`` by the ``index``-th student."""
    if question == "q_confusion":
        return [
            _markdown(
                f"Student {index}: 4 and 9 look alike, so $P(y=4 \\mid x) \\approx 0.{index % 10}$."
            )
        ]
    if question == "q_modified_digit":
        return [
            _markdown(
                f"I drew a {index % 10} that the model reads wrong:\n\n"
                "![my digit](attachment:digit.png)",
                {"digit.png": {"image/png": digit_png(index)}},
            ),
            {
                "cell_type": "code",
                "source": "plt.imshow(preprocess_image(photo), cmap='gray')",
                "outputs": [
                    {"output_type": "display_data", "data": {"image/png": digit_png(index, 1)}}
                ],
            },
        ]
    return [_markdown(f"About {index * 7 % 300} coefficients are zero: **sparse** weights.")]


HOSTILE_ANSWER = [
    _markdown(
        f"<script>document.title = '{HOSTILE_MARKER}'</script>\n\n"
        f"<img src=x onerror=\"document.title='{HOSTILE_MARKER}'\">\n\n"
        f"[click me](javascript:document.title='{HOSTILE_MARKER}')\n\n"
        '<svg onload="alert(1)"></svg> $\\href{javascript:alert(1)}{x}$'
    ),
    {
        "cell_type": "code",
        "source": "display(HTML(payload))",
        "outputs": [
            {
                "output_type": "display_data",
                "data": {
                    "text/html": f"<script>alert('{HOSTILE_MARKER}')</script>"
                    f"<img src=x onerror=\"alert('{HOSTILE_MARKER}')\">"
                },
            },
            {"output_type": "display_data", "data": {"image/svg+xml": "<svg onload='alert(1)'/>"}},
        ],
    },
]


def _written_entry(cells: list[dict]) -> dict:
    return {
        "cells": cells,
        "fingerprint": answer_fingerprint(cells),
        "empty": is_empty(cells),
        "notes": [],
    }


def write_graded_folder(
    out: Path,
    count: int,
    *,
    hostile: tuple[str, ...] = (),
    flagged: tuple[str, ...] = (),
) -> list[str]:
    """Write a graded folder of ``count`` submissions as ``labkit grade`` leaves it.

    Submissions named in ``hostile`` answer every written question with ``HOSTILE_ANSWER``;
    those in ``flagged`` carry an integrity flag. Returns the submission names.
    """
    out.mkdir(parents=True, exist_ok=True)
    questions = [WrittenQuestion(q, p, PROMPTS[q], honest_answer(q, 0)) for q, p in WRITTEN.items()]
    (out / "written_questions.json").write_text(questions_to_json(questions))
    names = [f"student_{i:03d}.ipynb" for i in range(count)] + list(hostile)
    outcomes = []
    for index, name in enumerate(names):
        tests, scores = [], {}
        for k, (question, points) in enumerate(AUTOGRADED.items()):
            passed = (index + k) % 3 != 0
            tests.append(
                {
                    "question": question,
                    "test": f"test_{question}_hidden",
                    "hidden": True,
                    "points": points,
                    "passed": passed,
                    "message": "" if passed else f"wrong value for case {index}",
                    "student_message": "",
                }
            )
            scores[question] = points if passed else 0.0
        flags = [f"it redefined the grader (cell {index})"] if name in flagged else []
        written = {
            q: _written_entry(HOSTILE_ANSWER if name in hostile else honest_answer(q, index))
            for q in WRITTEN
        }
        outcome = Outcome(
            submission=name,
            status=Status.OK,
            scores=scores,
            total=sum(scores.values()),
            max_total=sum(AUTOGRADED.values()),
            flags=flags,
            verdict={
                "tests": tests,
                "possible": dict(AUTOGRADED),
                "notes": [],
                "flags": flags,
                "sandbox": [],
            },
            points=dict(AUTOGRADED),
            written=written,
            students=[
                {
                    "name": f"Student Number{index}",
                    "email": f"s{index}@uni.example",
                    "sid": f"9{index:04d}",
                }
            ],
        )
        (out / name).mkdir(exist_ok=True)
        (out / name / "results.json").write_text(outcome.to_json())
        outcomes.append(outcome)
    write_gradebook(out / "gradebook.csv", outcomes, dict(AUTOGRADED))
    return names


@pytest.fixture
def graded(tmp_path) -> Path:
    """A graded folder of 6 honest submissions, one hostile and one flagged."""
    out = tmp_path / "graded"
    write_graded_folder(out, 6, hostile=("zz_hostile.ipynb",), flagged=("student_002.ipynb",))
    return out


@pytest.fixture
def client(graded) -> Iterator:
    """A Flask test client of the review app over ``graded``."""
    app = review_app.create_app(graded)
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions[review_app.REFRESHER_KEY].close()


def csrf_token(client) -> str:
    """The CSRF token a page gives this client's session."""
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def post(client, url: str, body: dict, *, token: str | None = None):
    """POST ``body`` as JSON with this session's CSRF token."""
    headers = {"X-CSRF-Token": token if token is not None else csrf_token(client)}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


# --- fast tests, through Flask's client -----------------------------------------------------------


def test_every_response_carries_the_security_headers(client):
    """Do pages, static files, JSON answers and errors all carry the CSP and its companions?"""
    responses = [
        client.get("/"),
        client.get("/questions/q_confusion"),
        client.get("/static/review.js"),
        client.get("/questions/nope"),
        client.post("/api/score", json={}),
    ]
    for response in responses:
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_question_page_shows_every_answer_and_the_progress(client, graded):
    """Does a question page list all 7 answers, the prompt, the reference and '0 of 7 graded'?"""
    page = client.get("/questions/q_modified_digit").get_data(as_text=True)
    assert page.count('<section class="answer') == 7
    assert "Draw a digit the model gets wrong" in page
    assert re.search(r'progress-graded">0</span> of\s*<span id="progress-total">7<', page)
    assert f'src="data:image/png;base64,{digit_png(3)}"' in page


def test_hostile_answer_is_inert_on_the_page(client):
    """On the whole page, is every script the app's own file, and no attribute a handler or a
    javascript: URL, while the hostile markup is still shown to the TA as text?"""
    from html.parser import HTMLParser

    elements: list[tuple[str, dict]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            elements.append((tag, {name: value or "" for name, value in attrs}))

    page = client.get("/questions/q_confusion").get_data(as_text=True)
    Collector().feed(page)
    scripts = [attributes.get("src", "") for tag, attributes in elements if tag == "script"]
    assert scripts == ["/static/katex/katex.min.js", "/static/review.js"]
    for tag, attributes in elements:
        assert tag not in ("iframe", "svg", "object", "embed", "style", "base", "meta") or (
            tag == "meta" and set(attributes) in ({"charset"}, {"name", "content"})
        )
        assert tag != "form" or attributes == {"id": "rubric-add", "class": "rubric-add"}
        for name, value in attributes.items():
            assert not name.startswith("on"), (tag, name)
            assert not value.strip().lower().startswith("javascript:"), (tag, name, value)
    assert "&lt;script&gt;document.title" in page and "&lt;script&gt;alert(" in page


def test_post_without_csrf_token_is_refused(client, graded):
    """Is a change without the session's CSRF token (or with a wrong one) refused with 403?"""
    body = {"submission": "student_001.ipynb", "question": "q_confusion", "score": 1}
    assert client.post("/api/score", json=body).status_code == 403
    assert post(client, "/api/score", body, token="forged").status_code == 403
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_confusion").score is None


def test_score_is_saved_and_reports_refreshed(client, graded):
    """Is a typed score saved, counted in the progress and written to the gradebook?"""
    body = {"submission": "student_001.ipynb", "question": "q_confusion", "score": 1.5}
    response = post(client, "/api/score", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["grade"]["score"] == 1.5
    assert response.get_json()["progress"] == {"graded": 1, "total": 7, "stale": 0}
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_confusion").score == 1.5
    client.application.extensions[review_app.REFRESHER_KEY].flush()
    gradebook = (graded / "gradebook.csv").read_text()
    assert "q_confusion" in gradebook.splitlines()[0]
    row = next(line for line in gradebook.splitlines() if line.startswith("student_001.ipynb,"))
    assert ",1.5," in row


def test_changed_answer_marks_its_score_stale(client, graded):
    """After a regrade changes a scored answer, is that score (and only it) marked stale?"""
    body = {"submission": "student_001.ipynb", "question": "q_l1_reading", "score": 1}
    assert post(client, "/api/score", body).status_code == 200
    results = graded / "student_001.ipynb" / "results.json"
    outcome = Outcome.from_json(results.read_text())
    outcome.written["q_l1_reading"] = _written_entry(
        [_markdown("A different answer, resubmitted.")]
    )
    results.write_text(outcome.to_json())
    page = client.get("/questions/q_l1_reading").get_data(as_text=True)
    stale = re.findall(
        r'data-submission="([^"]+)">.*?<span class="badge stale"( hidden)?>', page, re.S
    )
    assert dict(stale) == {name: " hidden" for name, _ in stale} | {"student_001.ipynb": ""}


def _gradebook_row(graded: Path, submission: str) -> str:
    lines = (graded / "gradebook.csv").read_text().splitlines()
    return next(line for line in lines if line.startswith(submission + ","))


def test_reports_follow_a_change_without_being_asked(client, graded):
    """Is the gradebook rewritten in the background shortly after a change?"""
    body = {"submission": "student_004.ipynb", "question": "q_confusion", "score": 0.5}
    assert post(client, "/api/score", body).status_code == 200
    deadline = time.monotonic() + 20
    while ",0.5," not in _gradebook_row(graded, "student_004.ipynb"):
        assert time.monotonic() < deadline, "the gradebook never caught up"
        time.sleep(0.1)


def test_stopping_writes_pending_reports(graded):
    """When the app stops right after a change, is the change still written to the gradebook?"""
    app = review_app.create_app(graded, report_delay=60)
    client = app.test_client()
    body = {"submission": "student_005.ipynb", "question": "q_confusion", "score": 1.5}
    assert post(client, "/api/score", body).status_code == 200
    assert ",1.5," not in _gradebook_row(graded, "student_005.ipynb")
    app.extensions[review_app.REFRESHER_KEY].close()
    assert ",1.5," in _gradebook_row(graded, "student_005.ipynb")


@pytest.mark.parametrize("score", [3, -0.5, 1.25, "2", True])
def test_bad_score_is_refused_with_a_message(client, graded, score):
    """Is a score out of range, off the half-point grid or not a number refused with a reason?"""
    body = {"submission": "student_001.ipynb", "question": "q_confusion", "score": score}
    response = post(client, "/api/score", body)
    assert response.status_code == 400
    assert response.get_json()["error"]
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_confusion").score is None


def test_rubric_item_edit_moves_every_score_it_is_applied_to(client):
    """Does changing an applied rubric item's points change the scores of the answers using it?"""
    token = csrf_token(client)
    item = post(
        client,
        "/api/rubric",
        {"question": "q_confusion", "points": 1, "text": "names 4/9"},
        token=token,
    )
    item_id = item.get_json()["item"]["id"]
    for name in ("student_000.ipynb", "student_003.ipynb"):
        body = {"submission": name, "question": "q_confusion", "applied": True}
        applied = post(client, f"/api/rubric/{item_id}/apply", body, token=token)
        assert applied.get_json()["grade"]["score"] == 1
    updated = post(client, f"/api/rubric/{item_id}", {"points": 2}, token=token).get_json()
    assert updated["grades"]["student_000.ipynb"]["score"] == 2
    assert updated["grades"]["student_003.ipynb"]["score"] == 2
    assert updated["grades"]["student_001.ipynb"]["score"] is None
    deleted = post(client, f"/api/rubric/{item_id}/delete", {}, token=token).get_json()
    assert deleted["grades"]["student_000.ipynb"]["score"] == 0
    assert post(client, f"/api/rubric/{item_id}/delete", {}, token=token).status_code == 400


def test_unknown_question_or_submission_page_is_404(client):
    """Does a page for a question or submission that does not exist say so, with 404?"""
    for url in ("/questions/q_nope", "/submissions/nobody.ipynb"):
        response = client.get(url)
        assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


def test_anonymous_switch_hides_students_everywhere(client):
    """With anonymous grading on, do names, emails and SIDs disappear from every page?"""
    pages = ["/questions/q_confusion", "/submissions", "/submissions/student_001.ipynb"]
    assert "Student Number1" in client.get("/submissions/student_001.ipynb").get_data(as_text=True)
    assert post(client, "/api/anonymous", {"anonymous": True}).status_code == 200
    for url in pages:
        page = client.get(url).get_data(as_text=True)
        assert "Student Number" not in page and "uni.example" not in page and "90001" not in page


def test_submissions_list_puts_flagged_first_with_test_messages(client):
    """Is the flagged submission first, and does its page show the hidden tests' messages?"""
    listing = client.get("/submissions").get_data(as_text=True)
    assert listing.index("student_002.ipynb") < listing.index("student_000.ipynb")
    detail = client.get("/submissions/student_000.ipynb").get_data(as_text=True)
    assert "wrong value for case 0" in detail and "test_q_z_hidden" in detail


def test_item_analysis_page_and_plots(client):
    """Does the analysis page list questions and hidden tests, and are its plots SVG?"""
    page = client.get("/analysis").get_data(as_text=True)
    assert "q_softmax" in page and "test_q_z_hidden" in page
    for plot in ("histogram", "questions", "tests"):
        response = client.get(f"/analysis/{plot}.svg")
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert b"<svg" in response.data and b"<script" not in response.data


def test_unknown_host_header_is_refused(client):
    """Is a request naming another host (DNS rebinding) refused?"""
    assert client.get("/", headers={"Host": "evil.example:8000"}).status_code == 400
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_item_analysis_discrimination_follows_the_rest_of_the_total():
    """Is a question that strong students get right given a positive discrimination, and a
    question everyone gets right none (its correlation is undefined)?"""
    from review_helpers import manifest_for

    from labkit.review import analysis

    def row(good: float, same: float, rest: float):
        return analysis.ItemRow(
            status="ok",
            total=good + same + rest,
            scores={"q_good": good, "q_same": same, "q_rest": rest},
            tests=[
                {
                    "question": "q_good",
                    "test": "t",
                    "hidden": True,
                    "points": 1.0,
                    "passed": bool(good),
                }
            ],
        )

    rows = [row(1, 1, 1), row(1, 1, 0.8), row(0, 1, 0.2), row(0, 1, 0.1)]
    manifest = manifest_for({"q_good": 1.0, "q_same": 1.0, "q_rest": 1.0})
    report = analysis.build_report(rows, manifest)
    stats = {stat.name: stat for stat in report.questions}
    assert stats["q_good"].discrimination > 0.9
    assert stats["q_same"].discrimination is None and stats["q_same"].mean == 1
    assert stats["q_good"].points == 1.0
    assert [(t.name, t.failures, t.runs) for t in report.tests] == [("t", 2, 4)]
    assert analysis.correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)


def test_loopback_check():
    """Are loopback addresses told apart from the others (which get no Host check)?"""
    assert review_app.is_loopback("127.0.0.1") and review_app.is_loopback("::1")
    assert review_app.is_loopback("127.0.0.2") and review_app.is_loopback("localhost")
    assert not review_app.is_loopback("0.0.0.0") and not review_app.is_loopback("10.1.2.3")


def test_malformed_json_bodies_are_refused(client):
    """Are bodies that are not a JSON object, or lack a field, refused with 400 and a reason?"""
    token = csrf_token(client)
    headers = {"X-CSRF-Token": token}
    not_json = client.post("/api/score", data="x", content_type="text/plain", headers=headers)
    assert not_json.status_code == 400
    assert (
        post(client, "/api/comment", {"submission": "student_001.ipynb"}, token=token).status_code
        == 400
    )
    long = {"submission": "student_001.ipynb", "question": "q_confusion", "comment": "x" * 10**4}
    assert post(client, "/api/comment", long, token=token).status_code == 400


def test_cli_export_then_import_round_trip(graded, tmp_path):
    """Do --export and --import move scores through a CSV file?"""
    with ReviewStore.open(graded) as store:
        store.set_score("student_001.ipynb", "q_l1_reading", 0.5)
    csv_path = tmp_path / "scores.csv"
    runner = CliRunner()
    exported = runner.invoke(main, ["review", str(graded), "--export", str(csv_path)])
    assert exported.exit_code == 0, exported.output
    assert "student_001.ipynb,q_l1_reading,0.5" in csv_path.read_text()
    csv_path.write_text(
        csv_path.read_text().replace(
            "student_001.ipynb,q_l1_reading,0.5", "student_001.ipynb,q_l1_reading,1"
        )
    )
    imported = runner.invoke(main, ["review", str(graded), "--import", str(csv_path)])
    assert imported.exit_code == 0, imported.output
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_l1_reading").score == 1


def test_cli_import_of_a_bad_file_fails_cleanly(graded, tmp_path):
    """Does importing a score out of range exit 1 with the row named, changing nothing?"""
    bad = tmp_path / "bad.csv"
    bad.write_text("submission,question,score,comment\nstudent_001.ipynb,q_l1_reading,7,\n")
    result = CliRunner().invoke(main, ["review", str(graded), "--import", str(bad)])
    assert result.exit_code == 1
    assert "row 2" in result.output
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_l1_reading").score is None


def test_cli_refuses_a_folder_that_was_not_graded(tmp_path):
    """Does 'labkit review' on a folder without a gradebook exit 1 and create nothing there?"""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["review", str(empty), "--export", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "labkit grade" in result.output
    assert list(empty.iterdir()) == []


def test_server_serves_then_stops_cleanly(graded):
    """Does the HTTP server answer on its printed URL and stop when asked?"""
    from urllib.request import urlopen

    with running_server(graded) as url:
        with urlopen(url) as response:
            assert response.status == 200 and b"Written questions" in response.read()


def test_cli_serves_until_ctrl_c(graded):
    """Does 'labkit review OUT' print its URL, answer there, and stop cleanly on Ctrl-C?"""
    import signal
    import subprocess
    import sys
    from urllib.request import urlopen

    command = [sys.executable, "-m", "labkit", "review", str(graded), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line).group(0)
        with urlopen(url + "questions/q_l1_reading") as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


# --- slow tests, in a real browser ----------------------------------------------------------------


class running_server:
    """The review app's real HTTP server over ``out`` in a thread, for a ``with`` block."""

    def __init__(self, out: Path):
        self.server = review_app.make_review_server(out, host="127.0.0.1", port=0)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return review_app.server_url(self.server)

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        review_app.close_review_server(self.server)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def artifacts(tmp_path, request) -> Path:
    """Where screenshots go: $LABKIT_ARTIFACTS/<test> if set, else a folder under tmp_path."""
    root = os.environ.get("LABKIT_ARTIFACTS")
    folder = (Path(root) if root else tmp_path / "artifacts") / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser():
    """Debian's chromium, driven by Playwright (never a downloaded browser)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(graded) -> Iterator[str]:
    """The URL of the review app serving ``graded``."""
    with running_server(graded) as url:
        yield url


def _answer(page, submission: str):
    return page.locator(f'section.answer[data-submission="{submission}"]')


def _wait_saved(section) -> None:
    section.locator(".save-state", has_text="saved").wait_for(timeout=10_000)


@pytest.mark.browser
def test_browser_grades_with_rubric_score_and_comment(browser, served, graded, artifacts):
    """Do a rubric click, a typed score and a comment all survive a reload?"""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A Content-Security-Policy violation (KaTeX's styles or fonts, say) shows as a console error.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(served + "questions/q_confusion")
    page.fill("#rubric-add input[name=points]", "1.5")
    page.fill("#rubric-add input[name=text]", "names the confused digits")
    with page.expect_navigation():
        page.click("#rubric-add button")
    first = _answer(page, "student_000.ipynb")
    first.locator(".rubric-toggle").first.click()
    _wait_saved(first)
    assert first.locator(".score").input_value() == "1.5"

    second = _answer(page, "student_001.ipynb")
    second.locator(".score").fill("0.5")
    with page.expect_response("**/api/score"):
        second.locator(".score").press("Tab")
    second.locator(".comment").fill("Say which pixels differ.")
    with page.expect_response("**/api/comment"):
        second.locator(".comment").press("Tab")
    page.screenshot(path=str(artifacts / "graded.png"), full_page=False)
    page.reload()
    first, second = _answer(page, "student_000.ipynb"), _answer(page, "student_001.ipynb")
    assert first.locator(".rubric-toggle").first.get_attribute("aria-pressed") == "true"
    assert first.locator(".score").input_value() == "1.5"
    assert second.locator(".score").input_value() == "0.5"
    assert second.locator(".comment").input_value() == "Say which pixels differ."
    assert page.locator("#progress-graded").text_content() == "2"
    assert page.locator(".katex").count() > 0, "math was not typeset"
    assert not _answer(page, "student_002.ipynb").locator(".stale").is_visible()
    # Editing the item's points rescores the answer it is applied to, and keeps the TA's place.
    page.fill(".rubric-item .rubric-points", "2")
    with page.expect_navigation():
        page.click(".rubric-item .rubric-save")
    assert _answer(page, "student_000.ipynb").locator(".score").input_value() == "2"
    assert errors == []
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_confusion").comment == "Say which pixels differ."
        assert store.grade("student_000.ipynb", "q_confusion").score == 2


@pytest.mark.browser
def test_browser_keyboard_applies_rubric_items(browser, served, graded):
    """Do j/k move between answers and a digit key apply that rubric item to the current one?"""
    with ReviewStore.open(graded) as store:
        store.add_rubric_item("q_l1_reading", points=1, text="reads sparsity")
    page = browser.new_page()
    page.goto(served + "questions/q_l1_reading")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("1")
    second = _answer(page, "student_001.ipynb")
    _wait_saved(second)
    assert second.locator(".score").input_value() == "1"
    with ReviewStore.open(graded) as store:
        assert store.grade("student_001.ipynb", "q_l1_reading").score == 1
        assert store.grade("student_000.ipynb", "q_l1_reading").score is None


@pytest.mark.browser
def test_browser_two_graders_at_once_both_save(browser, served, graded, artifacts):
    """Do two browser sessions grading the same question at the same time both save?"""
    pages = [browser.new_context().new_page() for _ in range(2)]
    for page in pages:
        page.goto(served + "questions/q_modified_digit")
    jobs = {pages[0]: range(0, 6, 2), pages[1]: range(1, 6, 2)}
    # Interleave the two graders' changes so their requests overlap.
    for step in range(3):
        for page, indexes in jobs.items():
            score = _answer(page, f"student_{indexes[step]:03d}.ipynb").locator(".score")
            score.fill("2")
            score.press("Tab")
    for page, indexes in jobs.items():
        for index in indexes:
            _wait_saved(_answer(page, f"student_{index:03d}.ipynb"))
    pages[1].screenshot(path=str(artifacts / "second-grader.png"))
    with ReviewStore.open(graded) as store:
        scores = {a.submission: a.grade.score for a in store.answers("q_modified_digit")}
    assert [scores[f"student_{i:03d}.ipynb"] for i in range(6)] == [2.0] * 6


@pytest.mark.browser
def test_browser_hostile_answer_runs_nothing(browser, served, artifacts):
    """Does the hostile answer leave the title alone and open no dialog on any page?"""
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for url in ("questions/q_confusion", "questions/q_l1_reading", "submissions/zz_hostile.ipynb"):
        page.goto(served + url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        assert HOSTILE_MARKER not in page.title()
    page.goto(served + "questions/q_confusion")
    hostile = _answer(page, "zz_hostile.ipynb")
    hostile.scroll_into_view_if_needed()
    hostile.get_by_text("click me").click()  # shown as text, not as a javascript: link
    page.wait_for_timeout(300)
    hostile.screenshot(path=str(artifacts / "hostile-answer.png"))
    assert HOSTILE_MARKER not in page.title()
    assert dialogs == []
    assert hostile.locator("pre.as-text", has_text="<script>").count() == 1


@pytest.mark.browser
def test_browser_refused_score_shows_a_message(browser, served, graded, artifacts):
    """Is a score out of range refused with a visible message, and nothing saved?"""
    page = browser.new_page()
    page.goto(served + "questions/q_l1_reading")
    score = _answer(page, "student_003.ipynb").locator(".score")
    score.fill("4")
    score.press("Tab")
    status = page.locator("#status")
    status.wait_for(state="visible", timeout=10_000)
    assert "between 0 and 1" in status.text_content()
    page.screenshot(path=str(artifacts / "refused.png"))
    with ReviewStore.open(graded) as store:
        assert store.grade("student_003.ipynb", "q_l1_reading").score is None


@pytest.mark.browser
def test_browser_post_without_csrf_token_gets_403(browser, served, graded):
    """From the app's own origin, is a fetch POST without the token refused with 403?"""
    page = browser.new_page()
    page.goto(served + "questions/q_confusion")
    status = page.evaluate(
        """async () => (await fetch('/api/score', {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({submission: 'student_000.ipynb', question: 'q_confusion',
                                   score: 1})})).status"""
    )
    assert status == 403
    with ReviewStore.open(graded) as store:
        assert store.grade("student_000.ipynb", "q_confusion").score is None
