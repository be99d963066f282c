"""The review app's JSON endpoints: they change grades, rubric items and the anonymous switch.

Every change is saved through the store at once (the store checks every value against the rules
of ``labkit.gradebook.grades``), and the reports of the submissions it touched are rewritten
after it (``requests.changed``).
"""

from __future__ import annotations

from flask import Flask, jsonify, session

from labkit.gradebook.grades import MAX_COMMENT_CHARS, MAX_RUBRIC_TEXT_CHARS
from labkit.gradebook.store import ReviewStore
from labkit.review.requests import changed, field, json_body, request_store, text_field


def add_api(app: Flask) -> None:
    """Register the JSON endpoints on ``app``."""

    @app.post("/api/score")
    def set_score():
        body = json_body()
        submission = field(body, "submission", str)
        question = field(body, "question", str)
        score = field(body, "score", (int, float), optional=True)
        store = request_store()
        grade = store.set_score(submission, question, None if score is None else float(score))
        changed([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/comment")
    def set_comment():
        body = json_body()
        submission = field(body, "submission", str)
        question = field(body, "question", str)
        comment = text_field(body, "comment", MAX_COMMENT_CHARS)
        store = request_store()
        grade = store.set_comment(submission, question, comment)
        changed([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/rubric")
    def add_rubric_item():
        body = json_body()
        question = field(body, "question", str)
        points = float(field(body, "points", (int, float)))
        text = text_field(body, "text", MAX_RUBRIC_TEXT_CHARS)
        item = request_store().add_rubric_item(question, points=points, text=text)
        return jsonify(item=_item_json(item))

    @app.post("/api/rubric/<int:item_id>")
    def update_rubric_item(item_id: int):
        body = json_body()
        points = field(body, "points", (int, float), optional=True)
        text = text_field(body, "text", MAX_RUBRIC_TEXT_CHARS, optional=True)
        store = request_store()
        item = store.update_rubric_item(
            item_id, points=None if points is None else float(points), text=text
        )
        changed(store.applied_to(item_id))
        return jsonify(item=_item_json(item), grades=_question_grades(store, item.question))

    @app.post("/api/rubric/<int:item_id>/delete")
    def delete_rubric_item(item_id: int):
        store = request_store()
        question, touched = store.rubric_item(item_id).question, store.applied_to(item_id)
        store.delete_rubric_item(item_id)
        changed(touched)
        return jsonify(grades=_question_grades(store, question))

    @app.post("/api/rubric/<int:item_id>/apply")
    def apply_rubric_item(item_id: int):
        body = json_body()
        submission = field(body, "submission", str)
        question = field(body, "question", str)
        applied = field(body, "applied", bool)
        store = request_store()
        grade = store.apply_rubric_item(submission, question, item_id, applied=applied)
        changed([submission])
        return jsonify(grade=_grade_json(grade), progress=_progress_json(store, question))

    @app.post("/api/anonymous")
    def set_anonymous():
        session["anonymous"] = bool(field(json_body(), "anonymous", bool))
        return jsonify(anonymous=session["anonymous"])

    @app.get("/api/questions/<name>/grades")
    def question_grades(name: str):
        store = request_store()
        store.question(name)
        return jsonify(grades=_question_grades(store, name), progress=_progress_json(store, name))


def _grade_json(grade) -> dict:
    """A store Grade as the page's scripts read it."""
    return {
        "submission": grade.submission,
        "question": grade.question,
        "score": grade.score,
        "comment": grade.comment,
        "rubric_ids": list(grade.rubric_ids),
        "stale": grade.stale,
        "updated_at": grade.updated_at,
    }


def _item_json(item) -> dict:
    """A store RubricItem as the page's scripts read it."""
    return {"id": item.id, "question": item.question, "points": item.points, "text": item.text}


def _progress_json(store: ReviewStore, question: str) -> dict:
    """How many answers to ``question`` have a score, out of how many."""
    graded, total = store.progress(question)
    return {"graded": graded, "total": total}


def _question_grades(store: ReviewStore, question: str) -> dict[str, dict]:
    """Every answer's grade for ``question``, by submission."""
    return {answer.submission: _grade_json(answer.grade) for answer in store.answers(question)}
