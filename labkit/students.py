"""What students get beside the notebook: its setup cell, requirements, README and download zip.

The student release must work the first time wherever a student opens it: a laptop with the
pinned packages (``pip install -r requirements.txt``), Colab (which has no otter-grader and other
versions of the lab's packages), a JupyterHub, offline. The notebook's first cell (``setup_cell``)
checks the running Python against the lab's pins, installs what is missing, warns where another
version changes the lab's results, and finds (or unpacks) the lab's files. It is tagged
``otter_ignore``: grading never runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from labkit.atomic import reproducible_zip

# The packages a student's notebook imports or needs to check and export its work. The grading-side
# pins of requirements.txt (ipykernel, nbclient, ...) are the host's business (Colab has its own).
NOTEBOOK_PACKAGES = (
    "otter-grader",
    "numpy",
    "scipy",
    "scikit-learn",
    "pandas",
    "pillow",
    "matplotlib",
    "seaborn",
)
# Where another version changes what the lab computes: how many leading parts of the version
# must match the pin, and what goes wrong otherwise.
RESULT_CHANGING = {
    "numpy": (1, "numpy 1 and numpy 2 differ in types and printed values"),
    "scikit-learn": (
        2,
        "older versions fit an L2 model for l1_ratio=1 without penalty='l1' (few zero weights)",
    ),
    "pandas": (1, "tables print and convert differently"),
    "pillow": (1, "photos are resized and converted differently"),
    "otter-grader": (1, "grader.check and the export cell may not work"),
}
# The module each package is imported as, where it differs from the package's name.
IMPORT_NAMES = {"otter-grader": "otter", "scikit-learn": "sklearn", "pillow": "PIL"}
# What students add on their own machine to open the notebook.
STUDENT_EXTRAS = ("jupyterlab==4.6.6",)
SETUP_TAGS = ["otter_ignore", "labkit_setup"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


class StudentReleaseError(Exception):
    """The lab's pins or the student files are wrong; the message names the file."""


def read_pins(requirements: Path) -> dict[str, str]:
    """Every ``name==version`` line of a requirements file (comments and blanks skipped).

    Raises StudentReleaseError naming the file and line for anything that is not an exact pin.
    """
    pins = {}
    for number, line in enumerate(requirements.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise StudentReleaseError(
                f"{requirements}, line {number}: {line!r} is not an exact pin (name==version)"
            )
        pins[match.group(1).lower()] = match.group(2)
    return pins


def setup_cell_source(pins: dict[str, str], *, lab_files: list[str], student_zip: str) -> str:
    """The Python source of the student notebook's setup cell, with the lab's pins written in."""
    missing = [name for name in NOTEBOOK_PACKAGES if name not in pins]
    if missing:
        raise StudentReleaseError(
            f"requirements.txt pins no version of {', '.join(missing)}, which the notebook needs"
        )
    notebook_pins = {name: pins[name] for name in NOTEBOOK_PACKAGES}
    return SETUP_CELL.format(
        pins=_literal(notebook_pins),
        result_changing=_literal(RESULT_CHANGING),
        import_names=IMPORT_NAMES,
        lab_files=lab_files,
        student_zip=student_zip,
    )


def _literal(mapping: dict) -> str:
    lines = [f"        {key!r}: {value!r}," for key, value in mapping.items()]
    return "{\n" + "\n".join(lines) + "\n    }"


def add_setup_cell(notebook: Path, source: str) -> None:
    """Insert the setup cell before the notebook's first code cell (otter's ``import otter``)."""
    nb = nbformat.read(notebook, as_version=4)
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(SETUP_TAGS)
    cell.metadata["deletable"] = False
    cell.metadata["editable"] = False
    cell.metadata["cellView"] = "form"  # Colab shows the title, not the code
    cell.metadata["jupyter"] = {"source_hidden": True}  # so does JupyterLab
    first_code = next((n for n, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    nbformat.write(nb, notebook)


def rewrite_export_cell(notebook: Path, *, zip_prefix: str) -> None:
    """Make the export cell say where the zip is and what to upload, and work in Colab.

    Otter's ``grader.export`` refuses to run in Colab; there the cell explains how to download the
    notebook instead (an ``.ipynb`` is graded like the zip). The cell is tagged ``otter_ignore``:
    grading has nothing to export.
    """
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "grader.export(" in c.source]
    if len(cells) != 1:
        raise StudentReleaseError(f"{notebook}: expected one export cell, found {len(cells)}")
    cell = cells[0]
    call = next(line for line in cell.source.splitlines() if "grader.export(" in line).strip()
    cell.source = EXPORT_CELL.format(call=call, zip_prefix=zip_prefix)
    cell.metadata["tags"] = sorted({*cell.metadata.get("tags", []), "otter_ignore"})
    nbformat.write(nb, notebook)


def requirements_text(pins: dict[str, str]) -> str:
    """``requirements.txt`` for a student's own machine: the lab's pins plus JupyterLab."""
    lines = [
        "# The lab's exact versions, the ones it is graded with, plus JupyterLab to open it:",
        "#   pip install -r requirements.txt",
        *(f"{name}=={version}" for name, version in pins.items()),
        *STUDENT_EXTRAS,
    ]
    return "\n".join(lines) + "\n"


def readme_text(*, notebook: str, student_zip: str, lab_files: list[str]) -> str:
    """``README.md`` of the student folder: one command per environment, and how to submit."""
    folders = ", ".join(f"`{name}/`" for name in lab_files)
    return README.format(notebook=notebook, student_zip=student_zip, folders=folders)


def write_student_zip(student_dir: Path, path: Path, *, top: str) -> None:
    """Zip ``student_dir`` under one top folder ``top/``, reproducibly (sorted, fixed times)."""
    entries = [
        (f"{top}/{file.relative_to(student_dir).as_posix()}", file.read_bytes(), 0o644)
        for file in sorted(p for p in student_dir.rglob("*") if p.is_file())
    ]
    path.write_bytes(reproducible_zip(entries))


SETUP_CELL = """\
#@title Setup: run this cell first (click to show its code)
# Setup: run this cell first. It checks that this Python has the lab's packages at the versions
# the lab is graded with, installs any that are missing (in Colab: otter-grader and others), and
# finds the lab's files. It needs the internet only to install. Grading never runs it.
def _lab_setup():
    import importlib
    import importlib.metadata
    import os
    import subprocess
    import sys
    import zipfile

    pins = {pins}
    result_changing = {result_changing}
    import_names = {import_names!r}
    lab_files = {lab_files!r}
    student_zip = {student_zip!r}
    in_colab = "google.colab" in sys.modules

    def installed(name):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    found = {{name: installed(name) for name in pins}}
    missing = [name for name, version in found.items() if version is None]
    differing = [
        name
        for name, (parts, _) in result_changing.items()
        if found[name] and found[name].split(".")[:parts] != pins[name].split(".")[:parts]
    ]
    # In Colab (a fresh machine each session) the lab's versions replace those that differ.
    to_install = missing + (differing if in_colab else [])
    if to_install:
        specs = [f"{{name}}=={{pins[name]}}" for name in to_install]
        print("Installing the lab's packages:", " ".join(specs))
        command = [sys.executable, "-m", "pip", "install", "--quiet", *specs]
        if subprocess.run(command).returncode != 0:
            raise RuntimeError(
                "pip could not install " + " ".join(specs) + " (are you offline?). Install "
                "them with: pip install -r requirements.txt (the file comes with this notebook), "
                "then run this cell again."
            )
        importlib.invalidate_caches()
        loaded = [n for n in to_install if found[n] and import_names.get(n, n) in sys.modules]
        if loaded:
            print(
                "Installed. Now restart (Colab: Runtime > Restart session) and run the notebook "
                "from the top: " + ", ".join(loaded) + " had been loaded in its old version."
            )
        else:
            print("Installed.")
    for name in differing:
        if name not in to_install:
            print(
                f"Warning: {{name}} {{found[name]}} is installed, but this lab expects {{name}} "
                f"{{pins[name]}}: {{result_changing[name][1]}}. Your grade is computed with "
                f"{{pins[name]}}: install it with pip install {{name}}=={{pins[name]}} (or "
                "pip install -r requirements.txt), restart the kernel and run from the top."
            )

    absent = [name for name in lab_files if not os.path.exists(name)]
    if absent and os.path.isfile(student_zip):
        with zipfile.ZipFile(student_zip) as archive:
            for member in archive.namelist():
                parts = member.split("/")[1:]
                if parts and parts[0] in absent and ".." not in parts and all(parts):
                    target = os.path.join(*parts)
                    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                    with archive.open(member) as source, open(target, "wb") as out:
                        out.write(source.read())
        unpacked = [name for name in absent if os.path.exists(name)]
        if unpacked:
            print("Unpacked", ", ".join(unpacked), "from", student_zip)
        absent = [name for name in absent if name not in unpacked]
    if absent:
        where = (
            "open the Files pane (the folder icon on the left) and upload " + student_zip
            + ", the zip this notebook came in, then run this cell again"
            if in_colab
            else "keep the folders that came with this notebook next to it, or put "
            + student_zip + " there and run this cell again"
        )
        print("Missing:", ", ".join(name + "/" for name in absent) + ":", where + ".")
    elif not (missing or differing):
        print("Setup done: the lab's packages are at the expected versions, its files are here.")


_lab_setup()
del _lab_setup
"""

EXPORT_CELL = """\
# Save your notebook first (File > Save), then run this cell to export your submission.
import sys as _sys

if "google.colab" in _sys.modules:
    print(
        "In Colab this cell cannot make the zip file. Save the notebook, download it with "
        "File > Download > Download .ipynb, and upload that .ipynb file to your course's "
        "submission page."
    )
else:
    {call}
    import glob as _glob
    import os as _os

    _zips = sorted(_glob.glob("{zip_prefix}_*.zip"), key=_os.path.getmtime)
    if _zips:
        print(
            "Your submission is", _os.path.abspath(_zips[-1]), "(next to this notebook). Upload "
            "that zip file to your course's submission page. It holds the notebook as last saved."
        )
"""

README = """\
# Logistic regression for handwritten digits

This folder is the lab: the notebook `{notebook}`, its files ({folders}), and `requirements.txt`,
the exact package versions it is graded with. The same folder comes as one zip, `{student_zip}`.

## On your own machine

With Python 3.11 or newer, in this folder:

```bash
python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
.venv/bin/jupyter lab {notebook}
```

(On Windows: `py -m venv .venv`, then `.venv\\Scripts\\pip install -r requirements.txt` and
`.venv\\Scripts\\jupyter lab {notebook}`.)

## In Colab or on a JupyterHub

Open `{notebook}` (in Colab: File > Upload notebook) and run its first cell: it installs what is
missing there and tells you if a version differs from the lab's. If it says the lab's folders are
missing, upload `{student_zip}` beside the notebook (in Colab: the Files pane, the folder icon on
the left) and run the first cell again: it unpacks them.

## Checking and submitting

After each question, run its `grader.check("q_...")` cell: it catches format mistakes (shapes,
types, ranges). Your grade comes from hidden tests run after you submit. At the end, save the
notebook and run the export cell: it writes a zip file next to the notebook, named like
`logreg_digits_<date and time>.zip`, which is what you upload to your course's submission page. In
Colab, where the export cell cannot make a zip, download the notebook instead (File > Download >
Download .ipynb) and upload that `.ipynb` file.
"""
