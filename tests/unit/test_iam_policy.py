"""The ECR IAM policies in README.md ("Minimal IAM policy") grant what the code needs, per mode,
and nothing else.

Two tables say which IAM action each thing the code does on ECR needs:

- every ECR API call (boto3, in reconciler/_registry/ecr.py): the action of the same name;
- every registry API request (reconciler/_registry/http.py), which ECR authorises per request
  (AWS: "IAM permissions for pushing an image", "Blob mounting in Amazon ECR", the
  BatchGetImage and GetDownloadUrlForLayer API references): a manifest GET or HEAD is
  `ecr:BatchGetImage`, a manifest PUT `ecr:PutImage`, a tag list `ecr:ListImages`, a blob GET
  `ecr:GetDownloadUrlForLayer`, a blob HEAD `ecr:BatchCheckLayerAvailability`, opening an
  upload `ecr:InitiateLayerUpload`, a mount also `ecr:GetDownloadUrlForLayer` (on the
  repository mounted from), the closing PUT of an upload, which carries the whole blob,
  `ecr:UploadLayerPart` and `ecr:CompleteLayerUpload`, a manifest DELETE `ecr:BatchDeleteImage`.

Both tables are checked against the code, not trusted: the ECR API calls are read from ecr.py's
source, the registry requests are recorded by calling each public `RegistryClient` method
that sends any (found in http.py's source) against a fake registry, and the mode each is needed
in (dry-run, apply, prune) follows from the stage that calls it. A new call, request or caller
fails here until the tables, and so the README's policies, say what it needs.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import httpx
import pytest

from reconciler._model.oci import DOCKER_MANIFEST, Manifest, digest_of
from reconciler._registry.credentials import StaticCredentials
from reconciler._registry.http import ClientSettings, RegistryClient

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
ECR_MODULE = PACKAGE / "_registry" / "ecr.py"
HTTP_MODULE = PACKAGE / "_registry" / "http.py"


class Mode(IntEnum):
    """What a run does; each mode needs what the ones before it need."""

    DRY_RUN = 0  # reads: the plan (`--dry-run`, and every run before it writes)
    APPLY = 1  # writes indexes, copies sources from other repositories
    PRUNE = 2  # also deletes aliases removed from the file (`prune: true`)


# -- what each operation needs ----------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """An ECR API operation, the method the stages call that leads to it, and when."""

    operation: str  # as AWS names it; the IAM action has the same name
    entry: str | None  # None: made for every registry request (the registry token)
    mode: Mode
    only_when: str = ""  # a setting without which the call is never made

    @property
    def action(self) -> str:
        return f"ecr:{self.operation}"


ECR_API = (
    ApiCall("GetAuthorizationToken", None, Mode.DRY_RUN),
    ApiCall("DescribeRepositories", "repository_facts", Mode.DRY_RUN),
    ApiCall("BatchGetImage", "read_in_bulk", Mode.DRY_RUN),
    ApiCall("DescribeImages", "read_in_bulk", Mode.DRY_RUN),
    ApiCall(
        "CreateRepository", "create_repository", Mode.APPLY, only_when="create_repository: true"
    ),
    ApiCall("BatchDeleteImage", "delete_tag", Mode.PRUNE),
)

DIGEST_PATH = r"sha256:[0-9a-f]{64}"
MOUNT_ACTIONS = ("ecr:InitiateLayerUpload", "ecr:GetDownloadUrlForLayer")


@dataclass(frozen=True)
class Route:
    """A registry API request, as ECR authorises it."""

    method: str
    path: str  # a regex on the whole URL path
    actions: frozenset[str]
    mount: bool | None = None  # for upload POSTs: with `?mount=&from=`, or without

    def matches(self, request: httpx.Request) -> bool:
        if request.method != self.method or not re.fullmatch(self.path, request.url.path):
            return False
        return self.mount is None or self.mount == ("mount" in request.url.params)


def _route(method: str, path: str, *actions: str, mount: bool | None = None) -> Route:
    return Route(method, path, frozenset(actions), mount)


ROUTES = (
    _route("HEAD", r"/v2/.+/manifests/[^/]+", "ecr:BatchGetImage"),
    _route("GET", r"/v2/.+/manifests/[^/]+", "ecr:BatchGetImage"),
    _route("PUT", r"/v2/.+/manifests/[^/]+", "ecr:PutImage"),
    _route("DELETE", r"/v2/.+/manifests/[^/]+", "ecr:BatchDeleteImage"),
    _route("GET", r"/v2/.+/tags/list", "ecr:ListImages"),
    # The referrers API lists manifests, as ECR's ListImageReferrers does, which needs
    # `ecr:BatchGetImage` (its API reference).
    _route("GET", rf"/v2/.+/referrers/{DIGEST_PATH}", "ecr:BatchGetImage"),
    _route("HEAD", rf"/v2/.+/blobs/{DIGEST_PATH}", "ecr:BatchCheckLayerAvailability"),
    _route("GET", rf"/v2/.+/blobs/{DIGEST_PATH}", "ecr:GetDownloadUrlForLayer"),
    _route("POST", r"/v2/.+/blobs/uploads/", "ecr:InitiateLayerUpload", mount=False),
    # A mount reads the blob from the `from` repository: that one needs the download action.
    _route("POST", r"/v2/.+/blobs/uploads/", *MOUNT_ACTIONS, mount=True),
    # Uploads are one PUT with the whole blob (no PATCH): a part and the completion at once.
    _route("PUT", r"/v2/.+/blobs/uploads/[^/]+", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"),
)

# The stage each `RegistryClient` method (and ECR API entry) is needed for, by its callers.
REGISTRY_CALLS: dict[str, Mode] = {
    "manifest_at": Mode.DRY_RUN,
    "head_manifest": Mode.DRY_RUN,
    "get_manifest": Mode.DRY_RUN,
    "get_blob": Mode.DRY_RUN,
    "list_tags": Mode.DRY_RUN,
    "referrers": Mode.DRY_RUN,
    "put_manifest": Mode.APPLY,
    "put_referrer": Mode.APPLY,
    "head_blob": Mode.APPLY,
    "mount_blob": Mode.APPLY,
    "start_upload": Mode.APPLY,
    "finish_upload": Mode.APPLY,
    "open_blob": Mode.APPLY,
    "delete_tag": Mode.PRUNE,
}

# Who calls: a module (relative to reconciler/), or `module:function` where one module serves
# two stages. A new caller must be added here, in the mode it runs in.
CALLER_MODES: dict[str, Mode] = {
    "_pipeline/observe.py": Mode.DRY_RUN,
    "_pipeline/shared.py": Mode.DRY_RUN,  # the reads of one observation
    "_pipeline/recheck.py": Mode.APPLY,  # a saved plan read again before it is applied
    "_pipeline/referrers.py": Mode.DRY_RUN,  # finding what copies bring is part of the plan
    "_cli/lookup.py": Mode.DRY_RUN,  # inspect, resolve
    "_cli/commands/import_.py": Mode.DRY_RUN,
    "_pipeline/prune.py:_orphans_of": Mode.DRY_RUN,  # finding orphans is part of the plan
    "_pipeline/prune.py:delete_alias": Mode.PRUNE,
    "_pipeline/apply.py": Mode.APPLY,
    "_pipeline/transfer.py": Mode.APPLY,
}


# -- reading the code -------------------------------------------------------------------------


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _snake(pascal: str) -> str:
    """`BatchGetImage` -> `batch_get_image`, the boto3 method name."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", pascal).lower()


def ecr_api_calls() -> set[str]:
    """Every `<...>.client.<operation>(` in ecr.py, as AWS names the operation."""
    found = set()
    for node in ast.walk(_tree(ECR_MODULE)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "client"
        ):
            found.add(_pascal(node.func.attr))
    return found


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    yield from (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))


def _references(function: ast.FunctionDef) -> set[str]:
    """Names a function uses as `x.name` or `name(...)`: calls, and methods passed on."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return names


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return False


@functools.cache
def registry_graph() -> dict[str, set[str]]:
    """function name -> names it references, over ecr.py and http.py."""
    graph: dict[str, set[str]] = {}
    for module in (ECR_MODULE, HTTP_MODULE):
        for function in _functions(_tree(module)):
            graph.setdefault(function.name, set()).update(_references(function))
    return graph


def sending_methods() -> set[str]:
    """Public `RegistryClient` methods that send a request, directly or through others."""
    (cls,) = [
        n
        for n in _tree(HTTP_MODULE).body
        if isinstance(n, ast.ClassDef) and n.name == "RegistryClient"
    ]
    methods = {f.name: _references(f) for f in cls.body if isinstance(f, ast.FunctionDef)}
    graph = {name: refs & set(methods) for name, refs in methods.items()}
    # A request leaves the client built as an httpx.Request (`_request`) or, for the many small
    # ones, straight through the transport (`_exchange`).
    return {
        name
        for name in methods
        if not name.startswith("_") and any(_reaches(graph, name, s) for s in _SENDS)
    }


_SENDS = ("_request", "_exchange")


def callers(name: str) -> set[str]:
    """`module:function` of every call `<...>.name(` in the stages (outside
    reconciler/_registry/, which only serves them)."""
    return _method_calls().get(name, set())


@functools.cache
def _method_calls() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module.startswith("_registry/"):
            continue
        for function in _functions(_tree(path)):
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    found.setdefault(node.func.attr, set()).add(f"{module}:{function.name}")
    return found


def mode_of_caller(caller: str) -> Mode:
    module = caller.partition(":")[0]
    mode = CALLER_MODES.get(caller, CALLER_MODES.get(module))
    if mode is None:
        pytest.fail(f"{caller} calls the registry: add it to CALLER_MODES with its stage")
    return mode


# -- recording the registry requests ------------------------------------------------------------

IMAGE = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": []}).encode()
IMAGE_DIGEST = digest_of(IMAGE)
BLOB = b"a layer"
BLOB_DIGEST = digest_of(BLOB)
UPLOAD = "/v2/app/blobs/uploads/session-1"


def fake_registry(request: httpx.Request) -> httpx.Response:
    """Answers every request of the distribution API as a healthy registry would."""
    path, method = request.url.path, request.method
    if "/manifests/" in path:
        if method == "PUT":
            return httpx.Response(201, headers={"docker-content-digest": digest_of(request.read())})
        if method == "DELETE":
            return httpx.Response(202)
        headers = {"content-type": DOCKER_MANIFEST, "docker-content-digest": IMAGE_DIGEST}
        return httpx.Response(200, headers=headers, content=b"" if method == "HEAD" else IMAGE)
    if path.endswith("/tags/list"):
        return httpx.Response(200, json={"name": "app", "tags": ["1.0"]})
    if "/referrers/" in path:
        return httpx.Response(200, json={"schemaVersion": 2, "manifests": []})
    if path.endswith("/blobs/uploads/"):
        if "mount" in request.url.params:
            return httpx.Response(201)
        return httpx.Response(202, headers={"location": UPLOAD})
    if path == UPLOAD:
        return httpx.Response(201)
    if "/blobs/" in path:
        return httpx.Response(200, stream=httpx.ByteStream(b"" if method == "HEAD" else BLOB))
    return httpx.Response(404)


def _open_blob(client: RegistryClient) -> None:
    with client.open_blob("app", BLOB_DIGEST, len(BLOB)) as chunks:
        assert b"".join(chunks) == BLOB


EXERCISES: dict[str, Callable[[RegistryClient], object]] = {
    "manifest_at": lambda c: c.manifest_at("app", "1.0"),
    "head_manifest": lambda c: c.head_manifest("app", "1.0"),
    "get_manifest": lambda c: c.get_manifest("app", IMAGE_DIGEST),
    "get_blob": lambda c: c.get_blob("app", BLOB_DIGEST),
    "list_tags": lambda c: c.list_tags("app"),
    "referrers": lambda c: c.referrers("app", IMAGE_DIGEST),
    "put_manifest": lambda c: c.put_manifest(
        "app", "1", Manifest(IMAGE, DOCKER_MANIFEST, IMAGE_DIGEST)
    ),
    "put_referrer": lambda c: c.put_referrer("app", Manifest(IMAGE, DOCKER_MANIFEST, IMAGE_DIGEST)),
    "head_blob": lambda c: c.head_blob("app", BLOB_DIGEST),
    "mount_blob": lambda c: c.mount_blob("app", BLOB_DIGEST, "other"),
    "start_upload": lambda c: c.start_upload("app"),
    "finish_upload": lambda c: c.finish_upload(
        "app", f"http://r.test{UPLOAD}", BLOB_DIGEST, [BLOB], len(BLOB)
    ),
    "open_blob": _open_blob,
    "delete_tag": lambda c: c.delete_tag("app", "old", IMAGE_DIGEST),
}


@functools.cache
def actions_of_requests(method: str) -> frozenset[str]:
    """Call one `RegistryClient` method against the fake registry; the IAM actions of the
    requests it sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return fake_registry(request)

    settings = ClientSettings(host="r.test", endpoint="http://r.test", insecure=True)
    client = RegistryClient(
        settings, StaticCredentials(None), transport=httpx.MockTransport(handler)
    )
    EXERCISES[method](client)
    assert sent, f"{method} sent no request"
    actions: set[str] = set()
    for request in sent:
        routes = [r for r in ROUTES if r.matches(request)]
        assert len(routes) == 1, f"{method}: {request.method} {request.url} has no IAM action"
        actions |= routes[0].actions
    return frozenset(actions)


def required(mode: Mode) -> set[str]:
    """Every action a run of `mode` may need, settings that enable more calls aside."""
    needed = {call.action for call in ECR_API if call.mode <= mode and not call.only_when}
    for method, method_mode in REGISTRY_CALLS.items():
        if method_mode <= mode:
            needed |= actions_of_requests(method)
    return needed


# -- reading the README -----------------------------------------------------------------------

README = (ROOT / "README.md").read_text()
SECTION = re.search(r"^### Minimal IAM policy\n(.*?)^#{2,3} ", README, flags=re.S | re.M)
LABELS = {"Dry-run": Mode.DRY_RUN, "Apply": Mode.APPLY, "Prune": Mode.PRUNE}


def readme_policies() -> dict[Mode, dict[str, object]]:
    """The policy JSON blocks of the section, each keyed by the first word of the text just
    before it ("Dry-run ...:", "Apply ...:", "Prune ...:")."""
    assert SECTION is not None, "README.md has no '### Minimal IAM policy' section"
    parts = re.split(r"```json\n(.*?)```", SECTION[1], flags=re.S)  # text, json, text, ...
    policies: dict[Mode, dict[str, object]] = {}
    for text, block in zip(parts[0::2], parts[1::2], strict=False):
        label = text.strip().split("\n\n")[-1].split()[0].rstrip(",:")
        assert label in LABELS, f"a policy labelled {label!r}, not one of {sorted(LABELS)}"
        assert LABELS[label] not in policies, f"two policies labelled {label!r}"
        policies[LABELS[label]] = json.loads(block)
    return policies


def statements(policy: dict[str, object]) -> list[dict[str, object]]:
    found = policy["Statement"]
    assert isinstance(found, list)
    return found


def allowed(policy: dict[str, object]) -> set[str]:
    actions: set[str] = set()
    for statement in statements(policy):
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        assert isinstance(action, str | list), statement
        actions |= {action} if isinstance(action, str) else {str(a) for a in action}
    return actions


# -- the tests --------------------------------------------------------------------------------


def test_every_ecr_api_call_of_the_code_is_in_the_table() -> None:
    assert ecr_api_calls() == {call.operation for call in ECR_API}


def test_only_the_ecr_module_talks_to_aws() -> None:
    """Otherwise calls elsewhere would escape `ecr_api_calls`."""
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(boto3|botocore)\b", path.read_text(), re.M)
    }
    assert importers == {"_registry/ecr.py"}


@pytest.mark.parametrize("call", [c for c in ECR_API if c.entry], ids=lambda c: c.operation)
def test_each_ecr_api_call_is_made_by_its_entry_and_needed_in_its_callers_mode(
    call: ApiCall,
) -> None:
    assert call.entry is not None
    assert _reaches(registry_graph(), call.entry, _snake(call.operation))
    found = callers(call.entry)
    assert found, f"nothing outside reconciler/_registry calls {call.entry}"
    assert min(mode_of_caller(c) for c in found) == call.mode, sorted(found)


def test_every_registry_client_method_that_sends_a_request_is_in_the_table() -> None:
    assert sending_methods() == set(REGISTRY_CALLS) == set(EXERCISES)


@pytest.mark.parametrize("method", sorted(REGISTRY_CALLS))
def test_each_registry_method_is_needed_in_the_mode_of_its_first_caller(method: str) -> None:
    found = callers(method)
    assert found, f"nothing outside reconciler/_registry calls {method}"
    assert min(mode_of_caller(c) for c in found) == REGISTRY_CALLS[method], sorted(found)


@pytest.mark.parametrize(
    ("method", "actions"),
    [
        ("manifest_at", {"ecr:BatchGetImage"}),  # a GET by tag (nothing cached)
        ("head_manifest", {"ecr:BatchGetImage"}),
        ("get_manifest", {"ecr:BatchGetImage"}),  # a GET by digest
        ("get_blob", {"ecr:GetDownloadUrlForLayer"}),
        ("list_tags", {"ecr:ListImages"}),
        ("put_manifest", {"ecr:PutImage"}),
        ("head_blob", {"ecr:BatchCheckLayerAvailability"}),
        ("mount_blob", {"ecr:InitiateLayerUpload", "ecr:GetDownloadUrlForLayer"}),
        ("start_upload", {"ecr:InitiateLayerUpload"}),
        ("finish_upload", {"ecr:UploadLayerPart", "ecr:CompleteLayerUpload"}),
        ("open_blob", {"ecr:GetDownloadUrlForLayer"}),
        ("delete_tag", {"ecr:BatchDeleteImage"}),
    ],
)
def test_registry_requests_map_to_the_actions_ecr_authorises_them_by(
    method: str, actions: set[str]
) -> None:
    assert actions_of_requests(method) == actions


def test_the_readme_has_one_policy_per_mode() -> None:
    assert sorted(readme_policies()) == list(Mode)


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.name.lower())
def test_the_readme_policy_of_each_mode_allows_exactly_what_it_needs(mode: Mode) -> None:
    assert allowed(readme_policies()[mode]) == required(mode)


@pytest.mark.parametrize("mode", list(Mode), ids=lambda m: m.name.lower())
def test_the_token_is_allowed_on_every_resource_and_the_rest_on_repositories(mode: Mode) -> None:
    """GetAuthorizationToken has no resource to scope it to; everything else has one."""
    for statement in statements(readme_policies()[mode]):
        token = statement["Action"] == "ecr:GetAuthorizationToken"
        resource = statement["Resource"]
        assert (resource == "*") if token else ":repository/" in str(resource), statement


@pytest.mark.parametrize("call", [c for c in ECR_API if c.only_when], ids=lambda c: c.operation)
def test_an_action_needed_only_with_a_setting_is_named_with_that_setting(call: ApiCall) -> None:
    assert SECTION is not None
    paragraphs = SECTION[1].split("\n\n")
    assert any(f"`{call.action}`" in p and f"`{call.only_when}`" in p for p in paragraphs)


def test_every_ecr_action_the_readme_names_is_one_the_code_needs() -> None:
    known = required(Mode.PRUNE) | {c.action for c in ECR_API}
    assert set(re.findall(r"\becr:[A-Z][A-Za-z]+", README)) <= known
