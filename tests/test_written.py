"""Collecting written answers from submitted notebooks, the corpus and hostile notebooks alike."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from labkit import intake, release
from labkit.gradebook import written
from labkit.gradebook.written import BEGIN_MARKER, END_MARKER, PLACEHOLDER, extract_answers

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"
CORPUS = sorted(SUBMISSIONS.glob("*.ipynb"))
NAMES = ["q_confusion", "q_modified_digit", "q_l1_reading"]
PIXEL = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 20).decode()


@pytest.fixture(scope="module")
def questions() -> list[written.WrittenQuestion]:
    """The lab's written questions, as the release derives them from the solutions."""
    source = release.read_source(ROOT / "assignment")
    return release.written_questions(ROOT / "solutions" / release.NOTEBOOK_NAME, source)


def test_the_release_lists_the_three_written_questions(questions):
    """Are the manual questions found, in order, with points, prompt and a reference answer?"""
    assert [(q.name, q.points) for q in questions] == [
        ("q_confusion", 2.0),
        ("q_modified_digit", 2.0),
        ("q_l1_reading", 1.0),
    ]
    assert all(f"`{q.name}`" in q.prompt and BEGIN_MARKER not in q.prompt for q in questions)
    assert all(q.reference and not written.is_empty(q.reference) for q in questions)
    assert "penalty" in questions[2].reference[0]["source"]
    text = written.questions_to_json(questions)
    assert written.questions_from_json(text) == questions
    assert written.questions_to_json(written.questions_from_json(text)) == text


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_corpus_answer_is_found(path, questions):
    """Does every corpus notebook give an answer to each question, empty only for the blank?"""
    answers = extract_answers(path.read_bytes(), questions)
    assert list(answers) == NAMES
    for name, answer in answers.items():
        assert answer["notes"] == [], (name, answer["notes"])
        assert answer["fingerprint"] == written.answer_fingerprint(answer["cells"])
        assert answer["cells"] and all(c["cell_type"] == "markdown" for c in answer["cells"])
        if path.name == "blank.ipynb":
            assert answer["empty"] and answer["cells"][0]["source"] == PLACEHOLDER
        else:
            assert not answer["empty"]
            assert PLACEHOLDER not in answer["cells"][0]["source"]


def test_the_corpus_has_images_math_and_hostile_answers(questions):
    """Does the corpus hold what the review must show: images, LaTeX, hostile markup?"""
    found = {}
    for path in CORPUS:
        for name, answer in extract_answers(path.read_bytes(), questions).items():
            for cell in answer["cells"]:
                found.setdefault(name, []).append((path.stem, cell))
    digits = [cell for _, cell in found["q_modified_digit"] if cell["attachments"]]
    assert len(digits) >= 5
    png = base64.b64decode(digits[0]["attachments"]["modified_digit.png"]["image/png"])
    assert png.startswith(b"\x89PNG")
    text = "\n".join(cell["source"] for cells in found.values() for _, cell in cells)
    assert "$C$" in text and "<script>" in text and "onerror=" in text and "javascript:" in text
    assert len({cell["source"] for _, cell in found["q_confusion"]}) >= 5


def test_the_corpus_answers_are_reproducible(tmp_path):
    """Does the corpus script leave the committed corpus byte for byte as it is?"""
    import make_written_answers

    copy = tmp_path / "submissions"
    copy.mkdir()
    for path in CORPUS:
        (copy / path.name).write_bytes(path.read_bytes())
    names = sorted(p.name for p in CORPUS if p.name != "blank.ipynb")
    changed = [n for k, n in enumerate(names) if make_written_answers.rewrite(copy / n, k)]
    assert changed == []


def notebook(*cells) -> bytes:
    """A notebook of the given cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nbformat.writes(nb).encode()


def begin(question: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(f"{BEGIN_MARKER}\n\n**Question (`{question}`).** Why?")


def end() -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(f"{END_MARKER}\n\n## Next part")


def md(text: str, **extra) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text, **extra)


QS = [
    written.WrittenQuestion("q_one", 2.0, "**Question (`q_one`).** Why?"),
    written.WrittenQuestion("q_two", 1.0, "**Question (`q_two`).** Why?"),
]


def test_code_cells_keep_their_outputs_and_images():
    """Are a code answer's outputs (text, images, errors) kept, and nothing run?"""
    code = nbformat.v4.new_code_cell("import os; os.system('touch /tmp/pwned')")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
        nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "<Fig>"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=["tb"]),
    ]
    nb = notebook(begin("q_one"), code, end(), begin("q_two"), md("Two."), end())
    answers = extract_answers(nb, QS)
    (cell,) = answers["q_one"]["cells"]
    assert cell["source"].startswith("import os")
    assert [o["output_type"] for o in cell["outputs"]] == ["stream", "display_data", "error"]
    assert cell["outputs"][1]["data"] == {"image/png": PIXEL, "text/plain": "<Fig>"}
    assert not answers["q_one"]["empty"]
    assert answers["q_two"]["cells"][0]["source"] == "Two."
    assert not Path("/tmp/pwned").exists()


def test_a_notebook_without_markers_gives_empty_answers_with_a_note():
    """Does a notebook whose markers were deleted give empty answers, and say so?"""
    answers = extract_answers(notebook(md("An answer with no question around it.")), QS)
    for answer in answers.values():
        assert answer["cells"] == [] and answer["empty"]
        assert answer["notes"] == ["no start marker for this question was found in the notebook"]


def test_duplicated_markers_keep_every_copy_in_order():
    """Does a question region copied twice keep both answers, with a note?"""
    nb = notebook(begin("q_one"), md("First."), end(), begin("q_one"), md("Second."), end())
    answer = extract_answers(nb, QS)["q_one"]
    assert [c["source"] for c in answer["cells"]] == ["First.", "Second."]
    assert "appears 2 times" in answer["notes"][0]


def test_a_typed_marker_that_names_no_question_is_part_of_the_answer():
    """Does a student typing the start marker's text not cut their answer?"""
    nb = notebook(begin("q_one"), md(f"I wrote {BEGIN_MARKER} here."), md("More."), end())
    answer = extract_answers(nb, QS)["q_one"]
    assert [c["source"] for c in answer["cells"]] == [f"I wrote {BEGIN_MARKER} here.", "More."]


def test_a_missing_end_marker_stops_at_the_next_question_or_the_cell_limit():
    """Does a region without its end marker stop at the next question, or after MAX_CELLS?"""
    nb = notebook(begin("q_one"), md("One."), begin("q_two"), *[md(f"{k}") for k in range(30)])
    answers = extract_answers(nb, QS)
    assert [c["source"] for c in answers["q_one"]["cells"]] == ["One."]
    assert len(answers["q_two"]["cells"]) == written.MAX_CELLS
    assert "end marker was not found" in answers["q_two"]["notes"][0]


def test_huge_outputs_and_images_are_cut_with_a_note():
    """Are an enormous text output cut and an enormous image left out, each with a note?"""
    code = nbformat.v4.new_code_cell("print('x' * 10**7)")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="x" * 10**7),
        nbformat.v4.new_output("display_data", data={"image/png": "A" * 3_000_000}),
    ] + [nbformat.v4.new_output("stream", name="stdout", text="y")] * 50
    big = md("look ![x](attachment:a.png)")
    big.attachments = {"a.png": {"image/png": "A" * 3_000_000}}
    nb = notebook(begin("q_one"), code, big, md("z" * 100_000), end())
    answer = extract_answers(nb, QS)["q_one"]
    assert len(json.dumps(answer)) < 100_000
    stream = answer["cells"][0]["outputs"][0]["text"]
    assert len(stream) < written.MAX_TEXT_CHARS + 20 and stream.endswith("[... cut]")
    assert answer["cells"][1]["attachments"] == {}
    notes = " | ".join(answer["notes"])
    assert "cut to its first" in notes and "left out" in notes and "more than 20 outputs" in notes


def test_unreadable_notebooks_never_raise():
    """Does a notebook that is not one give empty answers with a note, not an exception?"""
    for data in (b"", b"\xff\xfe", b"{}", b'{"cells": 5}', b"[1, 2]"):
        answers = extract_answers(data, QS)
        assert all(a["cells"] == [] and a["empty"] for a in answers.values())
        assert all(a["notes"] for a in answers.values())


def test_odd_field_types_are_dropped_not_trusted():
    """Are outputs and attachments of the wrong shape dropped?"""
    raw = json.loads(notebook(begin("q_one"), md("x"), end()))
    raw["cells"][1]["attachments"] = {"a.png": {"image/png": 5, "text/html": "<b>"}, "b": []}
    code = {"cell_type": "code", "source": ["1"], "metadata": {}, "execution_count": None}
    code["outputs"] = [{"output_type": "display_data", "data": {"image/png": "!!!"}}, 7]
    raw["cells"].insert(2, code)
    answer = extract_answers(json.dumps(raw), QS)["q_one"]
    assert answer["cells"][0]["attachments"] == {}
    assert answer["cells"][1]["outputs"] == []


def test_fingerprints_follow_the_content():
    """Is the fingerprint the same for the same answer, different for any change?"""
    one = extract_answers(notebook(begin("q_one"), md("A."), end()), QS)["q_one"]
    again = extract_answers(notebook(begin("q_one"), md("A."), end()), QS)["q_one"]
    other = extract_answers(notebook(begin("q_one"), md("A!"), end()), QS)["q_one"]
    assert one["fingerprint"] == again["fingerprint"] != other["fingerprint"]


def copy_zip(source: Path, target: Path, written_json: str | None) -> Path:
    """A copy of an autograder zip with the given written_questions.json (none if None)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            if info.filename != "written_questions.json":
                new.writestr(info, old.read(info))
        if written_json is not None:
            new.writestr("written_questions.json", written_json)
    return target


def test_the_autograder_zip_carries_the_written_questions(tmp_path, questions, autograder_zip):
    """Does Autograder.load read written_questions.json, and a zip without it have none?"""
    text = written.questions_to_json(questions)
    loaded = intake.Autograder.load(copy_zip(autograder_zip, tmp_path / "with.zip", text))
    assert loaded.written == questions and loaded.written_json == text.encode()
    assert (
        intake.Autograder.load(copy_zip(autograder_zip, tmp_path / "old.zip", None)).written == []
    )
    broken = copy_zip(autograder_zip, tmp_path / "broken.zip", '{"questions": [{"name": 3}]}')
    with pytest.raises(intake.GradingError, match="written_questions.json: a question's name"):
        intake.Autograder.load(broken)
