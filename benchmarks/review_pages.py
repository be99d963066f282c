"""How fast ``labkit review`` answers a TA: a question page over 200 submissions, and a score save.

    python benchmarks/review_pages.py [--submissions 200] [--repeat 10] [--screenshot PATH]

Writes a graded folder of N submissions (as the review tests do, without running the grader),
serves it with the real HTTP server on a free loopback port, and times through plain HTTP:

- a question page (``q_modified_digit``: every answer rendered, each with its drawn digit);
- a score save round trip (``POST /api/score``: saved, gradebook and feedback rewritten).

Prints the median and worst of each; the targets are 1 s for the page and 50 ms for the save.
``--screenshot`` also saves the question page, as Debian's chromium shows it, to PATH.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_review_app import CHROMIUM, CHROMIUM_ARGS, write_graded_folder  # noqa: E402

from labkit.gradebook.store import ReviewStore  # noqa: E402
from labkit.review.app import close_review_server, make_review_server, server_url  # noqa: E402

PAGE_TARGET_S = 1.0
SAVE_TARGET_S = 0.050
QUESTION = "q_modified_digit"


class Client:
    """One keep-alive HTTP connection with the app's session cookie and CSRF token."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""
        self.token = ""

    def request(self, method: str, path: str, body: dict | None = None) -> bytes:
        """Send one request; fail loudly on any status but 200."""
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "X-CSRF-Token": self.token}
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status} {payload[:300]!r}")
        if cookie := response.getheader("Set-Cookie"):
            self.cookie = cookie.split(";", 1)[0]
        if match := re.search(rb'name="csrf-token" content="([^"]+)"', payload):
            self.token = match.group(1).decode()
        return payload


def timed(action, repeat: int) -> list[float]:
    """Wall times of ``repeat`` calls of ``action``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def screenshot(url: str, path: Path) -> None:
    """Save the question page, graded a little, as chromium shows it at 1280x1000."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url)
        page.wait_for_load_state("load")
        page.click("details.reference-answer > summary")  # fold it: room for the answers
        page.keyboard.press("j")
        comment = page.locator("section.answer .comment").first
        comment.fill("Good choice of digit; say which pixels make the model read it wrong.")
        with page.expect_response("**/api/comment"):
            comment.press("Tab")
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--screenshot", type=Path, help="save the question page as PNG here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labkit-review-bench-") as tmp:
        out = Path(tmp, "graded")
        names = write_graded_folder(out, args.submissions, flagged=("student_002.ipynb",))
        with ReviewStore.open(out) as store:
            item = store.add_rubric_item(QUESTION, points=2, text="the digit is misread")
            store.add_rubric_item(QUESTION, points=-0.5, text="no reason given")
            for name in names[: len(names) // 4]:
                store.apply_rubric_item(name, QUESTION, item.id, applied=True)
        server = make_review_server(out, port=0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            client = Client(server.server_port)
            page_path = f"/questions/{QUESTION}"
            size = len(client.request("GET", page_path))  # also the session and its token
            page_times = timed(lambda: client.request("GET", page_path), args.repeat)
            scores = iter(range(10**6))

            def save() -> None:
                name = names[next(scores) % len(names)]
                body = {"submission": name, "question": QUESTION, "score": 1.5}
                client.request("POST", "/api/score", body)

            save_times = timed(save, args.repeat * 3)
            if args.screenshot:
                screenshot(server_url(server) + page_path.lstrip("/"), args.screenshot)
        finally:
            server.shutdown()
            close_review_server(server)
    page_ms = [t * 1000 for t in page_times]
    save_ms = [t * 1000 for t in save_times]
    print(f"{args.submissions} submissions; question page {size / 1e6:.1f} MB of HTML")
    print(
        f"question page render: median {statistics.median(page_ms):.0f} ms, worst "
        f"{max(page_ms):.0f} ms (target <= {PAGE_TARGET_S * 1000:.0f} ms)"
    )
    print(
        f"score save round trip: median {statistics.median(save_ms):.1f} ms, worst "
        f"{max(save_ms):.1f} ms (target <= {SAVE_TARGET_S * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
