"""Intake of uploads: the notebook of a zip that is graded (as `otter run` picks it), and flags."""

from __future__ import annotations

import pytest

from labkit import intake
from labkit.atomic import reproducible_zip

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
OTHER = b'{"cells": [], "metadata": {"x": 1}, "nbformat": 4, "nbformat_minor": 5}'


def make_zip(tmp_path, entries: dict[str, bytes]):
    path = tmp_path / "upload.zip"
    path.write_bytes(reproducible_zip([(n, d, 0o644) for n, d in entries.items()]))
    return path


@pytest.mark.parametrize(
    ("entries", "graded"),
    [
        ({"logreg_digits.ipynb": NOTEBOOK}, ("logreg_digits.ipynb", NOTEBOOK)),
        # otter grades the top-level notebook; nested ones and checkpoints are not looked at
        (
            {
                "logreg_digits.ipynb": NOTEBOOK,
                "copy/logreg_digits.ipynb": OTHER,
                ".ipynb_checkpoints/logreg_digits-checkpoint.ipynb": OTHER,
            },
            ("logreg_digits.ipynb", NOTEBOOK),
        ),
        # extraction drops '..' and leading '/': these land at the top, the later one wins
        ({"../../lab.ipynb": NOTEBOOK}, ("lab.ipynb", NOTEBOOK)),
        ({"lab.ipynb": NOTEBOOK, "./../lab.ipynb": OTHER}, ("lab.ipynb", OTHER)),
    ],
)
def test_the_top_level_notebook_is_graded(tmp_path, entries, graded):
    assert intake.read_notebook(make_zip(tmp_path, entries)) == graded


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ({"a.ipynb": NOTEBOOK, "b.ipynb": NOTEBOOK}, "found a.ipynb, b.ipynb"),
        ({"copy/a.ipynb": NOTEBOOK}, "found none"),
        ({"notes.txt": b"x"}, "found none"),
    ],
)
def test_zips_without_one_top_level_notebook_are_invalid(tmp_path, entries, reason):
    with pytest.raises(intake.InvalidSubmission, match=f"top of the zip, {reason}"):
        intake.read_notebook(make_zip(tmp_path, entries))


def test_entries_named_outside_the_zip_are_flagged(tmp_path):
    path = make_zip(
        tmp_path,
        {"logreg_digits.ipynb": NOTEBOOK, "../../outside.txt": b"x", "/etc/cron.d/x": b"x"},
    )
    assert intake.outside_entries(path) == ["../../outside.txt", "/etc/cron.d/x"]
    assert intake.zip_flags(path) == [
        "the zip has entries named outside it ('../../outside.txt', '/etc/cron.d/x'), ignored: "
        "never extracted"
    ]
    clean = make_zip(tmp_path, {"logreg_digits.ipynb": NOTEBOOK, ".OTTER_LOG": b"\x80"})
    assert intake.zip_flags(clean) == [intake.LOG_FLAG]
    notebook = tmp_path / "lab.ipynb"
    notebook.write_bytes(NOTEBOOK)
    assert intake.zip_flags(notebook) == []
