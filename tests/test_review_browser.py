"""The review app in Chromium for the TA's last mile: overriding an autograded score, anonymous
grading by pseudonym, stale scores counted and confirmed (see ``test_review_app`` for the
browser and the server)."""

from __future__ import annotations

import pytest
from lastmile_helpers import FULL, answers, change_answer, make_folder, outcome_data
from test_review_app import artifacts, browser, running_server  # noqa: F401 -- fixtures

from labkit.gradebook.store import ReviewStore

STUDENTS = {
    "alice_solution.zip": {"name": "Alice Zephyr", "email": "azephyr@uni.example", "sid": "77001"},
    "bob.ipynb": {"name": "Bob Quill", "email": "bquill@uni.example", "sid": "77003"},
    "carol.ipynb": {"name": "Carol Vance", "email": "cvance@uni.example", "sid": "77004"},
}


@pytest.fixture
def out(tmp_path):
    """Three submissions: alice failed q_z; every q_reading scored, then alice's changed."""
    outcomes = [
        outcome_data(
            name,
            {**FULL, "q_z": 0.0} if name.startswith("alice") else FULL,
            answers=answers(),
            students=[person],
        )
        for name, person in STUDENTS.items()
    ]
    out = make_folder(tmp_path / "out", outcomes)
    with ReviewStore.open(out) as store:
        for name in STUDENTS:
            store.set_score(name, "q_reading", 1)
    change_answer(out, "alice_solution.zip", "q_reading", "Changed after it was scored.")
    return out


@pytest.fixture
def served(out):
    with running_server(out) as url:
        yield url


def _watch(page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


@pytest.mark.browser
def test_browser_overrides_an_autograded_score_with_a_reason(browser, served, out, artifacts):  # noqa: F811
    """Does the submissions table sort by a question's score; is an override without a reason
    not saved, one with a reason saved and shown (score, badge, total), and cleared again by
    the TA?"""
    page = browser.new_page()
    errors = _watch(page)
    page.goto(served + "submissions")
    rows = page.locator("#submissions tbody tr")
    heading = page.locator('th[data-question="q_z"] button.sort')
    heading.click()  # ascending: alice's 0 first
    assert rows.first.get_attribute("data-submission") == "alice_solution.zip"
    heading.click()  # descending: alice last
    assert rows.last.get_attribute("data-submission") == "alice_solution.zip"
    assert page.locator('th[data-question="q_z"]').get_attribute("aria-sort") == "descending"
    page.goto(served + "submissions/alice_solution.zip")
    form = page.locator('form.override-form[data-question="q_z"]')
    form.locator('input[name="score"]').fill("2")
    form.locator("button.override-save").click()  # the reason is required: nothing is sent
    page.wait_for_timeout(300)
    with ReviewStore.open(out) as store:
        assert store.overrides() == {}
    form.locator('input[name="reason"]').fill("The seed in the test was wrong.")
    with page.expect_navigation():
        form.locator("button.override-save").click()
    section = page.locator("#q-q_z")
    assert section.locator(".part-score").text_content() == "2"
    assert "changed by a TA from 0: The seed in the test was wrong." in section.text_content()
    assert page.locator("#total").text_content() == "6"
    page.screenshot(path=str(artifacts / "override.png"), full_page=True)
    with ReviewStore.open(out) as store:
        override = store.overrides()["alice_solution.zip", "q_z"]
        assert (override.score, override.computed) == (2.0, 0.0)
    with page.expect_navigation():
        page.locator('form.override-form[data-question="q_z"] .override-clear').click()
    assert page.locator("#q-q_z .part-score").text_content() == "0"
    assert errors == []


@pytest.mark.browser
def test_browser_anonymous_grading_shows_pseudonyms_only(browser, served, out, artifacts):  # noqa: F811
    """Once the switch is on, do the pages, links and addresses show pseudonyms only, and does
    a score given on a pseudonym's answer reach the right submission?"""
    page = browser.new_page()
    errors = _watch(page)
    page.goto(served)
    with page.expect_navigation():
        page.click("#anonymous-toggle")
    assert page.locator("#anonymous-toggle").get_attribute("data-anonymous") == "true"
    secrets = ["alice", "Zephyr", "azephyr", "77001", "bob", "Quill", "Carol", "77004"]
    page.goto(served + "submissions")
    for secret in secrets:
        assert secret.lower() not in page.content().lower(), secret
    with page.expect_navigation():
        page.locator("#submissions tbody a").first.click()
    assert "/submissions/S-0" in page.url
    page.goto(served + "questions/q_confusion")
    for secret in secrets:
        assert secret.lower() not in page.content().lower(), secret
    with ReviewStore.open(out) as store:
        key = store.pseudonyms()["bob.ipynb"]
    answer = page.locator(f'section.answer[data-submission="{key}"]')
    answer.locator(".score").fill("1.5")
    with page.expect_response("**/api/score"):
        answer.locator(".score").press("Tab")
    page.screenshot(path=str(artifacts / "anonymous.png"))
    with ReviewStore.open(out) as store:
        assert store.grade("bob.ipynb", "q_confusion").score == 1.5
    page.reload()
    assert page.locator("#anonymous-toggle").get_attribute("data-anonymous") == "true"
    assert errors == []


@pytest.mark.browser
def test_browser_counts_a_stale_score_as_ungraded_until_kept(browser, served, out, artifacts):  # noqa: F811
    """Does the question page count 2 of 3 graded and 1 stale, and after 'Keep this score' on
    the changed answer 3 of 3 with no stale, the home page following?"""
    page = browser.new_page()
    errors = _watch(page)
    page.goto(served)
    row = page.locator("tr", has=page.locator('a[href="/questions/q_reading"]'))
    assert "2 of 3 graded" in row.text_content() and "1 stale" in row.text_content()
    page.goto(served + "questions/q_reading")
    assert page.locator("#progress-graded").text_content() == "2"
    assert page.locator("#progress-stale").text_content() == "1"
    alice = page.locator('section.answer[data-submission="alice_solution.zip"]')
    assert alice.locator(".badge.stale").is_visible()
    page.screenshot(path=str(artifacts / "stale.png"))
    with page.expect_response("**/api/confirm"):
        alice.locator(".confirm-score").click()
    alice.locator(".save-state", has_text="saved").wait_for(timeout=10_000)
    assert page.locator("#progress-graded").text_content() == "3"
    assert not page.locator("#progress-stale-note").is_visible()
    assert not alice.locator(".badge.stale").is_visible()
    page.goto(served)
    row = page.locator("tr", has=page.locator('a[href="/questions/q_reading"]'))
    assert "3 of 3 graded" in row.text_content() and "stale" not in row.text_content()
    assert errors == []
