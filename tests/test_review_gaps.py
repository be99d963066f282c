"""What the review app was missing: the student's code per autograded question (as text), a
TA's override of an autograded score (with a reason), a sortable submissions table with every
question's score, notebook order everywhere, and a warning on item analysis of few submissions."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from lastmile_helpers import (
    FULL,
    answers,
    make_folder,
    outcome_data,
    read_gradebook,
    write_results,
)

from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore
from labkit.review import app as review_app

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
HOSTILE_CODE = (
    "def compute_z(clf, x):\n"
    "    return '</code></pre><script>document.title=\"PWNED\"</script>'\n"
    "# <img src=x onerror=alert(1)>"
)


def _code(source: str) -> dict:
    return {"q_z": {"cells": [{"cell_type": "code", "source": source, "outputs": []}], "notes": []}}


@pytest.fixture
def out(tmp_path):
    """Two submissions; alice failed q_z and her code for it is hostile."""
    return make_folder(
        tmp_path / "out",
        [
            outcome_data(
                "alice.ipynb",
                {**FULL, "q_z": 0.0},
                answers=answers(),
                code=_code(HOSTILE_CODE),
            ),
            outcome_data("bob.ipynb", FULL, answers=answers()),
        ],
    )


def _post(client, url: str, body: dict):
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    headers = {"X-CSRF-Token": token}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_the_code_of_each_autograded_question_is_read_as_data():
    """Does the code of each autograded question of a submitted notebook come out of it, in the
    cells between its prompt and its check cell, without running anything?"""
    from labkit.gradebook.code import extract_code

    notebook = (SUBMISSIONS / "solution.ipynb").read_text()
    code = extract_code(notebook, ["q_z", "q_center_bonus", "q_l1", "q_missing"])
    assert code["q_z"]["cells"][0]["source"].startswith("def compute_z(clf, x):")
    assert "def center_image(sample):" in code["q_center_bonus"]["cells"][0]["source"]
    assert "def count_zero_coefs(model):" in code["q_l1"]["cells"][0]["source"]
    assert all('grader.check("' not in c["source"] for q in code.values() for c in q["cells"])
    assert code["q_missing"] == {
        "cells": [],
        "notes": ["the question's prompt was not found in the notebook"],
    }
    assert extract_code(b"\xff not json", ["q_z"])["q_z"]["cells"] == []


def test_the_submission_page_shows_the_code_as_inert_text(out):
    """Is alice's hostile code on her page as escaped text, with no script but the app's and
    no event handler attribute?"""
    page = review_app.create_app(out).test_client().get("/submissions/alice.ipynb")
    html = page.get_data(as_text=True)
    tags: list[tuple[str, dict]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collector().feed(html)
    scripts = [a.get("src") for t, a in tags if t == "script"]
    assert scripts == ["/static/katex/katex.min.js", "/static/review.js"]
    assert not [t for t, a in tags if any(k.startswith("on") for k in a)]
    assert "def compute_z(clf, x):" in html
    assert "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;" in html


def test_an_override_needs_a_reason_and_is_kept_apart_from_the_computed_score(out):
    """Is an override without a reason refused; does one with a reason count in the gradebook
    (the question's column, an overrides column) and the feedback, with the computed score
    kept?"""
    app = review_app.create_app(out, report_delay=None)
    client = app.test_client()
    refused = _post(
        client, "/api/override", {"submission": "alice.ipynb", "question": "q_z", "score": 2}
    )
    assert refused.status_code == 400 and "reason" in refused.get_json()["error"]
    blank = {"submission": "alice.ipynb", "question": "q_z", "score": 2, "reason": "  "}
    assert _post(client, "/api/override", blank).status_code == 400
    body = {**blank, "reason": "The test used a stale seed; your answer is right."}
    response = _post(client, "/api/override", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["override"]["computed"] == 0.0
    app.extensions[review_app.REFRESHER_KEY].close()
    row = read_gradebook(out)["alice.ipynb"]
    assert (row["q_z"], row["total"]) == ("2", "6")
    assert (
        row["overrides"] == "q_z: 2 (computed 0): The test used a stale seed; your answer is right."
    )
    feedback = (out / "alice.ipynb" / "feedback.txt").read_text().splitlines()
    at = next(k for k, line in enumerate(feedback) if line.startswith("  q_z "))
    assert feedback[at].endswith("2 / 2")
    assert feedback[at + 1] == (
        "    changed by your TA from 0: The test used a stale seed; your answer is right."
    )
    results = json.loads((out / "alice.ipynb" / "results.json").read_text())
    assert results["scores"]["q_z"] == 0.0


def test_only_a_ta_clears_an_override(out):
    """Does an override survive a regrade (results.json rewritten), and go when a TA clears it?"""
    with ReviewStore.open(out) as store:
        store.set_override("alice.ipynb", "q_z", 1.5, "partly right")
    write_results(
        out, outcome_data("alice.ipynb", {**FULL, "q_z": 0.0}, answers=answers(text="Again."))
    )
    refresh_reports(GradedFolder(out))
    assert read_gradebook(out)["alice.ipynb"]["q_z"] == "1.5"
    client = review_app.create_app(out, report_delay=None).test_client()
    body = {"submission": "alice.ipynb", "question": "q_z", "score": None}
    assert _post(client, "/api/override", body).status_code == 200
    refresh_reports(GradedFolder(out))
    row = read_gradebook(out)["alice.ipynb"]
    assert row["q_z"] == "0" and "overrides" not in row


def test_the_submissions_table_sorts_and_shows_every_question(out):
    """Does the table have a sortable column per question in notebook order (bonus and written
    ones marked), each row's score in it, and the totals?"""
    page = review_app.create_app(out).test_client().get("/submissions").get_data(as_text=True)
    assert 'class="grid sortable"' in page
    headings = re.findall(r'data-question="([^"]+)"><button type="button" class="sort">', page)
    assert headings == ["q_z", "q_confusion", "q_softmax", "q_center_bonus", "q_reading"]
    assert "q_center_bonus (bonus)" in page and "q_confusion (written)" in page
    alice = page[page.index('data-submission="alice.ipynb"') :].split("</tr>")[0]
    cells = re.findall(r'class="score-cell" data-sort="([^"]*)"', alice)
    assert cells == ["0.0", "", "3.0", "1.0", ""]
    assert re.search(r'class="total-cell" data-sort="4(\.0)?">4', alice)


def test_the_submission_page_lists_questions_in_notebook_order(out):
    """Are the autograded sections and the tests in notebook order, the bonus marked?"""
    page = review_app.create_app(out).test_client().get("/submissions/bob.ipynb")
    html = page.get_data(as_text=True)
    sections = re.findall(r'<section class="autograded" id="q-([^"]+)"', html)
    assert sections == ["q_z", "q_softmax", "q_center_bonus"]
    tests = re.findall(r"<td>(q_[a-z_]+)</td><td>test_", html)
    assert tests == ["q_z", "q_softmax", "q_center_bonus"]
    assert '<span class="badge bonus">bonus</span>' in html


@pytest.mark.parametrize(("count", "warned"), [(3, True), (20, False)])
def test_item_analysis_warns_below_twenty_submissions(tmp_path, count, warned):
    """Does item analysis warn that discrimination means little with fewer than 20?"""
    out = make_folder(
        tmp_path / "out", [outcome_data(f"s{k:02d}.ipynb", FULL) for k in range(count)]
    )
    page = review_app.create_app(out).test_client().get("/analysis").get_data(as_text=True)
    assert ('id="analysis-warning"' in page) is warned
    if warned:
        assert f"Only {count} graded submission(s)" in page
