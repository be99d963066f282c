"""The review app's HTML pages: questions, one question's answers, submissions, item analysis.

Each view fetches what its page shows from the request's store and renders a Jinja template
(autoescaped); student work reaches a page only through ``render.render_cells``.
"""

from __future__ import annotations

from flask import Flask, Response, abort, g, render_template, request
from markupsafe import Markup

from labkit.gradebook.folder import GradedFolder
from labkit.review import analysis, render, similarity
from labkit.review.requests import request_store


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
        rendered = [render.render_cells(answer.cells) for answer in answers]
        students = {row.name: row.students for row in store.submissions()}
        return render_template(
            "question.html",
            question=current,
            questions=store.questions(),
            prompt=Markup(render.render_markdown(current.prompt)),
            reference=render.render_cells(current.reference),
            rubric=store.rubric(name),
            answers=list(zip(answers, rendered, strict=True)),
            students=students,
            progress=store.progress(name),
        )

    @app.get("/submissions")
    def submissions():
        rows = sorted(request_store().submissions(), key=lambda row: (not row.flags, row.name))
        return render_template("submissions.html", rows=rows, questions=request_store().questions())

    @app.get("/submissions/<name>")
    def submission(name: str):
        store = request_store()
        return render_template(
            "submission.html", row=store.submission(name), questions=store.questions()
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
            notes=[str(n) for n in report.get("notes", []) if isinstance(n, str)],
        )

    @app.get("/similarity/<question>/<a>/<b>")
    def similarity_pair(question: str, a: str, b: str):
        report = similarity.load_report(GradedFolder(g.output_dir))
        if report is None:
            abort(404)
        view = similarity.side_by_side(report, question, a, b)
        return render_template(
            "similarity_pair.html", view=view, about=str(report.get("about", ""))
        )
