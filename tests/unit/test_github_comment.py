"""The action's pull-request comment (`scripts/github_comment.py`) against a stand-in for
GitHub's REST API on loopback: one comment per config file, found again by its hidden marker
and updated in place, never a new comment per push."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import github_comment
from scripts.github_comment import BODY_LIMIT, body_with_marker, marker, pull_request_number
from tests.support.github_api import GitHubStandIn

TOKEN = "ghs_standin-secret-token"
PR = 7
COMMENTS = f"/repos/octo/app/issues/{PR}/comments"


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    stand_in = GitHubStandIn(token=TOKEN).start()
    yield stand_in
    stand_in.stop()


def event_file(tmp_path: Path, event: dict[str, object]) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return path


def post(
    tmp_path: Path,
    github: GitHubStandIn,
    text: str = "### Plan: 1 to create\n",
    *,
    key: str = "manifests.yaml",
    token: str = TOKEN,
    event: dict[str, object] | None = None,
) -> int:
    body = tmp_path / "report.md"
    body.write_text(text)
    env = {
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": "octo/app",
        "GITHUB_API_URL": github.url,
        "GITHUB_EVENT_PATH": str(event_file(tmp_path, event or {"pull_request": {"number": PR}})),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    return github_comment.main(["--body-file", str(body), "--key", key], env)


def test_the_first_run_creates_one_comment_starting_with_the_hidden_marker(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    assert post(tmp_path, github, "### Plan: 1 to create\n") == 0
    (comment,) = github.comments[PR]
    assert comment["body"] == "<!-- reconcile-plan: manifests.yaml -->\n### Plan: 1 to create\n"
    assert github.calls() == [("GET", COMMENTS), ("POST", COMMENTS)]
    assert (tmp_path / "output").read_text() == f"comment-url={comment['html_url']}\n"


def test_every_later_push_updates_that_comment_in_place(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    assert post(tmp_path, github, "first plan\n") == 0
    (created,) = github.comments[PR]
    github.requests.clear()
    assert post(tmp_path, github, "second plan\n") == 0
    assert post(tmp_path, github, "third plan\n") == 0
    (comment,) = github.comments[PR]
    assert comment["id"] == created["id"]
    assert comment["body"] == "<!-- reconcile-plan: manifests.yaml -->\nthird plan\n"
    patch = ("PATCH", f"/repos/octo/app/issues/comments/{created['id']}")
    assert github.calls() == [("GET", COMMENTS), patch, ("GET", COMMENTS), patch]


def test_the_marked_comment_is_found_on_a_later_page_of_the_listing(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    for n in range(65):  # three pages of 30
        github.add_comment(PR, f"review remark {n}")
    ours = github.add_comment(PR, marker("manifests.yaml") + "\nold plan\n", "bot")
    assert post(tmp_path, github, "new plan\n") == 0
    assert [c["id"] for c in github.comments[PR]][-1] == ours["id"]  # none added
    assert ours["body"] == marker("manifests.yaml") + "\nnew plan\n"
    pages = [r.path for r in github.requests if r.method == "GET"]
    assert pages == [
        f"{COMMENTS}?per_page=100",
        f"{COMMENTS}?per_page=30&page=2",
        f"{COMMENTS}?per_page=30&page=3",
    ]


@pytest.mark.parametrize(
    "other",
    [
        "> <!-- reconcile-plan: manifests.yaml -->\n> quoted by a reviewer\n",
        "<!-- reconcile-plan: deploy/manifests.yaml -->\nthe other file's plan\n",
        "Looks good, but see <!-- reconcile-plan: manifests.yaml --> below\n",
    ],
    ids=["quoted", "another config file", "marker not first"],
)
def test_comments_that_do_not_start_with_this_files_marker_are_left_alone(
    tmp_path: Path, github: GitHubStandIn, other: str
) -> None:
    github.add_comment(PR, other)
    assert post(tmp_path, github, "plan\n") == 0
    assert [c["body"] for c in github.comments[PR]] == [
        other,
        marker("manifests.yaml") + "\nplan\n",
    ]


def test_each_config_file_keeps_its_own_comment(tmp_path: Path, github: GitHubStandIn) -> None:
    assert post(tmp_path, github, "a1\n", key="manifests.yaml") == 0
    assert post(tmp_path, github, "b1\n", key="deploy/manifests.yaml") == 0
    assert post(tmp_path, github, "a2\n", key="manifests.yaml") == 0
    assert [c["body"] for c in github.comments[PR]] == [
        "<!-- reconcile-plan: manifests.yaml -->\na2\n",
        "<!-- reconcile-plan: deploy/manifests.yaml -->\nb1\n",
    ]


def test_every_request_carries_the_token_as_a_bearer_authorization(
    tmp_path: Path, github: GitHubStandIn
) -> None:
    github.add_comment(PR, marker("manifests.yaml") + "\nold\n")
    assert post(tmp_path, github) == 0
    assert post(tmp_path, github, event={"pull_request": {"number": PR + 1}}) == 0
    assert len(github.requests) == 4
    assert {r.authorization for r in github.requests} == {f"Bearer {TOKEN}"}


def test_a_refused_token_fails_with_the_apis_message_and_never_prints_the_token(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post(tmp_path, github, token="ghs_wrong-token") == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "::error::cannot comment the plan on the pull request:"
        f" GET {COMMENTS}: 401 Bad credentials\n"
    )
    assert "ghs_" not in captured.out + captured.err
    assert PR not in github.comments


def test_a_forbidden_update_fails_the_step_naming_the_call(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = github.add_comment(PR, marker("manifests.yaml") + "\nold\n")
    github.fail["PATCH"] = (403, {"message": "Resource not accessible by integration"})
    assert post(tmp_path, github) == 1
    assert capsys.readouterr().err == (
        "::error::cannot comment the plan on the pull request: PATCH"
        f" /repos/octo/app/issues/comments/{ours['id']}: 403 Resource not accessible by"
        " integration\n"
    )


def test_a_next_page_on_another_host_is_refused_before_the_token_goes_there(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(31):
        github.add_comment(PR, f"remark {n}")
    github.next_link_host = "http://127.0.0.2:9"
    assert post(tmp_path, github) == 1
    assert capsys.readouterr().err == (
        "::error::cannot comment the plan on the pull request: the next page of comments is"
        " on another host: http://127.0.0.2:9\n"
    )
    assert github.calls() == [("GET", COMMENTS)]


def test_a_redirect_is_not_followed(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    github.redirect_to = "http://127.0.0.2:9"
    assert post(tmp_path, github) == 1
    assert capsys.readouterr().err == (
        "::error::cannot comment the plan on the pull request:"
        f" GET {COMMENTS}: 307 Temporary Redirect\n"
    )
    assert github.calls() == [("GET", COMMENTS)]


def test_an_empty_token_fails_before_any_request(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post(tmp_path, github, token="") == 1
    assert "GITHUB_TOKEN is empty (input 'github-token')" in capsys.readouterr().err
    assert github.requests == []


def test_an_event_without_a_pull_request_comments_nothing(
    tmp_path: Path, github: GitHubStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert post(tmp_path, github, event={"ref": "refs/heads/main", "commits": []}) == 0
    assert capsys.readouterr().out == (
        "::notice::not a pull request event: the plan is in the job summary only\n"
    )
    assert github.requests == []


@pytest.mark.parametrize(
    ("event", "number"),
    [
        ({"pull_request": {"number": 12}}, 12),
        ({"issue": {"number": 13, "pull_request": {"url": "..."}}}, 13),  # a comment on a PR
        ({"issue": {"number": 14}}, None),  # a comment on an issue
        ({"ref": "refs/heads/main"}, None),  # a push
        ({"pull_request": {"number": "12"}}, None),  # not what GitHub sends
    ],
)
def test_the_pull_request_comes_from_the_event(
    event: dict[str, object], number: int | None
) -> None:
    assert pull_request_number(event) == number


def test_a_body_over_githubs_limit_is_cut_at_a_line_and_says_so() -> None:
    row = "| `+` | `localhost:5000/app:1` | create | ... |\n"
    text = "### Plan\n\n" + row * 5000
    body = body_with_marker("manifests.yaml", text)
    assert len(body) <= BODY_LIMIT < len(text)
    head, rest = body.split("\n", 1)
    assert head == marker("manifests.yaml")
    kept, note = rest.rsplit("\n\n", 1)
    assert note == "*The report is cut here (GitHub's comment limit); the job summary has more.*\n"
    assert text.startswith(kept + "\n") and kept.endswith("... |")


def test_a_body_within_the_limit_is_posted_whole() -> None:
    text = "x" * (BODY_LIMIT - len(marker("k")) - 1)
    assert body_with_marker("k", text) == marker("k") + "\n" + text


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("manifests.yaml", "<!-- reconcile-plan: manifests.yaml -->"),
        ("deploy/prod manifests.yaml", "<!-- reconcile-plan: deploy/prod%20manifests.yaml -->"),
        ("a-->b--!>c", "<!-- reconcile-plan: a--%3Eb--%21%3Ec -->"),
    ],
)
def test_the_marker_is_an_html_comment_no_key_can_end_early(key: str, expected: str) -> None:
    assert marker(key) == expected
    assert marker(key).count(">") == 1
