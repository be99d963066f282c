"""Project-level promises: CI runs what the README says, and the code is formatted and linted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[list[str]]:
    """The Quick start's code blocks, each as its lines."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.splitlines() for block in re.findall(r"```bash\n(.+?)\n```", section, re.S)]


def test_readme_quick_start_builds_then_installs_the_tests_then_runs_them():
    """Does the Quick start build the release in one line, install the test tools as a step of
    its own followed by the fast tier, and then run the whole suite?"""
    release, tests, suite = _quick_start_commands()
    assert len(release) == 1 and release[0].endswith("labkit release")
    install, fast = tests
    assert '.venv/bin/pip install -q -e ".[test]"' in install and "pytest" not in install
    assert fast == '.venv/bin/pytest -m "not slow"'
    assert suite == [".venv/bin/pytest --durations=30"]


def test_ci_runs_the_readme_test_commands():
    """Does .ci/run install and run the suite with the README's commands, verbatim?"""
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    _, (install, _), (suite,) = _quick_start_commands()
    assert install in ci_lines and suite in ci_lines
    assert ci_lines.index(install) < ci_lines.index(suite)


def test_ruff_is_clean():
    """Is the code formatted and lint-free by the project's ruff settings?"""
    ruff = [sys.executable, "-m", "ruff"]
    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([*ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout
