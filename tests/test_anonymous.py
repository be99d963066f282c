"""Anonymous grading: every page shows a stable pseudonym, never a file name, name, email or
SID; the switch and the pseudonyms live in review.sqlite and survive restarts and regrades."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from lastmile_helpers import FULL, answers, make_folder, outcome_data, write_results

from labkit.gradebook.store import ReviewStore
from labkit.review import app as review_app

STUDENTS = {
    "alice_solution.zip": {"name": "Alice Zephyr", "email": "azephyr@uni.example", "sid": "77001"},
    "smithjohn_late_4242_9001_lab.ipynb": {
        "name": "John Smith",
        "email": "jsmith@uni.example",
        "sid": "77002",
    },
    "bob.ipynb": {"name": "Bob Quill", "email": "bquill@uni.example", "sid": "77003"},
}
SECRETS = [
    "alice_solution",
    "smithjohn",
    "Alice Zephyr",
    "azephyr",
    "77001",
    "John Smith",
    "jsmith",
    "77002",
    "Bob Quill",
    "bquill",
    "77003",
    "4242",
]


@pytest.fixture
def out(tmp_path):
    """Three submissions whose file names hold their students' names; one flagged with a
    message that quotes its file name."""
    outcomes = [
        outcome_data(
            name,
            FULL,
            answers=answers(),
            students=[person],
            flags=[f"the zip has entries named outside it ('../{name}'), ignored"],
            reason=f"notes on {name}",
        )
        for name, person in STUDENTS.items()
    ]
    return make_folder(tmp_path / "out", outcomes)


def _token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def _post(client, url: str, body: dict):
    headers = {"X-CSRF-Token": _token(client)}
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def _pages(client, keys: list[str]) -> dict[str, str]:
    urls = ["/", "/submissions", "/analysis", "/questions/q_confusion", "/questions/q_reading"]
    urls += [f"/submissions/{key}" for key in keys]
    pages = {}
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)
    return pages


def test_anonymous_pages_show_pseudonyms_only(out):
    """With anonymous grading on, does every page (and every link on it) name submissions by
    pseudonym, with no file name, student name, email or SID anywhere?"""
    client = review_app.create_app(out).test_client()
    assert _post(client, "/api/anonymous", {"anonymous": True}).status_code == 200
    with ReviewStore.open(out) as store:
        pseudonyms = store.pseudonyms()
    assert sorted(pseudonyms.values()) == ["S-001", "S-002", "S-003"]
    pages = _pages(client, sorted(pseudonyms.values()))
    for url, page in pages.items():
        for secret in SECRETS:
            assert secret.casefold() not in page.casefold(), (url, secret)
    assert 'href="/submissions/S-00' in pages["/submissions"]
    assert 'data-submission="S-00' in pages["/questions/q_confusion"]


def test_pseudonyms_are_stable_and_not_alphabetical(out, tmp_path):
    """Does each submission keep its pseudonym across a restart and a regrade (results.json
    rewritten), a new submission get the next one, and a fresh store not number them
    alphabetically every time?"""
    with ReviewStore.open(out) as store:
        first = store.pseudonyms()
    data = json.loads((out / "bob.ipynb" / "results.json").read_text())
    data["written"]["q_reading"]["cells"][0]["source"] = "regraded"
    write_results(out, data)
    write_results(out, outcome_data("zed.ipynb", FULL, answers=answers()))
    with ReviewStore.open(out) as store:
        again = store.pseudonyms()
    assert {k: again[k] for k in first} == first
    assert again["zed.ipynb"] == "S-004"
    orders = set()
    for attempt in range(6):
        other = make_folder(
            tmp_path / f"other{attempt}",
            [outcome_data(n, FULL) for n in ("a.ipynb", "b.ipynb", "c.ipynb", "d.ipynb")],
        )
        with ReviewStore.open(other) as store:
            orders.add(tuple(sorted(store.pseudonyms(), key=store.pseudonyms().get)))
    assert len(orders) > 1, "pseudonyms follow the names' order"


def test_the_switch_is_kept_in_the_store_across_restarts(out):
    """Is the anonymous switch stored in review.sqlite, so that a new app (a restart) and
    another browser session start anonymous?"""
    first = review_app.create_app(out).test_client()
    _post(first, "/api/anonymous", {"anonymous": True})
    restarted = review_app.create_app(out).test_client()
    page = restarted.get("/submissions").get_data(as_text=True)
    assert 'data-anonymous="true"' in page and "alice_solution" not in page
    with sqlite3.connect(out / "review.sqlite") as db:
        assert db.execute("SELECT value FROM settings WHERE key = 'anonymous'").fetchone() == (
            "on",
        )


def test_the_switch_and_pseudonyms_survive_a_schema_change(out):
    """After a schema version change (the copied tables rebuilt), are the switch and the
    pseudonyms still there?"""
    with ReviewStore.open(out) as store:
        store.set_anonymous(True)
        before = store.pseudonyms()
    with sqlite3.connect(out / "review.sqlite") as db:
        db.execute("PRAGMA user_version = 2")
    with ReviewStore.open(out) as store:
        assert store.anonymous and store.pseudonyms() == before


def test_a_pseudonym_is_enough_to_grade(out):
    """Does a score posted for a pseudonym reach that submission, and the answer name it back
    by its pseudonym?"""
    client = review_app.create_app(out, report_delay=None).test_client()
    _post(client, "/api/anonymous", {"anonymous": True})
    with ReviewStore.open(out) as store:
        key = store.pseudonyms()["bob.ipynb"]
    body = {"submission": key, "question": "q_reading", "score": 1}
    response = _post(client, "/api/score", body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["grade"]["submission"] == key
    with ReviewStore.open(out) as store:
        assert store.grade("bob.ipynb", "q_reading").score == 1


def test_a_refusal_names_the_submission_by_pseudonym(out):
    """Does a refused change (a score out of range) name the submission by its pseudonym, not
    its file name, in anonymous grading?"""
    client = review_app.create_app(out).test_client()
    _post(client, "/api/anonymous", {"anonymous": True})
    with ReviewStore.open(out) as store:
        key = store.pseudonyms()["alice_solution.zip"]
    response = _post(client, "/api/score", {"submission": key, "question": "q_reading", "score": 5})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert key in error and "alice" not in error
