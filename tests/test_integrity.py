"""Grading integrity: the zip carries the trusted side, and the student export carries no log.

The tampering corpus (``test_tampering.py``) grades crafted logs and the rest through both graders.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


def test_released_zip_carries_the_plugin(autograder_zip):
    """Does the zip configure the plugin and carry its code, identical to the kit's?"""
    import labkit
    from labkit.release import PLUGIN_FILES

    package = Path(labkit.__file__).parent
    with zipfile.ZipFile(autograder_zip) as archive:
        config = json.loads(archive.read("otter_config.json"))
        shipped = {name: archive.read(f"labkit/{name}") for name in PLUGIN_FILES}
    assert "labkit.otter_plugin.GradingIntegrity" in json.dumps(config.get("plugins"))
    assert shipped == {name: (package / name).read_bytes() for name in PLUGIN_FILES}
    assert {"otter_plugin.py", "judging.py", "answers.py", "execution.py"} <= set(shipped)


def _export(folder: Path, cell_source: str) -> list[str]:
    """Run an export cell's source in ``folder``; return the names in the zip it made."""
    script = (
        f"import otter\ngrader = otter.Notebook('logreg_digits.ipynb')\nexec({cell_source!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=folder, check=True, capture_output=True)
    (made,) = folder.glob("*.zip")
    with zipfile.ZipFile(made) as archive:
        return archive.namelist()


def test_student_export_ships_no_log(tmp_path):
    """The student notebook's export cell leaves the otter log out of the zip to submit."""
    import nbformat

    student = Path(__file__).resolve().parent.parent / "student_template"
    cells = nbformat.read(student / "logreg_digits.ipynb", as_version=4).cells
    (export,) = [c.source for c in cells if "grader.export(" in c.source]
    released, control = tmp_path / "released", tmp_path / "control"
    for folder in (released, control):
        shutil.copytree(student, folder)
        (folder / ".OTTER_LOG").write_bytes(b"a log the student's checks would have written")
    assert _export(released, export) == ["logreg_digits.ipynb", "__zip_filename__"]
    control_export = export.replace("ignore_log=True", "ignore_log=False")
    assert control_export != export
    assert ".OTTER_LOG" in _export(control, control_export)
