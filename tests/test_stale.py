"""A stale written score (its answer changed after it was scored) never counts silently: the
gradebook marks it, the feedback says it is being regraded, every page counts it as ungraded
until a TA confirms or rescores it."""

from __future__ import annotations

import json
import re

import pytest
from lastmile_helpers import FULL, answers, change_answer, make_folder, outcome_data, read_gradebook

from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.refresh import refresh_reports
from labkit.gradebook.store import ReviewStore
from labkit.review import app as review_app


@pytest.fixture
def out(tmp_path):
    """Three submissions whose q_reading a TA scored, then alice resubmitted a new answer."""
    names = ["alice.ipynb", "bob.ipynb", "carol.ipynb"]
    out = make_folder(tmp_path / "out", [outcome_data(n, FULL, answers=answers()) for n in names])
    with ReviewStore.open(out) as store:
        for name in names:
            store.set_score(name, "q_reading", 1)
            store.set_score(name, "q_confusion", 2)
        store.set_comment("alice.ipynb", "q_reading", "Clear reading of the plot.")
    change_answer(out, "alice.ipynb", "q_reading", "A different answer, resubmitted.")
    refresh_reports(GradedFolder(out))
    return out


def test_the_gradebook_marks_a_stale_score_and_does_not_count_it(out):
    """Does alice's row name q_reading in written_stale, count one written score, and leave the
    stale point out of her total (and out of the others' nothing)?"""
    rows = read_gradebook(out)
    alice, bob = rows["alice.ipynb"], rows["bob.ipynb"]
    assert (alice["q_reading"], alice["written_stale"], alice["written_graded"]) == (
        "1",
        "q_reading",
        "1",
    )
    assert (alice["total"], bob["total"]) == ("8", "9")
    assert (bob["written_stale"], bob["written_graded"]) == ("", "2")


def test_the_feedback_says_being_regraded(out):
    """Does alice read that q_reading is being regraded, with no old score or comment, and no
    final total?"""
    feedback = (out / "alice.ipynb" / "feedback.txt").read_text()
    assert "q_reading (being regraded)" in feedback
    assert "being regraded (your answer changed after it was graded) / 1" in feedback
    assert "Clear reading of the plot." not in feedback
    assert "Score: 9" not in feedback


def test_every_page_counts_a_stale_score_as_ungraded(out):
    """Do the home page, the question page and the JSON progress say 2 of 3 graded and 1
    stale, not 3 of 3?"""
    client = review_app.create_app(out, report_delay=None).test_client()
    home = client.get("/").get_data(as_text=True)
    reading = home[home.index('href="/questions/q_reading"') :].split("</tr>")[0]
    assert "3 of 3 graded" not in reading
    assert re.search(r"2 of 3 graded\s*<span class=\"badge stale\">1 stale", reading)
    page = client.get("/questions/q_reading").get_data(as_text=True)
    assert re.search(r'progress-graded">2</span> of\s*<span id="progress-total">3<', page)
    assert 'id="progress-stale">1<' in page
    grades = client.get("/api/questions/q_reading/grades").get_json()
    assert grades["progress"] == {"graded": 2, "total": 3, "stale": 1}
    listing = client.get("/submissions").get_data(as_text=True)
    alice = listing[listing.index('data-submission="alice.ipynb"') :].split("</tr>")[0]
    assert 'class="badge stale"' in alice and "…" in alice


def _post(client, url, body):
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    return client.post(
        url, data=json.dumps(body), content_type="application/json", headers={"X-CSRF-Token": token}
    )


def test_a_ta_confirming_the_score_makes_it_count_again(out):
    """After a TA keeps the score for the changed answer, does it count again everywhere?"""
    app = review_app.create_app(out, report_delay=None)
    client = app.test_client()
    body = {"submission": "alice.ipynb", "question": "q_reading"}
    response = _post(client, "/api/confirm", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["grade"]["stale"] is False
    assert response.get_json()["progress"] == {"graded": 3, "total": 3, "stale": 0}
    app.extensions[review_app.REFRESHER_KEY].close()
    alice = read_gradebook(out)["alice.ipynb"]
    assert (alice["written_stale"], alice["total"]) == ("", "9")
    assert "being regraded" not in (out / "alice.ipynb" / "feedback.txt").read_text()


def test_rescoring_clears_the_stale_mark_and_confirming_nothing_is_refused(out):
    """Does a new score clear the mark, and is confirming an ungraded answer refused?"""
    with ReviewStore.open(out) as store:
        assert store.grade("alice.ipynb", "q_reading").stale
        assert not store.set_score("alice.ipynb", "q_reading", 0).stale
        store.set_score("bob.ipynb", "q_reading", None)
        with pytest.raises(Exception, match="no score"):
            store.confirm("bob.ipynb", "q_reading")
