"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def autograder_zip() -> Path:
    """The committed autograder zip (test_release checks it is what the source produces)."""
    return ROOT / "autograder" / "logreg_digits-autograder.zip"
