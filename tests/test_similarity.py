"""The similarity report end to end: the planted corpus, exclusions, spans, bad input, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from similarity_corpus import TEMPLATE, build_corpus

from labkit.cli import main
from labkit.similarity import (
    SimilarityError,
    engine,
    questions_from_autograder,
    questions_from_graded,
    write_similarity_report,
)
from labkit.similarity.fingerprints import Given, TokenHasher, fingerprint
from labkit.similarity.tokens import code_tokens, text_tokens

ROOT = Path(__file__).resolve().parent.parent
AUTOGRADER = ROOT / "autograder" / "logreg_digits-autograder.zip"


@pytest.fixture(scope="module")
def questions():
    """The lab's questions, from the committed autograder zip."""
    return questions_from_autograder(AUTOGRADER)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The planted corpus, written once for the module."""
    return build_corpus(tmp_path_factory.mktemp("corpus") / "submissions")


@pytest.fixture(scope="module")
def report_dir(corpus, questions, tmp_path_factory) -> Path:
    """The folder of the report over the planted corpus, at the default settings."""
    out = tmp_path_factory.mktemp("out")
    write_similarity_report(
        submissions=[corpus.folder],
        output_dir=out,
        autograded=questions.autograded,
        written=questions.written,
    )
    return out


@pytest.fixture(scope="module")
def report(report_dir) -> dict:
    """The report over the planted corpus, as written."""
    return json.loads((report_dir / "similarity.json").read_text(encoding="utf-8"))


@pytest.fixture
def few(corpus, tmp_path) -> Path:
    """A folder of four of the corpus's notebooks: one copied pair, one other, one blank."""
    folder = tmp_path / "few"
    folder.mkdir()
    for name in ("honest_0", "copy_renamed", "honest_1", "blank_0"):
        shutil.copy(corpus.folder / f"{name}.ipynb", folder)
    return folder


def run_report(paths, questions, out: Path, **options) -> dict:
    """Write a report over ``paths`` into ``out`` with the lab's questions."""
    return write_similarity_report(
        submissions=paths,
        output_dir=out,
        autograded=questions.autograded,
        written=questions.written,
        **options,
    )


def listed(report: dict) -> set[tuple[str, str, str]]:
    """Every listed pair as (question, a, b)."""
    return {(q["name"], p["a"], p["b"]) for q in report["questions"] for p in q["pairs"]}


def by_name(report: dict, name: str) -> dict:
    """One question's part of a report."""
    return next(q for q in report["questions"] if q["name"] == name)


# --- the planted corpus ---------------------------------------------------------------------------


def test_every_planted_copy_is_found(corpus, report):
    """Is every planted copy listed (recall 1), but for a one-line answer, noted too short?"""
    expected = corpus.planted - corpus.too_short
    found = listed(report) & expected
    print(f"recall: {len(found)}/{len(expected)} planted copies at the default threshold")
    assert found == expected
    for question, a, _ in corpus.too_short:
        assert by_name(report, question)["answers"][a]["status"] == "too_short"


def test_no_honest_pair_reaches_the_threshold(corpus, report):
    """Is every listed pair a planted copy (precision 1)?"""
    pairs = listed(report)
    print(f"precision: {len(pairs & corpus.planted)}/{len(pairs)} listed pairs are planted copies")
    assert pairs and pairs <= corpus.planted


def test_handed_out_code_is_never_flagged(corpus, report):
    """Are the untouched notebooks in no pair, and no fragment only handed-out material?"""
    names = {name for pair in listed(report) for name in pair[1:]}
    assert not names & set(corpus.blank)
    for question in report["questions"]:
        for blank in corpus.blank:
            status = question["answers"][blank]["status"]
            assert status in ("handed_out_only", "empty", "too_short"), (question["name"], status)
        for pair in question["pairs"]:
            for fragment in pair["fragments"]:
                for side in ("a", "b"):
                    start, end = fragment[side]
                    spans = question["answers"][pair[side]]["handed_out_spans"]
                    assert not any(s <= start and end <= e for s, e in spans)


def test_copies_of_one_answer_form_a_cluster(report):
    """Do honest_0 and its two disguised copies form a cluster in every code question?"""
    trio = ["copy_renamed.ipynb", "copy_renamed_commented.ipynb", "honest_0.ipynb"]
    for question in report["questions"]:
        if question["kind"] == "code":
            assert [c["members"] for c in question["clusters"]] == [trio], question["name"]
            assert question["clusters"][0]["pairs"] == 3


def test_fragments_point_at_the_same_code_on_both_sides(report):
    """Does every fragment's pair of spans hold the same tokens (code) or words (text)?"""
    for question in report["questions"]:
        tokenise = code_tokens if question["kind"] == "code" else text_tokens
        for pair in question["pairs"]:
            numbers = [f["number"] for f in pair["fragments"]]
            assert numbers == list(range(1, len(numbers) + 1))
            assert pair["longest_fragment"] == max(f["length"] for f in pair["fragments"])
            for fragment in pair["fragments"]:
                texts = [
                    question["answers"][pair[side]]["text"][slice(*fragment[side])]
                    for side in ("a", "b")
                ]
                assert tokenise(texts[0]).norm == tokenise(texts[1]).norm
                assert len(tokenise(texts[0])) == fragment["length"]


def test_the_copied_paragraph_is_one_fragment(report):
    """Is a paragraph copied word for word found whole, covering both answers?"""
    pair = by_name(report, "q_l1_reading")["pairs"][0]
    assert (pair["a"], pair["b"]) == ("copy_written.ipynb", "honest_5.ipynb")
    assert pair["similarity"] == pair["a_covered"] == pair["b_covered"] == 1.0
    assert len(pair["fragments"]) == 1


def test_pairs_csv_lists_the_same_pairs(report, report_dir):
    """Does pairs.csv hold one row per listed pair, with the JSON's figures, in its order?"""
    rows = list(csv.DictReader(io.StringIO((report_dir / "pairs.csv").read_text())))
    expected = [(q["name"], p) for q in report["questions"] for p in q["pairs"]]
    assert len(rows) == len(expected) == len(listed(report))
    for row, (question, pair) in zip(rows, expected, strict=True):
        assert (row["question"], row["a"], row["b"]) == (question, pair["a"], pair["b"])
        assert float(row["similarity"]) == pair["similarity"]
        assert int(row["longest_fragment"]) == pair["longest_fragment"]
        assert float(row["b_covered"]) == pair["b_covered"]
    assert list(rows[0]) == [
        "question", "a", "b", "similarity", "longest_fragment", "a_covered", "b_covered"
    ]  # fmt: skip


def test_the_same_input_gives_the_same_bytes(corpus, questions, report_dir, tmp_path):
    """Are similarity.json and pairs.csv byte for byte the same when written again?"""
    run_report([corpus.folder], questions, tmp_path)
    for name in ("similarity.json", "pairs.csv"):
        assert (tmp_path / name).read_bytes() == (report_dir / name).read_bytes()
    assert b"never a verdict" in (tmp_path / "similarity.json").read_bytes()


# --- exclusions -----------------------------------------------------------------------------------


def test_common_fragments_are_left_out(corpus, questions, tmp_path):
    """Is an answer that most submissions share left out, and listed once the share is raised?"""
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(5):  # five identical copies of honest_2 among seven submissions
        shutil.copy(corpus.folder / "honest_2.ipynb", folder / f"same_{n}.ipynb")
    for name in ("honest_3.ipynb", "honest_4.ipynb"):
        shutil.copy(corpus.folder / name, folder / name)
    strict = by_name(run_report([folder], questions, tmp_path / "strict"), "q_l1_sweep")
    assert strict["excluded"]["common_fingerprints"] > 0 and not strict["pairs"]
    examples = strict["excluded"]["common_examples"]
    assert examples and all(e["submissions"] > strict["excluded"]["common_above"] for e in examples)
    assert any("LogisticRegression" in e["text"] for e in examples)
    loose = run_report([folder], questions, tmp_path / "loose", max_share=0.9)
    assert len(by_name(loose, "q_l1_sweep")["pairs"]) == 10  # the 5 copies, pairwise
    assert by_name(loose, "q_l1_sweep")["clusters"][0]["members"] == [
        f"same_{n}.ipynb" for n in range(5)
    ]


def test_two_submissions_alone_are_compared(corpus, questions, tmp_path):
    """Is a pair of copies found when only the two are given (two is never 'most')?"""
    paths = [corpus.folder / "honest_0.ipynb", corpus.folder / "copy_renamed.ipynb"]
    report = run_report(paths, questions, tmp_path)
    assert ("q_softmax", "copy_renamed.ipynb", "honest_0.ipynb") in listed(report)


def test_the_threshold_decides_what_is_listed(corpus, questions, report, tmp_path):
    """Does a lower threshold list more pairs, each at least that similar?"""
    low = run_report([corpus.folder], questions, tmp_path, threshold=0.2)
    assert len(listed(low)) > len(listed(report)) and listed(report) <= listed(low)
    assert all(p["similarity"] >= 0.2 for q in low["questions"] for p in q["pairs"])
    assert low["settings"]["threshold"] == 0.2


# --- bad input ------------------------------------------------------------------------------------


def test_unreadable_submissions_get_a_note_not_an_error(questions, tmp_path):
    """Are empty, invalid, non-UTF-8, marker-less notebooks and bad zips noted, never fatal?"""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "broken.ipynb").write_text("{not json")
    (folder / "latin1.ipynb").write_bytes(TEMPLATE.read_text().replace("Logistic", "Logístic")
                                          .encode("latin-1", "replace"))  # fmt: skip
    nb = json.loads(TEMPLATE.read_text())
    nb["cells"] = [c for c in nb["cells"] if "QUESTION -->" not in "".join(c["source"])]
    (folder / "no_markers.ipynb").write_text(json.dumps(nb))
    (folder / "odd_cells.ipynb").write_text(json.dumps({"cells": [1, "x", {"source": 5}]}))
    (folder / "notes.txt").write_text("hello")
    (folder / "bad.zip").write_bytes(b"PK not a zip")
    with zipfile.ZipFile(folder / "two.zip", "w") as archive:
        archive.writestr("a.ipynb", "{}")
        archive.writestr("b.ipynb", "{}")
    with zipfile.ZipFile(folder / "exported.zip", "w") as archive:
        archive.writestr("logreg_digits.ipynb", TEMPLATE.read_text())
    report = run_report([folder], questions, tmp_path / "out")
    subs = report["submissions"]
    unread = {n for n, s in subs.items() if not s["read"]}
    assert unread == {"empty.ipynb", "broken.ipynb", "notes.txt", "bad.zip", "two.zip"}
    assert all(subs[n]["notes"] for n in unread)
    assert (
        subs["exported.zip"]["read"] and subs["exported.zip"]["notebook"] == "logreg_digits.ipynb"
    )
    assert subs["latin1.ipynb"]["read"] and "UTF-8" in subs["latin1.ipynb"]["notes"][0]
    confusion = by_name(report, "q_confusion")["answers"]
    assert confusion["no_markers.ipynb"]["status"] == "missing"
    assert confusion["broken.ipynb"]["status"] == "unreadable"
    assert by_name(report, "q_z")["answers"]["odd_cells.ipynb"]["status"] == "missing"
    assert "could not be read" in report["notes"][0]


def test_a_huge_answer_is_capped(corpus, questions, tmp_path):
    """Is a cell of megabytes cut to the limit, with a note?"""
    nb = json.loads((corpus.folder / "honest_0.ipynb").read_text())
    answer = next(c for c in nb["cells"] if "def softmax" in c["source"])
    answer["source"] += "\nx = [" + "1, " * 400_000 + "]\n"
    folder = tmp_path / "huge"
    folder.mkdir()
    (folder / "huge.ipynb").write_text(json.dumps(nb))
    shutil.copy(corpus.folder / "copy_renamed.ipynb", folder)
    entry = by_name(run_report([folder], questions, tmp_path / "out"), "q_softmax")
    notes = entry["answers"]["huge.ipynb"]["notes"]
    assert any("cut" in note for note in notes)


def test_submission_times_come_from_gradescope_metadata(corpus, questions, tmp_path):
    """Does each folder of a bulk export carry its ``:created_at:``, and others null?"""
    export = tmp_path / "export"
    for n, name in enumerate(("honest_0", "copy_renamed")):
        (export / f"submission_{n}").mkdir(parents=True)
        shutil.copy(corpus.folder / f"{name}.ipynb", export / f"submission_{n}" / "nb.ipynb")
    (export / "submission_metadata.yml").write_text(
        "submission_0:\n  :created_at: 2026-11-30 10:00:00.000000000 -08:00\n"
        "  :submitters:\n  - :name: Ada\nsubmission_1:\n  :created_at: !ruby/object:Time x\n"
    )
    report = run_report([export], questions, tmp_path / "out")
    assert report["submissions"]["submission_0"]["submitted_at"] == "2026-11-30T10:00:00-08:00"
    assert report["submissions"]["submission_1"]["submitted_at"] is None  # unreadable: no time
    assert ("q_softmax", "submission_0", "submission_1") in listed(report)


def test_a_missing_path_or_template_is_an_error_naming_it(questions, tmp_path):
    """Does a path that does not exist, or a template that is no notebook, stop the run?"""
    with pytest.raises(SimilarityError, match="nowhere"):
        run_report([tmp_path / "nowhere"], questions, tmp_path / "out")
    (tmp_path / "t.ipynb").write_text("{")
    with pytest.raises(SimilarityError, match="t.ipynb"):
        run_report([tmp_path], questions, tmp_path / "out", template=tmp_path / "t.ipynb")
    assert not (tmp_path / "out").exists()


# --- the command ----------------------------------------------------------------------------------


def test_the_command_writes_the_report_and_says_it_is_no_verdict(few, tmp_path):
    """Does ``labkit similarity`` exit 0, write both files and print a summary?"""
    result = CliRunner().invoke(
        main, ["similarity", str(few), "-a", str(AUTOGRADER), "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "q_l1_reading" in result.output and "never a verdict" in result.output
    assert json.loads((tmp_path / "similarity.json").read_text())["format"] == "labkit-similarity"
    assert (tmp_path / "pairs.csv").read_text().startswith("question,a,b,")


def test_the_command_reads_the_questions_of_a_graded_folder(few, questions, tmp_path):
    """Without -a, are the questions those of the gradebook and written_questions.json?"""
    header = ["submission", *questions.autograded, *[q.name for q in questions.written]]
    header += ["written_graded", "total", "max_total", "status", "message"]
    (tmp_path / "gradebook.csv").write_text(",".join(header) + "\n")
    with zipfile.ZipFile(AUTOGRADER) as archive:
        (tmp_path / "written_questions.json").write_bytes(archive.read("written_questions.json"))
    graded = questions_from_graded(tmp_path)
    assert sorted(graded.autograded) == sorted(questions.autograded)
    result = CliRunner().invoke(main, ["similarity", str(few), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "similarity.json").read_text())
    assert len(report["questions"]) == 10 and "gradebook.csv" in report["questions_from"]


@pytest.mark.parametrize(
    ("arguments", "code", "says"),
    [
        (["-o", "{tmp}/fresh"], 1, "gradebook.csv: not found"),
        (["-o", "{tmp}", "-a", "{tmp}/bad.zip"], 1, "bad.zip"),
        (["-o", "{tmp}", "-a", str(AUTOGRADER), "--template", "{tmp}/nb.ipynb"], 1, "nb.ipynb"),
        (["-o", "{tmp}", "-a", str(AUTOGRADER), "--threshold", "0"], 2, "threshold"),
        (["-o", "{tmp}", "-a", str(AUTOGRADER), "--max-share", "1.5"], 2, "max-share"),
    ],
)
def test_the_command_fails_clearly(few, tmp_path, arguments, code, says):
    """Does a bad zip, template, setting or a folder never graded exit non-zero, saying why?"""
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    (tmp_path / "nb.ipynb").write_bytes(b"\xff\xfe")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = CliRunner().invoke(main, ["similarity", str(few), *filled])
    assert result.exit_code == code and says in result.output, result.output
    assert not (tmp_path / "similarity.json").exists()


def test_growing_fragments_is_bounded(monkeypatch):
    """Past its budget of token comparisons, does a pair stop growing fragments, and say so?"""
    part = "".join(f"v{n} = f(w, {n * 7919 % 1000})\n" for n in range(100))
    texts = {"a": f"{part}x = 1\n{part}", "b": f"{part}x = [2]\n{part}"}  # two shared runs
    given, hasher = Given(np.zeros(0, dtype=np.uint64)), TokenHasher()
    docs = [
        fingerprint(n, t, code_tokens(t), hasher=hasher, k=8, window=4, handed_out=given)
        for n, t in texts.items()
    ]
    assert not engine.measure(*docs, k=8).truncated
    monkeypatch.setattr(engine, "MAX_STEPS", 5)
    result = engine.compare_question(
        docs, submissions=2, settings=engine.Settings(threshold=0.1), kind=engine.Settings().code
    )
    assert result.pairs[0].truncated and "repeated code" in result.notes[0]


@pytest.mark.slow
def test_the_same_bytes_in_processes_of_different_hash_seeds(few, tmp_path):
    """Does the command write the same bytes from two processes with different salts?"""
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        command = [sys.executable, "-m", "labkit", "similarity", str(few), "-a", str(AUTOGRADER)]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([*command, "-o", str(out)], check=True, capture_output=True, env=env)
        outputs.append([(out / f).read_bytes() for f in ("similarity.json", "pairs.csv")])
    assert outputs[0] == outputs[1] and b"honest_0.ipynb" in outputs[0][1]


def test_the_command_names_each_submission_it_could_not_read(few, tmp_path):
    """Does the command still succeed, and name a broken submission and why it was not read?"""
    (few / "broken.ipynb").write_text("{oops")
    result = CliRunner().invoke(
        main, ["similarity", str(few), "-a", str(AUTOGRADER), "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "not read: broken.ipynb: not a notebook" in result.output


def test_grade_says_when_it_cannot_write_the_report(tmp_path, monkeypatch, capsys):
    """Without the handed-out notebook, does labkit grade say the report was not written and
    how to write it, instead of failing?"""
    from labkit import cli, similarity
    from labkit.gradebook.folder import GradedFolder

    monkeypatch.setattr(similarity, "DEFAULT_TEMPLATE", tmp_path / "missing.ipynb")
    cli._similarity_after_grading([tmp_path], autograder=AUTOGRADER, folder=GradedFolder(tmp_path))
    said = capsys.readouterr().out
    assert "similarity: not written" in said and "missing.ipynb" in said and "--template" in said
    assert not (tmp_path / "similarity.json").exists()
