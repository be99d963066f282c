"""Grading integrity: a crafted otter log never runs in the grader."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labkit import grading

SOLUTION = Path(__file__).resolve().parent / "submissions" / "solution.ipynb"


class _CreatesFile:
    """Unpickling this object creates the file at ``path``: a stand-in for any code at all."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted_export(tmp_path: Path, marker: Path) -> Path:
    """A zip laid out like grader.export()'s, whose .OTTER_LOG is a malicious pickle."""
    path = tmp_path / "crafted.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("logreg_digits.ipynb", SOLUTION.read_bytes())
        archive.writestr(".OTTER_LOG", pickle.dumps(_CreatesFile(marker)))
    return path


def _otter_run(autograder: Path, submission: Path, out: Path) -> dict[str, float]:
    out.mkdir()
    command = [sys.executable, "-m", "otter", "run", "-a", str(autograder), "-o", str(out)]
    subprocess.run([*command, str(submission)], capture_output=True, text=True, check=False)
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: t["score"] for t in tests if "score" in t}


def _without_plugin(autograder: Path, tmp_path: Path) -> Path:
    """The same autograder zip as stock otter would build it: no plugins configured."""
    stock = tmp_path / "stock-autograder.zip"
    with zipfile.ZipFile(autograder) as source, zipfile.ZipFile(stock, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "otter_config.json":
                config = json.loads(data)
                config.pop("plugins", None)
                data = json.dumps(config).encode()
            target.writestr(info, data)
    return stock


@pytest.mark.slow
def test_crafted_log_never_runs_under_otter_run(tmp_path, autograder_zip):
    """Through `otter run` with the released zip: no marker, full marks. Stock otter: marker."""
    marker = tmp_path / "pwned"
    crafted = _crafted_export(tmp_path, marker)
    scores = _otter_run(autograder_zip, crafted, tmp_path / "released")
    assert not marker.exists(), "the crafted .OTTER_LOG was unpickled by the released autograder"
    assert sum(scores.values()) == 15
    _otter_run(_without_plugin(autograder_zip, tmp_path), crafted, tmp_path / "stock")
    assert marker.exists(), "control: stock otter should have unpickled the log"


@pytest.mark.slow
def test_crafted_log_never_runs_under_labkit_grade(tmp_path, autograder_zip):
    """Through `labkit grade`: no marker, full marks, and the log flagged for the TA."""
    marker = tmp_path / "pwned"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.move(_crafted_export(tmp_path, marker), inbox / "crafted.zip")
    result = grading.grade_batch(
        [inbox], autograder=autograder_zip, output_dir=tmp_path / "out", progress=False
    )
    (outcome,) = result.outcomes
    assert not marker.exists()
    assert outcome.status == "ok" and outcome.total == 15
    assert "flagged for review" in outcome.message and ".OTTER_LOG" in outcome.message


def test_released_zip_carries_the_plugin(autograder_zip):
    """Does the zip configure the plugin and carry its code, identical to the kit's?"""
    import labkit.otter_plugin as plugin

    with zipfile.ZipFile(autograder_zip) as archive:
        config = json.loads(archive.read("otter_config.json"))
        shipped = archive.read("labkit/otter_plugin.py")
    assert "labkit.otter_plugin.GradingIntegrity" in json.dumps(config.get("plugins"))
    assert shipped == Path(plugin.__file__).read_bytes()
