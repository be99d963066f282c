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


def test_released_zip_carries_the_grader_package(autograder_zip):
    """Does the zip configure the plugin and carry labkit/grader/ whole, identical to the kit's?"""
    import labkit
    from labkit.grader.config import PLUGIN_NAME
    from labkit.release import grader_files

    package = Path(labkit.__file__).parent
    with zipfile.ZipFile(autograder_zip) as archive:
        config = json.loads(archive.read("otter_config.json"))
        shipped = {n: archive.read(n) for n in archive.namelist() if n.startswith("labkit/")}
    assert PLUGIN_NAME in json.dumps(config.get("plugins"))
    expected = {f"labkit/grader/{p.name}": p.read_bytes() for p in grader_files()}
    expected["labkit/__init__.py"] = (package / "__init__.py").read_bytes()
    assert shipped == expected
    assert {"otter_plugin.py", "pipeline.py", "judging.py", "answers.py", "kernel.py"} <= {
        Path(n).name for n in shipped
    }


def test_plugin_imports_from_the_zip_alone(autograder_zip, tmp_path):
    """Does the plugin import from the zip's own copy, with nothing else of the kit reachable?"""
    with zipfile.ZipFile(autograder_zip) as archive:
        for name in archive.namelist():
            if name.startswith("labkit/"):
                archive.extract(name, tmp_path)
    probe = (
        "import sys\n"
        "sys.meta_path = [f for f in sys.meta_path if '__editable__' not in f.__module__]\n"
        "sys.path_hooks = [h for h in sys.path_hooks if '__editable__' not in h.__module__]\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import labkit.grader.otter_plugin as plugin\n"
        "print(plugin.__file__)\n"
        "try:\n"
        "    import labkit.batch\n"
        "    print('kit reachable')\n"
        "except ImportError:\n"
        "    print('kit not reachable')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    where, reachable = done.stdout.split()[:1] + [done.stdout.strip().splitlines()[-1]]
    assert where == str(tmp_path / "labkit" / "grader" / "otter_plugin.py")
    assert reachable == "kit not reachable"


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
