"""The review app's JSON endpoints: they change grades, rubric items, overrides of autograded
scores and the anonymous switch.

Every change is saved through the store at once (the store checks every value against the rules
of ``labkit.gradebook.grades``), and the reports of the submissions it touched are rewritten
after it (``requests.changed``). A submission is named by its name or, as anonymous pages name
it, by its pseudonym; answers name it the way the request did.
"""

from __future__ import annotations

from flask import Flask, jsonify

from labkit.gradebook.grades import MAX_COMMENT_CHARS, MAX_REASON_CHARS, MAX_RUBRIC_TEXT_CHARS
from labkit.gradebook.store import ReviewStore
from labkit.review.identity import Identity
from labkit.review.requests import changed, field, json_body, request_store, text_field


def add_api(app: Flask) -> None:
    """Register the JSON endpoints on ``app``."""

    @app.post("/api/score")
    def set_score():
        def change(store, body, submission, question):
            score = field(body, "score", (int, float), optional=True)
            return store.set_score(submission, question, None if score is None else float(score))

        return _change_grade(change)

    @app.post("/api/comment")
    def set_comment():
        def change(store, body, submission, question):
            comment = text_field(body, "comment", MAX_COMMENT_CHARS)
            return store.set_comment(submission, question, comment)

        return _change_grade(change)

    @app.post("/api/confirm")
    def confirm_score():
        return _change_grade(
            lambda store, body, submission, question: store.confirm(submission, question)
        )

    @app.post("/api/override")
    def set_override():
        body = json_body()
        _, submission = _submission(body)
        question = field(body, "question", str)
        score = field(body, "score", (int, float), optional=True)
        store = request_store()
        if score is None:
            store.clear_override(submission, question)
            override = None
        else:
            reason = text_field(body, "reason", MAX_REASON_CHARS) or ""
            found = store.set_override(submission, question, float(score), reason)
            override = {"score": found.score, "reason": found.reason, "computed": found.computed}
        changed([submission])
        return jsonify(override=override)

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
        def change(store, body, submission, question):
            applied = field(body, "applied", bool)
            return store.apply_rubric_item(submission, question, item_id, applied=applied)

        return _change_grade(change)

    @app.post("/api/anonymous")
    def set_anonymous():
        on = bool(field(json_body(), "anonymous", bool))
        request_store().set_anonymous(on)
        return jsonify(anonymous=on)

    @app.get("/api/questions/<name>/grades")
    def question_grades(name: str):
        store = request_store()
        store.question(name)
        return jsonify(grades=_question_grades(store, name), progress=_progress_json(store, name))


def _change_grade(change):
    """Apply ``change(store, body, submission, question)`` (it returns the changed Grade) to the
    submission and question the request names, rewrite that submission's reports, and answer with
    the grade (the submission named as the request named it) and the question's progress."""
    body = json_body()
    key, submission = _submission(body)
    question = field(body, "question", str)
    store = request_store()
    grade = change(store, body, submission, question)
    changed([submission])
    return jsonify(grade=_grade_json(grade, key), progress=_progress_json(store, question))


def _submission(body: dict) -> tuple[str, str]:
    """The submission a request names: as it named it (name or pseudonym), and its name."""
    key = field(body, "submission", str)
    return key, request_store().resolve(key)


def _grade_json(grade, key: str | None = None) -> dict:
    """A store Grade as the page's scripts read it (``key``: how the page names it)."""
    return {
        "submission": grade.submission if key is None else key,
        "question": grade.question,
        "score": grade.score,
        "comment": grade.comment,
        "rubric_ids": list(grade.rubric_ids),
        "stale": grade.stale,
        "updated_at": grade.updated_at,
        "replaced_rubric": list(grade.replaced_rubric),
    }


def _item_json(item) -> dict:
    """A store RubricItem as the page's scripts read it."""
    return {"id": item.id, "question": item.question, "points": item.points, "text": item.text}


def _progress_json(store: ReviewStore, question: str) -> dict:
    """How many answers to ``question`` have a score that counts, out of how many; how many
    scores are stale."""
    graded, total, stale = store.progress(question)
    return {"graded": graded, "total": total, "stale": stale}


def _question_grades(store: ReviewStore, question: str) -> dict[str, dict]:
    """Every answer's grade for ``question``, by the submission's name as pages show it."""
    identity = Identity(anonymous=store.anonymous, pseudonyms=store.pseudonyms())
    return {
        identity.key(answer.submission): _grade_json(answer.grade, identity.key(answer.submission))
        for answer in store.answers(question)
    }
