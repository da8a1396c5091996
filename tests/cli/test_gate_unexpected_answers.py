"""`qahub gate` given answers qa_api never gives: exit 2 (cannot decide) with one line on stderr, never 1
(CI reads 1 as a regression) and never a traceback.

The real `qahub` process talks to a tiny HTTP server started by the test: a stand-in for a proxy in front
of qa_api (an SSO sign-in page, a redirect) or for a server that is not qa_api, answering what no live
qa_api can be made to answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

QAHUB = str(Path(sys.executable).parent / "qahub")

# status, headers, body
Answer = tuple[int, dict[str, str], bytes]


def _json(document: object) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(document).encode()


# a pass verdict with every key the gate reads, but a worse output without its fields
_MALFORMED_WORSE = {
    "status": "pass",
    "description": "1 output: none worse",
    "project": "acme/vision",
    "commit": "9" * 40,
    "batch": "default",
    "reference": {"sha": "4" * 40, "batch": "default", "project": "acme/vision", "reason": "parent"},
    "outputs": {"total": 1, "done": 1, "pending": 0, "failed": 0},
    "reasons": [],
    "worse": [{}],
    "worse_count": 1,
    "better_count": 0,
    "summary": {},
}

ANSWERS: dict[str, Answer] = {
    "an_html_sign_in_page": (200, {"Content-Type": "text/html"}, b"<html><body>Sign in</body></html>"),
    "a_redirect": (301, {"Location": "https://sso.example.invalid/login"}, b""),
    "an_unknown_status": _json({"status": "error"}),
    "json_without_a_verdict": _json({"detail": "Not Found"}),
    "a_verdict_with_a_malformed_worse_output": _json(_MALFORMED_WORSE),
}


@pytest.fixture
def answering() -> Iterator[tuple[ThreadingHTTPServer, dict[str, Answer]]]:
    """A server on a free loopback port answering every GET with `answer["now"]`."""
    answer: dict[str, Answer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answer["now"]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: no line per request
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("name", list(ANSWERS))
def test_an_answer_that_is_not_a_verdict_exits_2_with_one_line_and_no_traceback(
    answering: tuple[ThreadingHTTPServer, dict[str, Answer]], name: str, tmp_path: Path
) -> None:
    server, answer = answering
    answer["now"] = ANSWERS[name]
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QAHUB_", "QABOARD_"))}
    env |= {"QAHUB_API_URL": url, "QAHUB_CONFIG_DIR": str(tmp_path)}

    gate = subprocess.run(
        [QAHUB, "gate", "--project", "acme/vision", "--commit", "9" * 40, "--timeout", "5s"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert gate.returncode == 2, gate.stderr
    assert "Traceback" not in gate.stderr
    (line,) = gate.stderr.strip().splitlines()
    assert line.startswith("qahub gate: "), line
    assert url in line
