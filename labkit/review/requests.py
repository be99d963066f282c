"""What every view of the review app shares: the request's store, its JSON body, the report
refresher. Each request has its own store connection, so two TAs grading at once both save."""

from __future__ import annotations

from flask import current_app, g, request

from labkit.gradebook.store import ReviewStore

REFRESHER_KEY = "labkit_review_reports"
_KIND_NAMES = {str: "a string", bool: "true or false", (int, float): "a number"}


class BadRequest(Exception):
    """A request whose JSON body is not what the endpoint takes; the message says why."""


def request_store() -> ReviewStore:
    """This request's store connection (closed when the request ends).

    Page loads first bring the store up to date with the folder (a regrade shows at once);
    changes skip that, so a save stays quick.
    """
    if "store" not in g:
        g.store = ReviewStore.open(g.output_dir, sync=request.method == "GET")
    return g.store


def json_body() -> dict:
    """The request's JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def field(body: dict, name: str, kind: type | tuple[type, ...], *, optional: bool = False):
    """``body[name]`` checked to be of ``kind`` (a number is never a boolean)."""
    if name not in body or body[name] is None:
        if optional:
            return None
        raise BadRequest(f"missing field {name!r}")
    value = body[name]
    wrong_bool = isinstance(value, bool) and kind is not bool
    if wrong_bool or not isinstance(value, kind):
        raise BadRequest(f"{name} must be {_KIND_NAMES.get(kind, kind)}, not {value!r:.40}")
    return value


def text_field(body: dict, name: str, limit: int, *, optional: bool = False) -> str | None:
    """A string field of at most ``limit`` characters."""
    value = field(body, name, str, optional=optional)
    if value is not None and len(value) > limit:
        raise BadRequest(f"{name} is longer than {limit} characters")
    return value


def changed(submissions: list[str] | None) -> None:
    """Have the gradebook and these submissions' feedback (None: all) rewritten after a change."""
    current_app.extensions[REFRESHER_KEY].changed(submissions)
