"""How long ``labkit similarity`` takes for 100, 300 and 1,000 submissions of 10 questions.

    python benchmarks/similarity.py [--sizes 100 300 1000] [--seed 7]

Writes synthetic submissions (fixed seed) made from the handed-out notebook: every autograded
answer is a program of random statements (numpy calls, loops, conditions, over a pool of
variable names) with a few idioms many students share, every written answer a paragraph of
random topical words with common phrases; 4 % of the submissions copy another one's code
(renamed, commented) and 3 % another one's written answers. Then it times the whole report, as
the command makes it (reading the notebooks, extracting, fingerprinting, comparing, writing),
and prints, per size, the time, the time spent comparing, the pairs measured and listed, and
how the time grows: against the submissions (x10 from 100 to 1,000) and the pairs (x100). The
target is 60 s for 1,000 submissions on the 2 cores of the kit's machines.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labkit.similarity import engine, questions_from_autograder, run  # noqa: E402

AUTOGRADER = ROOT / "autograder" / "logreg_digits-autograder.zip"
TEMPLATE = ROOT / "student_template" / "logreg_digits.ipynb"
TARGET_S = 60.0
NAMES = "a b c d e k m n p q r s t u v w x y acc arr best col cut data den diff err".split()
NAMES += "grid hi idx lo".split()
NAMES += "mask mat mx norm num out peak pix prob res row scale score shift tmp top val vec".split()
FUNCS = "np.exp np.max np.sum np.mean np.sqrt np.abs np.asarray np.argmax np.log np.cumsum".split()
FUNCS += "np.maximum np.minimum np.clip np.where np.percentile np.dot np.round np.sort len".split()
FUNCS += "float int abs sorted np.diff np.median np.std np.argsort np.flatnonzero".split()
METHODS = ".sum() .max() .min() .ravel() .copy() .T .mean(axis=0) .reshape(1, -1)".split()
METHODS += [".astype(float)", ".reshape(28, 28)", ".sum(axis=-1, keepdims=True)"]
OPERATORS = ["+", "-", "*", "/", "@", "**"]
IDIOMS = [
    "z = np.asarray(z, dtype=float)",
    "x = np.asarray(x, dtype=float).ravel()",
    "shifted = z - np.max(z, axis=-1, keepdims=True)",
    "return exps / np.sum(exps, axis=-1, keepdims=True)",
    'gray = image.convert("L").resize((28, 28), Image.Resampling.LANCZOS)',
    "row, col = ndimage.center_of_mass(img)",
    "return int(np.sum(model.coef_ == 0))",
    'return pd.DataFrame(rows, columns=["C", "n_zero", "accuracy"])',
]
WORDS = (
    "model digit digits pixel pixels weight weights class classes coefficient coefficients "
    "accuracy penalty zero zeros sparse linear score scores image images loop stroke strokes "
    "blue red positive negative confused confuses easy hard hardest easiest predicted label "
    "because since when while larger smaller more fewer increase decrease regularization "
    "shape shapes ink paper top bottom left right middle sum product plot plots row rows "
    "heatmap diagonal matrix test train fit drops rises flat curve table value values"
).split()
FUNCTION_WORDS = "the a of and to in is it so as on for with that this".split()
PHRASES = ["the linear model", "the number of zero coefficients", "the test accuracy",
           "in the coefficient images", "as C increases", "on the blue pixels"]  # fmt: skip


def expression(rng: np.random.Generator, names: list[str], depth: int = 0) -> str:
    """A random numpy expression over ``names``."""
    pick = rng.random()
    if depth > 2 or pick < 0.25:
        return str(rng.choice(names)) if rng.random() < 0.8 else str(int(rng.integers(1, 30)))
    if pick < 0.55:
        return f"{rng.choice(FUNCS)}({expression(rng, names, depth + 1)})"
    if pick < 0.7:
        return f"{expression(rng, names, depth + 1)}{rng.choice(METHODS)}"
    left, right = expression(rng, names, depth + 1), expression(rng, names, depth + 1)
    return f"({left} {rng.choice(OPERATORS)} {right})"


def program(rng: np.random.Generator, params: list[str]) -> str:
    """A random function body of a few statements, flush left."""
    names = [*params]
    lines = []
    for _ in range(int(rng.integers(3, 8))):
        target = str(rng.choice(NAMES))
        kind = rng.random()
        if kind < 0.15:
            lines.append(str(rng.choice(IDIOMS)))
            continue
        if kind < 0.3:
            loop = str(rng.choice(["i", "j", "k"]))
            lines.append(f"for {loop} in range(len({rng.choice(names)})):")
            lines.append(f"    {target} = {expression(rng, [*names, loop])}")
        elif kind < 0.4:
            lines.append(f"if {expression(rng, names)} > {int(rng.integers(0, 5))}:")
            lines.append(f"    {target} = {expression(rng, names)}")
        else:
            lines.append(f"{target} = {expression(rng, names)}")
        names.append(target)
    lines.append(f"return {rng.choice(names[len(params) :] or params)}")
    return "\n".join(lines)


def paragraph(rng: np.random.Generator) -> str:
    """A random written answer of topical words and a few common phrases."""
    words = []
    for _ in range(int(rng.integers(30, 70))):
        words.append(str(rng.choice(FUNCTION_WORDS if rng.random() < 0.35 else WORDS)))
        if rng.random() < 0.04:
            words.append(str(rng.choice(PHRASES)))
    return " ".join(words).capitalize() + "."


def renamed(source: str, rng: np.random.Generator) -> str:
    """``source`` with its variables renamed and a comment added, as a copier would."""
    mapping = {name: f"{name}_{int(rng.integers(10, 99))}" for name in NAMES}
    body = re.sub(r"(?<![\w.\"])[a-z_]\w*(?![\w\"(])", lambda m: mapping.get(m[0], m[0]), source)
    return "# my own work\n" + body


def write_submissions(folder: Path, count: int, seed: int) -> None:
    """Write ``count`` synthetic notebooks into ``folder``."""
    rng = np.random.default_rng(seed)
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    answers = []
    for n in range(count):
        code = {q: program(rng, params) for q, params in STUBS.items()}
        texts = [paragraph(rng) for _ in range(3)]
        if n > 10 and rng.random() < 0.04:
            code = {
                q: renamed(source, rng) for q, source in answers[int(rng.integers(n))][0].items()
            }
        if n > 10 and rng.random() < 0.03:
            texts = list(answers[int(rng.integers(n))][1])
        answers.append((code, texts))
        (folder / f"student_{n:04d}.ipynb").write_text(json.dumps(filled(template, code, texts)))


STUBS = {
    "compute_z": ["clf", "x"],
    "softmax": ["z"],
    "predict_label": ["probs", "classes"],
    "preprocess_image": ["image", "pixel_filter"],
    "center_image": ["sample"],
    "count_zero_coefs": ["model"],
    "l1_sweep": ["C_values", "X_train", "y_train", "X_test", "y_test"],
}


def filled(template: dict, code: dict[str, str], texts: list[str]) -> dict:
    """The handed-out notebook with each stub's ``...`` replaced, each placeholder answered."""
    cells, written = [], iter(texts)
    for cell in template["cells"]:
        source = "".join(cell["source"])
        tags = cell.get("metadata", {}).get("tags", [])
        if "otter_answer_cell" in tags and cell["cell_type"] == "code":
            for function, body in code.items():
                if f"def {function}(" in source:
                    indented = "\n".join("    " + line for line in body.splitlines())
                    source = source.replace("    ...", indented, 1)
        elif "otter_answer_cell" in tags:
            source = next(written)
        cells.append({**cell, "source": source})
    return {**template, "cells": cells}


def time_report(folder: Path, out: Path, questions) -> tuple[float, float, dict]:
    """Seconds for the whole report, seconds comparing, and the report."""
    spent = [0.0]
    compare = engine.compare_question

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return compare(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    run.compare_question = timed
    try:
        started = time.perf_counter()
        report = run.write_similarity_report(
            submissions=[folder],
            output_dir=out,
            autograded=questions.autograded,
            written=questions.written,
        )
        return time.perf_counter() - started, spent[0], report
    finally:
        run.compare_question = compare


def main() -> None:
    """Write the synthetic cohorts, time the report on each, print the table and growth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    questions = questions_from_autograder(AUTOGRADER)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in options.sizes:
            folder, out = Path(scratch) / f"n{size}", Path(scratch) / f"out{size}"
            folder.mkdir()
            write_submissions(folder, size, options.seed)
            seconds, comparing, report = time_report(folder, out, questions)
            measured = sum(q["candidates"] for q in report["questions"])
            listed = sum(len(q["pairs"]) for q in report["questions"])
            rows.append((size, seconds, comparing, measured, listed))
            print(
                f"{size:>5} submissions x {len(report['questions'])} questions: {seconds:6.1f} s "
                f"({comparing:5.1f} s comparing; {measured} pairs measured, {listed} listed)",
                flush=True,
            )
    (small, t_small, *_), (large, t_large, *_) = rows[0], rows[-1]
    pairs = large * (large - 1) / (small * (small - 1))
    print(
        f"from {small} to {large} submissions: time x{t_large / t_small:.1f} "
        f"(submissions x{large / small:.0f}, pairs x{pairs:.0f})"
    )
    verdict = "within" if t_large <= TARGET_S else "OVER"
    print(f"{large} submissions: {t_large:.1f} s, {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
