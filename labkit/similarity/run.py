"""A similarity report from submitted notebooks: the plain functions behind ``labkit
similarity``, which ``labkit grade`` can also call at the end of a batch."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from labkit.atomic import write_atomically
from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.written import WrittenQuestion
from labkit.similarity import report as report_module
from labkit.similarity.engine import compare_question
from labkit.similarity.extract import (
    CODE,
    TEXT,
    Answer,
    Question,
    cell_source,
    extract_answers,
    handed_out,
    prompts_of,
)
from labkit.similarity.fingerprints import TokenHasher, fingerprint, given_material
from labkit.similarity.settings import DEFAULT_TEMPLATE, Settings
from labkit.similarity.sources import Submitted, find_submissions, read_template
from labkit.similarity.tokens import code_tokens, text_tokens


def write_similarity_report(
    *,
    submissions: list[Path],
    output_dir: Path,
    autograded: list[str],
    written: list[WrittenQuestion],
    template: Path = DEFAULT_TEMPLATE,
    threshold: float = Settings.threshold,
    max_share: float = Settings.max_share,
    questions_from: str = "",
) -> dict:
    """Compare every pair of submissions, question by question, and write the report.

    Writes ``output_dir/similarity.json`` and ``output_dir/pairs.csv`` atomically (see
    ``labkit.similarity.report`` for what they hold) and returns the report. A submission that
    cannot be read gets a note in it; nothing a student wrote is run.

    Args:
        submissions: files and folders as ``labkit grade`` takes them (notebooks, exported
            zips, folders of them or of Gradescope's bulk export).
        output_dir: where the two files go (created if needed).
        autograded: the autograded questions' names (the autograder zip's ``tests/*.py``).
        written: the written questions (the zip's ``written_questions.json``).
        template: the handed-out notebook, whose code and text are never counted as shared.
        threshold: the similarity from which a pair is listed (0 to 1).
        max_share: a fragment in the answers of more than this share of the submissions is
            left out as common.
        questions_from: where the question names came from, recorded in the report.

    Raises:
        SimilarityError: a path does not exist, or the handed-out notebook cannot be read.
    """
    cells, sha256 = read_template(template)
    report = build_report(
        find_submissions(submissions),
        template_cells=cells,
        autograded=autograded,
        written=written,
        settings=Settings(threshold=threshold, max_share=max_share),
        handed_out={"notebook": Path(template).name, "sha256": sha256},
        questions_from=questions_from,
    )
    folder = GradedFolder(output_dir)
    write_atomically(folder.similarity, report_module.to_json(report))
    write_atomically(folder.pairs, report_module.pairs_csv(report))
    return report


def build_report(
    submitted: list[Submitted],
    *,
    template_cells: list[dict],
    autograded: list[str],
    written: list[WrittenQuestion],
    settings: Settings,
    handed_out: dict,
    questions_from: str = "",
) -> dict:
    """The report over ``submitted`` (read from their paths, or their cells given in memory),
    as a dict; nothing is written."""
    questions = ordered_questions(template_cells, autograded, written)
    given = handed_out_material(template_cells, autograded, settings)
    prompts = prompts_of(template_cells, autograded)
    answers: dict[str, dict[str, Answer] | None] = {}
    for entry in submitted:
        answers[entry.name] = _answers(entry, questions, written, prompts)
    readable = sum(a is not None for a in answers.values())
    entries = []
    hasher = TokenHasher()
    for question in questions:
        kind = settings.code if question.kind == CODE else settings.text
        tokenise = code_tokens if question.kind == CODE else text_tokens
        of_question = {n: (a[question.name] if a else None) for n, a in answers.items()}
        documents = {}
        for name, answer in sorted(of_question.items()):
            if answer is not None and answer.text.strip():
                documents[name] = fingerprint(
                    name,
                    answer.text,
                    tokenise(answer.text),
                    hasher=hasher,
                    k=kind.k,
                    window=kind.window,
                    handed_out=given[question.kind],
                )
        result = compare_question(
            list(documents.values()), submissions=readable, settings=settings, kind=kind
        )
        entries.append(
            report_module.question_entry(
                question,
                kind,
                answers=of_question,
                documents=documents,
                result=result,
                handed_out_fingerprints=len(given[question.kind].hashes),
            )
        )
    return report_module.assemble(
        settings=settings,
        handed_out=handed_out,
        questions_from=questions_from,
        submissions=submitted,
        questions=entries,
        notes=_run_notes(submitted, questions),
    )


def _answers(entry: Submitted, questions, written, prompts) -> dict[str, Answer] | None:
    """A submission's answers (its notebook is read now, and not kept), or None."""
    cells = entry.load()
    if cells is None:
        return None
    try:
        return extract_answers(cells, questions, written=written, prompts=prompts)
    except Exception as exc:  # a cell of a shape nothing expected: the notebook is skipped
        entry.notes.append(f"the notebook's cells could not be read ({type(exc).__name__})")
        entry.read = False
        return None


def handed_out_material(cells: list[dict], autograded: list[str], settings: Settings) -> dict:
    """What the handed-out notebook gives, as ``fingerprint`` leaves it out: for code, its
    k-grams and lines; for text, its k-grams of words."""
    key = json.dumps(cells, sort_keys=True, default=str)
    return _material(key, tuple(autograded), settings.code.k, settings.text.k)


@functools.lru_cache(maxsize=4)
def _material(cells_json: str, autograded: tuple, code_k: int, text_k: int) -> dict:
    """``handed_out_material``, computed once per notebook and settings in a process."""
    given = handed_out(json.loads(cells_json), list(autograded))
    hasher = TokenHasher()
    code = [(s, code_tokens(s)) for s in given.code]
    text = [(s, text_tokens(s)) for s in given.text]
    return {
        CODE: given_material(code, hasher, code_k, lines=True),
        TEXT: given_material(text, hasher, text_k, lines=False),
    }


def ordered_questions(
    cells: list[dict], autograded: list[str], written: list[WrittenQuestion]
) -> list[Question]:
    """The questions in the order the handed-out notebook asks them (others last, by name)."""
    questions = [Question(n, CODE) for n in autograded] + [Question(q.name, TEXT) for q in written]
    sources = [cell_source(cell) for cell in cells]

    def position(question: Question) -> tuple:
        mark = f"`{question.name}`"
        found = (i for i, s in enumerate(sources) if mark in s or f'"{question.name}"' in s)
        return next(found, len(sources)), question.name

    return sorted(questions, key=position)


def _run_notes(submitted: list[Submitted], questions: list[Question]) -> list[str]:
    notes = []
    unread = sorted(s.name for s in submitted if not s.read)
    if unread:
        notes.append(f"{len(unread)} submission(s) could not be read: {', '.join(unread)}")
    if not submitted:
        notes.append("no submissions were found")
    if not questions:
        notes.append("no questions to compare")
    return notes


def summary_text(report: dict) -> str:
    """What ``labkit similarity`` prints: pairs and clusters per question, unread submissions."""
    settings = report["settings"]
    lines = [
        f"{len(report['submissions'])} submissions, {len(report['questions'])} questions; "
        f"pairs listed from similarity {settings['threshold']:.2f}, fragments in more than "
        f"{settings['max_share']:.0%} of the submissions left out"
    ]
    width = max((len(q["name"]) for q in report["questions"]), default=0)
    for question in report["questions"]:
        pairs, groups = len(question["pairs"]), len(question["clusters"])
        top = f", most similar {question['pairs'][0]['similarity']:.2f}" if pairs else ""
        lines.append(
            f"  {question['name']:<{width}}  {pairs:>4} pair(s), {groups} cluster(s) of 3 or "
            f"more{top} ({question['compared']} answers compared)"
        )
    for name, entry in sorted(report["submissions"].items()):
        if not entry["read"]:
            lines.append(f"not read: {name}: {'; '.join(entry['notes'])}")
    lines += report["notes"]
    lines.append(report_module.ABOUT)
    return "\n".join(lines)
