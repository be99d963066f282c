"""Write the written answers of the corpus in ``tests/submissions/`` (run it again: same bytes).

Every notebook of the corpus except ``blank.ipynb`` gets an answer to each written question in
place of the placeholder: varied texts, some with LaTeX, some with a drawn digit attached to
``q_modified_digit``, one with a second answer cell, and a few hostile ones (a script tag, an
image with an ``onerror``, a ``javascript:`` link) that the review must show as text;
``solution.ipynb`` answers with the reference solutions. The corpus was made from the solutions
notebook, whose answer regions also hold the reference solution cells: a student's notebook has
none, so they are removed. Only markdown cells between a question's markers change; code cells,
and so the autograded scores, stay as they are.

    .venv/bin/python tests/make_written_answers.py
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from pathlib import Path

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
ROOT = SUBMISSIONS.parent.parent
BLANK = "blank.ipynb"
BEGIN, END = "<!-- BEGIN QUESTION -->", "<!-- END QUESTION -->"
QUESTIONS = ("q_confusion", "q_modified_digit", "q_l1_reading")
SOLUTIONS = ROOT / "solutions" / "logreg_digits.ipynb"
SOLUTION_TAG = "otter_assign_solution_cell"
IMAGE_NAME = "modified_digit.png"
EXTRA_CELL_ID = "written-extra-answer"

HOSTILE = {
    "q_confusion": "Easy: 0 and 1. <script>document.title='pwned'</script> Hard: 5 and 8.",
    "q_modified_digit": "My 7 with a bar became a 2. <img src=x onerror=alert(1)>",
    "q_l1_reading": "See [my notes](javascript:alert(document.cookie)) about $C$.",
}

CONFUSION = [
    "The easiest digits are 0 and 1; the hardest are 5 and 8. The model confuses 4 with 9 and "
    "3 with 5: their strokes cover the same pixels, and each class score is a weighted sum of "
    "pixels, so a linear model cannot tell them apart.",
    "0, 1 and 6 are classified best. 8 is the worst, often predicted as 3 or 5, and 7 is read as "
    "9. The coefficient images of 7 and 9 share their positive (blue) pixels along the top.",
    "From the normalized matrix, 1 has the highest diagonal ($\\approx 0.97$) and 5 the lowest. "
    "Pairs: (4, 9) and (3, 8). Scores are $z_k = w_k \\cdot x + b_k$, linear in the pixels, so "
    "digits with overlapping ink get close scores.",
    "Hardest: 2 and 8.\n\n- 2 is mistaken for 7\n- 8 for 1\n\nA *linear* model weighs each pixel "
    "on its own and never looks at shapes.",
    "I think 1 is easy because it is just a line. 8 is hard. 4 and 9 are confused.",
]
MODIFIED = [
    "I drew my 3 and closed its left side: the model then predicted 8. The added pixels fall on "
    "blue (positive) pixels of class 8.",
    "My 4 was classified as 9. I opened its top and it became a 4: the closed top was on the "
    "positive pixels of 9.",
    "I shifted my 2 three pixels to the right and it was predicted as 1; the model is not "
    "translation invariant.",
    "Added a small tail to my 0 and it became a 6.",
]
L1_READING = [
    "As $C$ increases the penalty weakens: fewer coefficients are zero and the accuracy rises "
    "then levels off. As $C$ decreases most coefficients become zero and the accuracy drops.",
    "Smaller C means stronger L1 regularization, so more zero coefficients (at $C = 10^{-4}$ "
    "almost all of them) and a lower test accuracy.",
    "Larger $C$: fewer zeros, accuracy close to the unpenalized model. Smaller $C$: many zeros, "
    "the model ignores most pixels, accuracy falls.",
    "The number of zeros goes down when C goes up. Accuracy goes up.",
]


def png(rows: list[list[int]]) -> bytes:
    """A grayscale PNG of ``rows`` (0-255), built by hand so that its bytes never vary."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\0" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def drawn_digit(index: int) -> str:
    """A modified MNIST digit, scaled up twice, as base64 PNG: a bar drawn across its middle."""
    sys.path.insert(0, str(ROOT))
    from labkit.data import load_mnist

    images, _ = load_mnist()
    pixels = images[index * 37 % len(images)].reshape(28, 28).astype(int).tolist()
    for x in range(6, 22):
        pixels[14][x] = 255
    big = [[v for v in row for _ in range(2)] for row in pixels for _ in range(2)]
    return base64.b64encode(png(big)).decode()


def reference_texts() -> dict[str, list[str]]:
    """Each written question's reference solution, from the generated solutions notebook."""
    texts: dict[str, list[str]] = {}
    question = None
    for cell in json.loads(SOLUTIONS.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if BEGIN in source:
            question = next((q for q in QUESTIONS if f"`{q}`" in source), None)
        elif END in source:
            question = None
        elif question and SOLUTION_TAG in cell["metadata"].get("tags", []):
            texts.setdefault(question, []).append(source)
    return texts


def answers_for(index: int, name: str) -> dict[str, list[dict]]:
    """The answer cells of one submission: ``{question: [(source, attachments), ...]}``."""
    if name == "solution.ipynb":
        texts = reference_texts()
    elif name in ("softmax_scipy.ipynb", "l1_wrong_C.ipynb"):
        texts = {q: [HOSTILE[q]] for q in QUESTIONS}
    else:
        texts = {
            "q_confusion": [CONFUSION[index % len(CONFUSION)]],
            "q_modified_digit": [MODIFIED[index % len(MODIFIED)]],
            "q_l1_reading": [L1_READING[index % len(L1_READING)]],
        }
    if name == "predict_argmin.ipynb":
        texts["q_l1_reading"].append("(Also: the sweep table is sorted by $C$.)")
    cells = {q: [{"source": text, "attachments": {}} for text in texts[q]] for q in QUESTIONS}
    if index % 3 == 0:
        first = cells["q_modified_digit"][0]
        first["source"] += f"\n\n![my modified digit](attachment:{IMAGE_NAME})"
        first["attachments"] = {IMAGE_NAME: {"image/png": drawn_digit(index)}}
    return cells


def rewrite(path: Path, index: int) -> bool:
    """Put the answers in one notebook; return whether its bytes changed."""
    before = path.read_text(encoding="utf-8")
    nb = json.loads(before)
    cells, wanted = nb["cells"], answers_for(index, path.name)
    out, k = [], 0
    while k < len(cells):
        cell = cells[k]
        out.append(cell)
        k += 1
        source = "".join(cell["source"])
        question = next((q for q in QUESTIONS if BEGIN in source and f"`{q}`" in source), None)
        if question is None:
            continue
        region = []
        while k < len(cells) and END not in "".join(cells[k]["source"]):
            region.append(cells[k])
            k += 1
        answer = next(c for c in region if "otter_answer_cell" in c["metadata"].get("tags", []))
        others = [
            c
            for c in region
            if c is not answer
            and c.get("id") != EXTRA_CELL_ID
            and SOLUTION_TAG not in c["metadata"].get("tags", [])
        ]
        if others:
            raise SystemExit(f"{path.name}: unexpected cells in {question}'s answer region")
        for number, text in enumerate(wanted[question]):
            cell = dict(answer) if number == 0 else _extra_cell(answer)
            cell["source"] = text["source"].splitlines(keepends=True)
            if text["attachments"]:
                cell["attachments"] = text["attachments"]
            else:
                cell.pop("attachments", None)
            out.append(_ordered(cell))
    nb["cells"] = out
    after = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
    return after != before


def _extra_cell(answer: dict) -> dict:
    return {"cell_type": "markdown", "id": EXTRA_CELL_ID, "metadata": {}, "source": []}


def _ordered(cell: dict) -> dict:
    """The cell's keys in nbformat's order, as the rest of the file has them."""
    order = ["attachments", "cell_type", "execution_count", "id", "metadata", "outputs", "source"]
    return {key: cell[key] for key in sorted(cell, key=order.index)}


def main() -> None:
    """Rewrite the written answers of every corpus notebook but the blank one."""
    names = sorted(p.name for p in SUBMISSIONS.glob("*.ipynb") if p.name != BLANK)
    changed = [name for index, name in enumerate(names) if rewrite(SUBMISSIONS / name, index)]
    print(f"{len(names)} notebooks, {len(changed)} rewritten")


if __name__ == "__main__":
    main()
