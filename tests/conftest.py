"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def autograder_zip() -> Path:
    """The committed autograder zip (test_release checks it is what the source produces)."""
    return ROOT / "autograder" / "logreg_digits-autograder.zip"


@pytest.fixture(scope="session")
def graded_both_ways(autograder_zip, tmp_path_factory) -> dict[str, dict]:
    """Every fixture submission graded through ``otter run`` and through ``labkit grade``."""
    from both_paths import grade_everything

    return grade_everything(autograder_zip, tmp_path_factory.mktemp("both-ways"))
