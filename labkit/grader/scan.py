"""What a TA should look at: code in a notebook that patches libraries, reads grading files or
runs strings as code. The scan reads the cells' source as syntax trees (nothing runs) and never
changes a score; its findings are flags for review.
"""

from __future__ import annotations

import ast
import contextlib
import re

from labkit.grader import syntax

WATCHED_MODULES = ("numpy", "otter", "builtins", "scipy", "sklearn", "labkit", "sys", "IPython")
GRADING_PATHS = re.compile(r"(^|[/\\])(tests|hidden_photos)([/\\]|$)|/autograder|OTTER_LOG")
DYNAMIC_CODE = ("exec", "eval", "compile", "__import__")


def scan_notebook(cells: dict[str, str]) -> list[str]:
    """Name the code in these cells (label -> source) that patches libraries, reads grading files
    or runs strings as code.

    Rebinding a plain name (a helper called ``allclose``) or importing otter is not flagged;
    assigning an attribute of an imported module (``np.allclose = ...``), ``setattr`` on one,
    writing into ``__builtins__`` or ``sys.modules``, naming grading files (``tests/``, a
    ``.OTTER_LOG``) and ``exec``/``eval`` are.
    """
    trees = {}
    for label, source in cells.items():
        with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
            trees[label] = syntax.parse(_without_magics(source))
    modules = {"__builtins__": "builtins"}  # names bound to modules anywhere in the notebook
    for tree in trees.values():
        modules |= _module_aliases(tree)
    found: list[str] = []
    for label, tree in trees.items():
        for node in ast.walk(tree):
            for what in _suspicious(node, modules):
                note = f"{label}: {what}"
                if note not in found:
                    found.append(note)
    return found


def _without_magics(source: str) -> str:
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in WATCHED_MODULES:
                    aliases[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in WATCHED_MODULES:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"


def _suspicious(node: ast.AST, modules: dict[str, str]):
    targets = []
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    elif isinstance(node, ast.Delete):
        targets = node.targets
    for target in targets:
        if isinstance(target, ast.Attribute) and _root_name(target) in modules:
            yield f"replaces {_dotted(target)} (a library's attribute)"
        if isinstance(target, ast.Subscript) and _dotted(target.value) in (
            "__builtins__",
            "sys.modules",
            "vars(builtins)",
            "builtins.__dict__",
            "__builtins__.__dict__",
        ):
            yield f"writes into {_dotted(target.value)}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        name = node.func.id
        if name in ("setattr", "delattr") and node.args:
            if _root_name(node.args[0]) in modules:
                yield f"{name} on {_dotted(node.args[0])} (a library)"
        if name in DYNAMIC_CODE:
            yield f"runs a string as code ({name})"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if GRADING_PATHS.search(node.value):
            yield f"names grading files ({node.value[:60]!r})"
