"""Fixtures shared by the test modules."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each slow tier, by what it needs; every one implies ``slow`` (see pyproject's markers).
SLOW_TIERS = ("graded", "release", "cluster", "registry", "browser")


def pytest_configure(config):
    """Let Ctrl-C reach the commands the tests interrupt: a suite started in the background
    (``nohup .ci/run &``) inherits SIGINT ignored, and so would every ``labkit grade`` it
    starts, which would then finish its batch instead of stopping."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items):
    """Mark every test of a slow tier ``slow`` too, so ``-m "not slow"`` is the fast tier."""
    for item in items:
        if any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def autograder_zip() -> Path:
    """The committed autograder zip (test_release checks it is what the source produces)."""
    return ROOT / "autograder" / "logreg_digits-autograder.zip"


@pytest.fixture(scope="session")
def graded_both_ways(autograder_zip, tmp_path_factory) -> dict[str, dict]:
    """Every fixture submission graded through ``otter run`` and through ``labkit grade``."""
    from both_paths import grade_everything

    return grade_everything(autograder_zip, tmp_path_factory.mktemp("both-ways"))
