"""``labkit review``'s Similarity pages: pairs per question over a real report, side by side.

The report is written by the similarity engine over the planted corpus (``similarity_corpus``):
``honest_0`` and its two disguised copies form a cluster, and ``copy_written``'s answer copied
from ``honest_4`` is made hostile here, on both sides of the pair.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
from review_helpers import POINTS, graded_folder, outcome, write_gradebook, write_outcome
from similarity_corpus import build_corpus
from test_review_app import CHROMIUM, CHROMIUM_ARGS, running_server

from labkit.review import app as review_app
from labkit.similarity import questions_from_autograder, write_similarity_report

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADER = ROOT / "autograder" / "logreg_digits-autograder.zip"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"alert(1)\">"


def _make_hostile(path: Path) -> None:
    """Put the hostile text at the start of the notebook's q_confusion answer."""
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]

    def text(cell) -> str:
        return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]

    start = next(i for i, c in enumerate(cells) if "`q_confusion`" in text(c))
    answer = cells[start + 1]
    answer["source"] = HOSTILE + " " + text(answer)
    path.write_text(json.dumps(notebook))


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A graded folder with a similarity report over the planted corpus."""
    corpus = build_corpus(tmp_path_factory.mktemp("corpus") / "all")
    for name in ("copy_written", "honest_4"):
        _make_hostile(corpus.folder / f"{name}.ipynb")
    out = graded_folder(tmp_path_factory.mktemp("graded") / "out")
    graded = [outcome(p.name, {"q_essay": "x"}) for p in sorted(corpus.folder.glob("*.ipynb"))]
    for result in graded:
        write_outcome(out, result)
    write_gradebook(out / "gradebook.csv", graded, POINTS)
    questions = questions_from_autograder(AUTOGRADER)
    write_similarity_report(
        submissions=[corpus.folder],
        output_dir=out,
        autograded=questions.autograded,
        written=questions.written,
    )
    return out


@pytest.fixture
def client(graded):
    """A Flask test client of the review app over ``graded``."""
    app = review_app.create_app(graded)
    app.config["TESTING"] = True
    yield app.test_client()
    app.extensions[review_app.REFRESHER_KEY].close()


def _report(graded: Path) -> dict:
    return json.loads((graded / "similarity.json").read_text())


def _pair(graded: Path, question: str) -> dict:
    entry = next(q for q in _report(graded)["questions"] if q["name"] == question)
    return entry["pairs"][0]


def test_similarity_page_lists_pairs_clusters_and_says_it_is_no_verdict(client, graded):
    """Does the page list each question's pairs (with a side-by-side link) and its cluster of
    three, and say that it is evidence, not a verdict?"""
    page = client.get("/similarity").get_data(as_text=True)
    assert "never a verdict" in page
    for question in _report(graded)["questions"]:
        for pair in question["pairs"]:
            assert f"/similarity/{question['name']}/{pair['a']}/{pair['b']}" in page
    assert "copy_renamed.ipynb, copy_renamed_commented.ipynb, honest_0.ipynb" in page
    listed = sum(len(q["pairs"]) for q in _report(graded)["questions"])
    assert page.count(">side by side</a>") == listed


def test_a_higher_threshold_shows_fewer_pairs_and_a_bad_one_is_ignored(client, graded):
    """Does ?threshold= hide pairs below it, and a value that is no number fall back?"""

    def shown(url: str) -> int:
        return client.get(url).get_data(as_text=True).count(">side by side</a>")

    everything = shown("/similarity")
    assert everything >= 3
    assert shown("/similarity?threshold=0.99") < everything
    odd = shown("/similarity?threshold=nan")
    assert odd == everything


def test_side_by_side_numbers_the_fragments_and_escapes_the_text(client, graded):
    """Does the side-by-side view highlight each shared fragment, numbered on both sides, and
    show the hostile answer as text?"""
    pair = _pair(graded, "q_confusion")
    assert {pair["a"], pair["b"]} == {"copy_written.ipynb", "honest_4.ipynb"}
    page = client.get(f"/similarity/q_confusion/{pair['a']}/{pair['b']}").get_data(as_text=True)
    for fragment in pair["fragments"]:
        number = fragment["number"]
        assert page.count(f'data-fragment="{number}"') >= 2
        assert page.count(f'<span class="fragment-number">{number}</span>') == 2
    labels = r'<span class="fragment-number">\d+</span>'
    shown = html.unescape(re.sub(r"<[^>]*>", "", re.sub(labels, "", page)))  # as a browser shows
    assert HOSTILE in shown
    assert "<script>document" not in page and "<img src=x" not in page
    assert "never a verdict" in page


def test_code_side_by_side_greys_the_handed_out_code(client, graded):
    """Does a code pair show the handed-out lines as such, apart from the shared fragments?"""
    pair = _pair(graded, "q_softmax")
    page = client.get(f"/similarity/q_softmax/{pair['a']}/{pair['b']}").get_data(as_text=True)
    assert 'class="handed-out"' in page and 'class="fragment"' in page


def test_unknown_pair_or_missing_report_is_said(client, graded, tmp_path):
    """Is a pair the report does not list a 404 naming it, and a folder without a report told
    how to make one?"""
    response = client.get("/similarity/q_confusion/honest_0/nobody")
    assert response.status_code == 404 and "nobody" in response.get_data(as_text=True)
    bare = review_app.create_app(graded_folder(tmp_path / "bare"))
    page = bare.test_client().get("/similarity").get_data(as_text=True)
    assert "no similarity report yet" in page and "labkit similarity" in page
    bare.extensions[review_app.REFRESHER_KEY].close()


def test_anonymous_grading_names_pairs_by_pseudonym(graded, tmp_path):
    """With anonymous grading on, do the Similarity pages name and link every submission by its
    pseudonym only, and does the side-by-side view open by pseudonyms?"""
    own = shutil.copytree(graded, tmp_path / "own")  # the switch is kept in its review.sqlite
    app = review_app.create_app(own)
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(True))
    headers = {"X-CSRF-Token": token.group(1)}
    switched = client.post("/api/anonymous", json={"anonymous": True}, headers=headers)
    assert switched.status_code == 200
    page = client.get("/similarity").get_data(as_text=True)
    links = re.findall(r'href="(/similarity/[^"]+)"', page)
    assert links and all(re.fullmatch(r"/similarity/q_\w+/S-\d+/S-\d+", link) for link in links)
    pair = client.get(links[0]).get_data(as_text=True)
    for text in (page, pair):
        assert ".ipynb" not in text and "honest_" not in text and "copy_" not in text
    assert "fragment-number" in pair
    app.extensions[review_app.REFRESHER_KEY].close()


def test_a_broken_report_is_an_error_naming_it(tmp_path):
    """Does a similarity.json that is not a report give a page naming the file?"""
    out = graded_folder(tmp_path / "out")
    (out / "similarity.json").write_text('{"format": "something else"}')
    app = review_app.create_app(out)
    response = app.test_client().get("/similarity")
    app.extensions[review_app.REFRESHER_KEY].close()
    assert response.status_code == 404
    assert "similarity.json" in response.get_data(as_text=True)


def test_spans_that_do_not_fit_the_text_are_left_out():
    """Are spans beyond the text, reversed or not integers left out, the text kept whole?"""
    from labkit.review.similarity import segments

    text = "abcdef"
    cut = segments(text, [([1, 3], 1), ([4, 99], 2), ([5, 2], 3), (["0", 2], 4)], [[3, 4]])
    assert "".join(s.text for s in cut) == text
    assert [(s.text, s.number, s.handed_out, s.label) for s in cut] == [
        ("a", None, False, False),
        ("bc", 1, False, True),
        ("d", None, True, False),
        ("ef", None, False, False),
    ]


@pytest.mark.browser
def test_browser_side_by_side_highlights_and_runs_nothing(graded, tmp_path):
    """In Chromium: are the shared fragments highlighted and numbered on both sides, and does
    the hostile answer leave the title alone and open no dialog?"""
    playwright_api = pytest.importorskip("playwright.sync_api")
    pair = _pair(graded, "q_confusion")
    with running_server(graded) as url, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        dialogs: list[str] = []
        errors: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{url}similarity/q_confusion/{pair['a']}/{pair['b']}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        for side in (pair["a"], pair["b"]):
            section = page.locator(f'section.side[data-submission="{side}"]')
            assert section.locator("mark.fragment").count() >= len(pair["fragments"])
            assert section.locator(".fragment-number").count() == len(pair["fragments"])
            background = section.locator("mark.fragment").first.evaluate(
                "e => getComputedStyle(e).backgroundColor"
            )
            assert background not in ("rgba(0, 0, 0, 0)", "transparent")
        page.screenshot(path=str(tmp_path / "side-by-side.png"), full_page=True)
        assert page.title() != "pwned" and dialogs == [] and errors == []
        for side in (pair["a"], pair["b"]):
            shown = page.locator(f'section.side[data-submission="{side}"] pre').evaluate(
                "e => { const c = e.cloneNode(true);"
                " c.querySelectorAll('.fragment-number').forEach(n => n.remove());"
                " return c.textContent; }"
            )
            assert HOSTILE in shown
        browser.close()
