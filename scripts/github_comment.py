#!/usr/bin/env python3
"""Post a report on the pull request as ONE comment, updated in place on every push.

    github_comment.py --body-file REPORT.md --key manifests.yaml

The comment starts with a hidden marker, an HTML comment naming the key (the action gives the
config file: `<!-- reconcile-plan: manifests.yaml -->`), by which the next run finds it again
among the pull request's comments and edits it instead of adding one; two uses of the action
for two files keep one comment each.

GitHub's REST API, three endpoints: list an issue's comments (pages of 100, followed by
`Link: <...>; rel="next"` on the API's own origin only, so the token never goes elsewhere),
create a comment, update a comment. The environment gives `GITHUB_TOKEN`,
`GITHUB_REPOSITORY`, `GITHUB_EVENT_PATH` (the pull request's number) and `GITHUB_API_URL`
(GitHub Enterprise Server, or the tests' stand-in; default https://api.github.com). The token
is only ever sent in the `Authorization` header and never printed. Standard library only.

Exit status: 0 when the comment was written, or when the event is not about a pull request
(nothing to comment on: said as a notice); 1 on any failure, with one line saying what failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CommentError", "GitHub", "body_with_marker", "main", "marker", "pull_request_number"]

DEFAULT_API_URL = "https://api.github.com"
# GitHub refuses a comment body over 65,536 characters; UTF-8 bytes never undercount them.
BODY_LIMIT = 65536
TIMEOUT_S = 30.0
ERROR_BODY_CAP = 64 * 1024  # an error answer is read this far, for its message
_NEXT = re.compile(r'<(?P<url>[^>]+)>\s*;\s*rel="?next"?')


class CommentError(Exception):
    """The comment could not be written; the message says why (never with the token)."""


def marker(key: str) -> str:
    """The hidden first line of the comment. The key is percent-encoded except `/`, so it can
    contain no `>` and cannot end the HTML comment early (`-->`, `--!>`)."""
    return f"<!-- reconcile-plan: {urllib.parse.quote(key, safe='/')} -->"


def body_with_marker(key: str, text: str) -> str:
    """The comment: the marker, then `text`, cut at a line boundary to GitHub's limit."""
    head = marker(key) + "\n"
    if len((head + text).encode()) <= BODY_LIMIT:
        return head + text
    note = "\n*The report is cut here (GitHub's comment limit); the job summary has more.*\n"
    budget = BODY_LIMIT - len(head.encode()) - len(note.encode())
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        budget -= len(line.encode())
        if budget < 0:
            break
        kept.append(line)
    return head + "".join(kept) + note


def pull_request_number(event: Mapping[str, Any]) -> int | None:
    """The pull request an event is about: `pull_request` events, and comments on a pull
    request (`issue_comment`, whose issue has a `pull_request` key); else None."""
    pull = event.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("number"), int):
        return int(pull["number"])
    issue = event.get("issue")
    if (
        isinstance(issue, dict)
        and issue.get("pull_request")
        and isinstance(issue.get("number"), int)
    ):
        return int(issue["number"])
    return None


@dataclass(frozen=True)
class Comment:
    id: int
    body: str
    html_url: str


class GitHub:
    """The few REST calls this script makes, for one repository."""

    def __init__(self, api_url: str, token: str, repository: str) -> None:
        self._api = api_url.rstrip("/")
        self._origin = _origin(self._api)
        self._token = token
        self._repository = repository

    def comments(self, number: int) -> Iterator[Comment]:
        """Every comment of the issue or pull request, oldest first, page after page."""
        url: str | None = f"{self._api}/repos/{self._repository}/issues/{number}/comments"
        url = f"{url}?per_page=100"
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            page, link = self._call("GET", url)
            if not isinstance(page, list):
                raise CommentError(f"GET {_path(url)}: expected a list of comments")
            yield from (_comment(item) for item in page)
            url = self._next_page(link)

    def create(self, number: int, body: str) -> Comment:
        url = f"{self._api}/repos/{self._repository}/issues/{number}/comments"
        return _comment(self._call("POST", url, {"body": body})[0])

    def update(self, comment_id: int, body: str) -> Comment:
        url = f"{self._api}/repos/{self._repository}/issues/comments/{comment_id}"
        return _comment(self._call("PATCH", url, {"body": body})[0])

    def _next_page(self, link: str) -> str | None:
        found = _NEXT.search(link)
        if found is None:
            return None
        url = urllib.parse.urljoin(self._api + "/", str(found["url"]))
        if _origin(url) != self._origin:  # the token goes to the API's own origin only
            raise CommentError(f"the next page of comments is on another host: {_origin(url)}")
        return url

    def _call(self, method: str, url: str, payload: Any = None) -> tuple[Any, str]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "manifest-reconciler-action")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with _OPENER.open(request, timeout=TIMEOUT_S) as answer:
                return json.loads(answer.read()), answer.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            raise CommentError(
                f"{method} {_path(url)}: {exc.code} {_api_message(exc) or exc.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CommentError(f"{method} {_path(url)}: cannot connect ({reason})") from None
        except ValueError:
            raise CommentError(f"{method} {_path(url)}: the answer is not JSON") from None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error, never followed: it could take the token to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _comment(item: Any) -> Comment:
    try:
        return Comment(int(item["id"]), str(item.get("body") or ""), str(item.get("html_url", "")))
    except (TypeError, KeyError, ValueError):
        raise CommentError("the API answered a comment without an id") from None


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _api_message(error: urllib.error.HTTPError) -> str:
    try:
        answer = json.loads(error.read(ERROR_BODY_CAP))
    except (ValueError, OSError):
        return ""
    message = answer.get("message") if isinstance(answer, dict) else None
    return str(message) if message else ""


def upsert(github: GitHub, number: int, key: str, text: str) -> tuple[str, Comment]:
    """Updates the pull request's comment that starts with the key's marker (the oldest, if
    several do), or creates it; returns what was done and the comment."""
    body = body_with_marker(key, text)
    head = marker(key)
    for comment in github.comments(number):
        if comment.body.startswith(head):
            return "updated", github.update(comment.id, body)
    return "created", github.create(number, body)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--body-file", type=Path, required=True, help="the Markdown to post")
    parser.add_argument("--key", required=True, help="names the comment (the config file)")
    args = parser.parse_args(argv)
    try:
        return _post(args.body_file, args.key, env)
    except CommentError as exc:
        print(f"::error::cannot comment the plan on the pull request: {exc}", file=sys.stderr)
        return 1


def _post(body_file: Path, key: str, env: Mapping[str, str]) -> int:
    event = _event(env.get("GITHUB_EVENT_PATH", ""))
    number = pull_request_number(event)
    if number is None:
        print("::notice::not a pull request event: the plan is in the job summary only")
        return 0
    token, repository = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
    if not token:
        raise CommentError("GITHUB_TOKEN is empty (input 'github-token')")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise CommentError(f"GITHUB_REPOSITORY is not OWNER/NAME: {repository!r}")
    try:
        text = body_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommentError(f"cannot read {body_file}: {exc.strerror}") from None
    github = GitHub(env.get("GITHUB_API_URL") or DEFAULT_API_URL, token, repository)
    done, comment = upsert(github, number, key, text)
    print(f"{done} the plan comment on pull request #{number}: {comment.html_url}")
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as file:
            file.write(f"comment-url={''.join(comment.html_url.split())}\n")
    return 0


def _event(path: str) -> Mapping[str, Any]:
    if not path:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommentError(f"cannot read the event payload {path}: {exc}") from None
    return event if isinstance(event, dict) else {}


if __name__ == "__main__":
    sys.exit(main())
