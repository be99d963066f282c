"""The review app's HTML pages: questions, one question's answers, submissions, item analysis.

Each view fetches what its page shows from the request's store and the folder's rows
(``labkit.gradebook.ledger``: every total from the one function) and renders a Jinja template
(autoescaped); student work reaches a page only through ``render.render_cells``. Submissions are
named through ``identity``: in anonymous grading, by pseudonym only.
"""

from __future__ import annotations

from flask import Flask, Response, abort, g, render_template, request
from markupsafe import Markup

from labkit.gradebook.folder import GradedFolder
from labkit.gradebook.refresh import load_rows
from labkit.review import analysis, render, similarity
from labkit.review.identity import Identity
from labkit.review.requests import request_store


def page_identity(store, rows=None) -> Identity:
    """This request's identity rules, from the store and the rows' students."""
    if rows is None:
        _, rows, _ = load_rows(store)
    people = {row.submission: [*row.students, *row.outcome.students] for row in rows}
    return Identity.of(store, people)


def add_pages(app: Flask) -> None:
    """Register the HTML pages on ``app``."""

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)  # no icon, and no 404 in the console for its absence

    @app.get("/")
    def index():
        store = request_store()
        questions = [(q, store.progress(q.name)) for q in store.questions()]
        return render_template("index.html", questions=questions, output_dir=g.output_dir)

    @app.get("/questions/<name>")
    def question(name: str):
        store = request_store()
        current = store.question(name)
        answers = store.answers(name)
        _, rows, _ = load_rows(store)
        identity = page_identity(store, rows)
        rendered = [render.render_cells(answer.cells) for answer in answers]
        return render_template(
            "question.html",
            question=current,
            questions=store.questions(),
            prompt=Markup(render.render_markdown(current.prompt)),
            reference=render.render_cells(current.reference),
            rubric=store.rubric(name),
            answers=list(zip(answers, rendered, strict=True)),
            students={row.submission: row.students for row in rows},
            identity=identity,
            progress=store.progress(name),
        )

    @app.get("/submissions")
    def submissions():
        store = request_store()
        settings, rows, _ = load_rows(store)
        stored = {row.name: row for row in store.submissions()}
        rows = sorted(rows, key=lambda row: (not row.outcome.flags, row.submission))
        return render_template(
            "submissions.html",
            rows=rows,
            stored=stored,
            manifest=settings.manifest,
            identity=page_identity(store, rows),
        )

    @app.get("/submissions/<key>")
    def submission(key: str):
        store = request_store()
        name = store.resolve(key)
        stored = store.submission(name)
        settings, rows, _ = load_rows(store)
        row = next(r for r in rows if r.submission == name)
        identity = page_identity(store, rows)
        outcome = store.folder.load_outcome(name)
        code = {
            q: render.render_cells(entry.get("cells", []))
            for q, entry in (outcome.code if outcome else {}).items()
            if isinstance(entry, dict)
        }
        code_notes = {
            q: entry.get("notes", [])
            for q, entry in (outcome.code if outcome else {}).items()
            if isinstance(entry, dict)
        }
        order = {q: k for k, q in enumerate(settings.manifest.names)}
        tests = sorted(stored.tests, key=lambda t: order.get(t.get("question"), len(order)))
        return render_template(
            "submission.html",
            row=row,
            stored=stored,
            tests=tests,
            manifest=settings.manifest,
            questions={q.name: q for q in store.questions()},
            code=code,
            code_notes=code_notes,
            identity=identity,
            key=identity.key(name),
        )

    @app.get("/analysis")
    def item_analysis():
        report = analysis.analyse(request_store())
        return render_template("analysis.html", report=report)

    @app.get("/analysis/<plot>.svg")
    def analysis_plot(plot: str):
        if plot not in analysis.PLOTS:
            abort(404)
        svg = analysis.PLOTS[plot](analysis.analyse(request_store()))
        return Response(svg, mimetype="image/svg+xml")

    @app.get("/similarity")
    def similarity_report():
        report = similarity.load_report(GradedFolder(g.output_dir))
        if report is None:
            return render_template("similarity.html", report=None)
        identity = page_identity(request_store())
        lowest = similarity.default_threshold(report)
        threshold = request.args.get("threshold", type=float, default=lowest)
        threshold = min(max(threshold, lowest), 1.0) if threshold == threshold else lowest
        return render_template(
            "similarity.html",
            report=report,
            about=str(report.get("about", "")),
            lowest=lowest,
            threshold=threshold,
            questions=similarity.listings(report, threshold=threshold),
            notes=[identity.redact(n) for n in report.get("notes", []) if isinstance(n, str)],
            identity=identity,
        )

    @app.get("/similarity/<question>/<a>/<b>")
    def similarity_pair(question: str, a: str, b: str):
        report = similarity.load_report(GradedFolder(g.output_dir))
        if report is None:
            abort(404)
        store = request_store()
        identity = page_identity(store)
        view = similarity.side_by_side(report, question, store.resolve(a), store.resolve(b))
        return render_template(
            "similarity_pair.html",
            view=view,
            about=str(report.get("about", "")),
            identity=identity,
        )
