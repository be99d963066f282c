"""Gradescope's ``submission_metadata.yml``: who submitted each folder of a bulk export."""

from __future__ import annotations

import pytest

from labkit import intake

EXPORT = """\
submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1815'
    :email: ada@example.edu
  - :name: Charles Babbage
    :sid: 1791
    :email: charles@example.edu
  :created_at: 2026-11-30 10:00:00.000000000 -08:00
  :score: 12.0
  :status: processed
submission_102:
  :submitters:
  - :name: "<script>alert(1)</script>\\n\\tEve"
    :email: [not, text]
  :results: !ruby/hash:ActiveSupport::HashWithIndifferentAccess
    score: 3
"""


def export_folder(tmp_path, metadata: str):
    """A bulk-export folder: the metadata file, two submission folders and a loose notebook."""
    folder = tmp_path / "export"
    for name in ("submission_101", "submission_102"):
        (folder / name).mkdir(parents=True)
        (folder / name / "logreg_digits.ipynb").write_text("{}")
    (folder / "loose.ipynb").write_text("{}")
    (folder / "submission_metadata.yml").write_text(metadata)
    return folder


def test_submitters_are_read_for_each_folder(tmp_path):
    """Does each export folder get its submitters' name, email and sid, as text?"""
    found = {s.name: s.students for s in intake.find_submissions([export_folder(tmp_path, EXPORT)])}
    assert found["submission_101"] == [
        {"name": "Ada Lovelace", "email": "ada@example.edu", "sid": "1815"},
        {"name": "Charles Babbage", "email": "charles@example.edu", "sid": "1791"},
    ]
    # Whitespace is folded, a field of the wrong type is dropped, a Ruby tag is plain data.
    assert found["submission_102"] == [
        {"name": "<script>alert(1)</script> Eve", "email": "", "sid": ""}
    ]
    assert found["loose.ipynb"] == []


@pytest.mark.parametrize(
    "metadata",
    [
        "just a string",
        "- a\n- list\n",
        "submission_101: 5\nsubmission_102:\n  :submitters: nope\n",
        "submission_101:\n  :submitters:\n  - 7\n  - [1]\n",
        "",
    ],
)
def test_odd_shapes_give_no_submitters(tmp_path, metadata):
    """Does metadata of an unexpected shape give no submitters, without an error?"""
    submissions = intake.find_submissions([export_folder(tmp_path, metadata)])
    assert all(s.students == [] for s in submissions)


def test_a_python_object_tag_is_never_built(tmp_path):
    """Is a tag naming a Python object read as data, never constructed?"""
    metadata = "submission_101:\n  :submitters: !!python/object/apply:os.system ['touch pwned']\n"
    submissions = intake.find_submissions([export_folder(tmp_path, metadata)])
    assert all(s.students == [] for s in submissions)
    assert not (tmp_path / "pwned").exists()


def test_broken_yaml_is_an_error_naming_the_file(tmp_path):
    """Does a metadata file that is not YAML stop the batch with its name?"""
    with pytest.raises(intake.GradingError, match="submission_metadata.yml: not a readable"):
        intake.find_submissions([export_folder(tmp_path, "a: [unclosed\n")])


def test_aliases_do_not_blow_up(tmp_path):
    """Does a file of nested aliases (a 'billion laughs') read quickly into nothing?"""
    lines = ["a: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']"]
    for k in range(1, 9):
        prev, name = "abcdefghij"[k - 1], "abcdefghij"[k]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("submission_101:\n  :submitters: *i")
    submissions = intake.find_submissions([export_folder(tmp_path, "\n".join(lines) + "\n")])
    assert {s.name: s.students for s in submissions}["submission_101"] == []
