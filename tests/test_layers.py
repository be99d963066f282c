"""The kit's layers: which package may import which, so that no job loads another's stack.

Bottom to top: ``atomic``, ``data`` -> ``grader`` (one notebook, shipped whole in the autograder
zip) -> ``gradebook`` (the graded folder) and ``intake`` (submissions and the autograder zip, as
read) -> ``batch``, ``review``, ``release``, ``similarity`` (each a job of its own; none imports
another) -> ``cli``. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import labkit

PACKAGE = Path(labkit.__file__).resolve().parent
BASE = {"labkit", "labkit.atomic", "labkit.data"}
ALLOWED = {
    "labkit": set(),
    "labkit.atomic": set(),
    "labkit.data": {"labkit.atomic"},
    "labkit.photos": BASE,
    "labkit.students": BASE,
    "labkit.grader": {"labkit.grader"},
    "labkit.gradebook": BASE | {"labkit.grader", "labkit.gradebook"},
    "labkit.submission_times": BASE | {"labkit.gradebook"},
    "labkit.intake": BASE | {"labkit.grader", "labkit.gradebook", "labkit.submission_times"},
    "labkit.batch": BASE | {"labkit.grader", "labkit.gradebook", "labkit.intake", "labkit.batch"},
    "labkit.review": BASE | {"labkit.gradebook", "labkit.review"},
    "labkit.release": BASE | {"labkit.students", "labkit.gradebook", "labkit.release"},
    "labkit.similarity": BASE | {"labkit.gradebook", "labkit.intake", "labkit.similarity"},
    "labkit.cli": None,  # the command line may reach every job
    "labkit.__main__": {"labkit.cli"},
}


def _unit(module: str) -> str:
    """The layer a module belongs to: its package under labkit, or the module itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports() -> dict[str, set[str]]:
    """Every labkit module and the labkit modules it imports, anywhere in its code."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        found[module] = {name for name in names if name.split(".")[0] == "labkit"}
    return found


def test_every_import_follows_the_layers():
    """Does every module import only from its own layer or the layers below it?"""
    imports = _imports()
    assert "labkit.gradebook.store" in imports and "labkit.review.app" in imports
    wrong = []
    for module, names in imports.items():
        allowed = ALLOWED[_unit(module)]
        if allowed is None:
            continue
        wrong += [f"{module} imports {name}" for name in names if _unit(name) not in allowed]
    assert wrong == []


def test_the_layers_catch_a_cycle():
    """Would the check see the old cycle (a store importing batch, batch importing review)?"""
    assert _unit("labkit.batch.reports") not in ALLOWED["labkit.gradebook"]
    assert _unit("labkit.review.store") not in ALLOWED["labkit.batch"]
    assert _unit("labkit.batch.run") not in ALLOWED["labkit.review"]
    assert _unit("labkit.review.app") not in ALLOWED["labkit.release"]


def test_the_grader_stands_alone():
    """Does labkit.grader, which the autograder zip ships alone, import nothing else of the kit?"""
    imports = _imports()
    grader = {m: names for m, names in imports.items() if m.startswith("labkit.grader")}
    assert len(grader) >= 10
    assert {
        name for names in grader.values() for name in names if _unit(name) != "labkit.grader"
    } == set()
