"""A stand-in for the part of GitHub's REST API that `scripts/github_comment.py` uses, on a
loopback port (as moto stands in for AWS): an issue's comments, listed in pages with
`Link: <...>; rel="next"`, created and updated.

Only requests with `Authorization: Bearer <token>` are answered (401 `Bad credentials`
otherwise, as GitHub does); every request is recorded, so a test can say exactly which calls a
run made.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["GitHubStandIn", "Request"]

_COMMENTS = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments$")
_COMMENT = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query
    authorization: str | None
    body: Any


@dataclass
class GitHubStandIn:
    """One repository's issue comments. `comments[number]` is the list, oldest first."""

    token: str
    repository: str = "octo/app"
    page_size: int = 30  # GitHub caps per_page at 100; smaller here to page with few comments
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # Answers forced for a method: (status, JSON body), e.g. a 403 for PATCH.
    fail: dict[str, tuple[int, Any]] = field(default_factory=dict)
    next_link_host: str | None = None  # send `Link` pages on another host (must not be followed)
    redirect_to: str | None = None  # answer every request with a redirect there
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GitHubStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in._handle(self, "GET")

            def do_POST(self) -> None:
                stand_in._handle(self, "POST")

            def do_PATCH(self) -> None:
                stand_in._handle(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def add_comment(self, number: int, body: str, user: str = "someone") -> dict[str, Any]:
        self._next_id += 1
        comment = {
            "id": self._next_id,
            "body": body,
            "user": {"login": user},
            "html_url": f"https://github.example/{self.repository}/pull/{number}"
            f"#issuecomment-{self._next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def calls(self) -> list[tuple[str, str]]:
        """(method, path without the query) of every request, in order."""
        return [(r.method, urlsplit(r.path).path) for r in self.requests]

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body: Any = json.loads(raw) if raw else None
        auth = handler.headers.get("Authorization")
        self.requests.append(Request(method, handler.path, auth, body))
        if auth != f"Bearer {self.token}":
            return _send(handler, 401, {"message": "Bad credentials"})
        if method in self.fail:
            return _send(handler, *self.fail[method])
        if self.redirect_to:
            return _send(handler, 307, {}, {"Location": self.redirect_to + handler.path})
        split = urlsplit(handler.path)
        listing, single = _COMMENTS.match(split.path), _COMMENT.match(split.path)
        if listing and listing["repo"] == self.repository and method in ("GET", "POST"):
            number = int(listing["number"])
            if method == "POST":
                return _send(handler, 201, self.add_comment(number, body["body"], "bot"))
            return self._page(handler, number, split.query)
        if single and single["repo"] == self.repository and method == "PATCH":
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(single["id"]):
                        comment["body"] = body["body"]
                        return _send(handler, 200, comment)
        return _send(handler, 404, {"message": "Not Found"})

    def _page(self, handler: BaseHTTPRequestHandler, number: int, query: str) -> None:
        params = parse_qs(query)
        size = min(int(params.get("per_page", ["30"])[0]), self.page_size)
        page = int(params.get("page", ["1"])[0])
        comments = self.comments.get(number, [])
        chunk = comments[(page - 1) * size : page * size]
        headers = {}
        if page * size < len(comments):
            host = self.next_link_host or self.url
            path = f"/repos/{self.repository}/issues/{number}/comments"
            headers["Link"] = (
                f'<{host}{path}?per_page={size}&page={page + 1}>; rel="next", '
                f'<{host}{path}?per_page={size}&page=1>; rel="first"'
            )
        _send(handler, 200, chunk, headers)


def _send(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)
