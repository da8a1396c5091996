"""A git server over HTTP that wants Basic authentication, as GitLab or GitHub do for a private repository:
`git http-backend` (smart HTTP) behind a small threaded server on a free loopback port."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TIMEOUT_S = 60


class GitHttpServer(ThreadingHTTPServer):
    """Serves the repositories under `root` to requests authenticated as `user` with `password` (to any
    request when `public`: those are counted all the same), or redirects every request to the same path
    at `redirect_to`."""

    daemon_threads = True

    def __init__(
        self, root: Path, *, user: str, password: str, public: bool = False, redirect_to: str | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.user = user
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.public = public
        self.redirect_to = redirect_to
        self.authorized = 0
        """Requests that came with the expected credentials."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: GitHttpServer
    protocol_version = "HTTP/1.0"  # one request per connection: the response ends with it

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: pytest shows failures."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        body = self._body()
        if self.server.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("Authorization") == self.server.expected:
            self.server.authorized += 1
        elif not self.server.public:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        environment = {
            "PATH": os.environ["PATH"],
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.server.user,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=environment, capture_output=True, timeout=_TIMEOUT_S
        )
        head, _, content = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@contextmanager
def serving(
    root: Path, *, user: str, password: str, public: bool = False, redirect_to: str | None = None
) -> Iterator[GitHttpServer]:
    server = GitHttpServer(root, user=user, password=password, public=public, redirect_to=redirect_to)
    thread = threading.Thread(target=server.serve_forever, name="git-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
