"""What a run holds per alias (issue 16, memory): each alias is planned as soon as it is
read and only its plan goes on (to the report, which keeps what it lists: test_outcomes.py),
the plan keeps of the live tag what is reported, the worker threads take aliases one at a
time instead of a future per alias, and the values every alias repeats (platforms, media
types, no annotations) are shared, not copied. The memory itself is
measured by the scale benchmark (BENCHMARKS.md); these pin the behaviour that gives it."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from reconciler._config.models import AliasTarget
from reconciler._model.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    NO_ANNOTATIONS,
    Manifest,
    Platform,
    digest_of,
    media_type_of,
    parse_index,
)
from reconciler._model.repository import RepositoryState
from reconciler._pipeline import observe as observing
from reconciler._pipeline.desired import build_index
from reconciler._pipeline.observe import each_in_order, observe, observe_and_plan
from reconciler._pipeline.observed import LiveTag
from reconciler._pipeline.plan import Action, plan_alias
from reconciler._registry.interface import RegistryReader
from tests.support.fakeregistry import UnusedRegistry

from .factories import REPO, parse_dict


class Images(UnusedRegistry):
    """Aliases `a0`, `a1`, ... each of an amd64 and an arm64 image (`aN-amd64`, `aN-arm64`);
    the alias tag holds their Docker list, except those in `drifted`, whose list lacks arm64."""

    def __init__(self, aliases: int, drifted: tuple[int, ...] = ()) -> None:
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[str, bytes] = {}
        for n in range(aliases):
            entries = [self._image(f"a{n}-{arch}", arch) for arch in ("amd64", "arm64")]
            listed = entries[:1] if n in drifted else entries
            self._put(f"a{n}", {"mediaType": DOCKER_LIST, "manifests": listed}, DOCKER_LIST)

    def _image(self, tag: str, arch: str) -> dict[str, Any]:
        config = json.dumps({"os": "linux", "architecture": arch, "tag": tag}).encode()
        self.blobs[digest_of(config)] = config
        doc = {"mediaType": DOCKER_MANIFEST, "config": {"digest": digest_of(config)}}
        manifest = self._put(tag, doc, DOCKER_MANIFEST)
        platform = {"architecture": arch, "os": "linux"}
        return {
            "mediaType": DOCKER_MANIFEST,
            "digest": manifest.digest,
            "size": 9,
            "platform": platform,
        }

    def _put(self, tag: str, doc: dict[str, Any], media_type: str) -> Manifest:
        raw = json.dumps(doc).encode()
        # A copy of the type's text, as a header or a JSON document gives it.
        self.manifests[tag] = Manifest(raw, "".join(media_type), digest_of(raw))
        return self.manifests[tag]

    def repository_facts(self, repository: str, tag: str) -> RepositoryState:
        return RepositoryState()

    def manifest_at(self, repository: str, ref: str) -> Manifest | None:
        return self.manifests.get(ref)

    def get_blob(self, repository: str, digest: str) -> bytes:
        return self.blobs[digest]


if TYPE_CHECKING:
    _: RegistryReader = Images(0)


def targets(count: int) -> list[AliasTarget]:
    aliases = {f"a{n}": [f"a{n}-amd64", f"a{n}-arm64"] for n in range(count)}
    return parse_dict({"repositories": {REPO: {"aliases": aliases}}}).targets()


@pytest.mark.parametrize("keep", [False, True], ids=["plan", "plan-out"])
def test_aliases_planned_as_they_are_read_are_planned_as_after_reading_all(keep: bool) -> None:
    images = Images(6, drifted=(2, 5))
    every = observe(targets(6), lambda host: images, concurrency=3)
    plans, observed = observe_and_plan(
        targets(6), lambda host: images, keep_observed=keep, concurrency=3
    )
    assert plans == [plan_alias(o) for o in every]
    assert [p.action for p in plans] == [Action.NOOP] * 2 + [Action.UPDATE] + [Action.NOOP] * 2 + [
        Action.UPDATE
    ]
    assert observed == (every if keep else [])  # only a saved plan needs what was read


def test_a_plan_keeps_the_live_tag_s_kind_and_descriptor_not_its_entries() -> None:
    images = Images(2, drifted=(1,))
    plans, _ = observe_and_plan(targets(2), lambda host: images)
    for plan, tag in zip(plans, ("a0", "a1"), strict=True):
        live = images.manifests[tag]
        assert plan.live == LiveTag("index", live.descriptor())
    assert [c.subject for c in plans[1].changes] == ["linux/arm64"]  # compared before


class CountingPool(ThreadPoolExecutor):
    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        type(self).submitted += 1
        return super().submit(*args, **kwargs)


def test_each_thread_takes_the_next_item_instead_of_a_future_per_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observing, "ThreadPoolExecutor", CountingPool)
    CountingPool.submitted = 0
    assert each_in_order(lambda n: n * n, list(range(500)), workers=4) == [
        n * n for n in range(500)
    ]
    assert CountingPool.submitted == 4
    assert each_in_order(lambda n: n, [], workers=4) == []


def test_the_first_failure_stops_the_hand_out_and_is_raised() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        if n == 3:
            raise ValueError("item 3")
        return n

    with pytest.raises(ValueError, match="item 3"):
        each_in_order(work, list(range(1000)), workers=2)
    assert len(started) < 10  # the other thread finished the item it held, took no more


def test_equal_platforms_read_from_registries_are_one_value() -> None:
    first = Platform.from_json({"os": "linux", "architecture": "arm64", "variant": "v8"})
    second = Platform.from_json(
        json.loads('{"os": "linux", "architecture": "arm64", "variant": "v8"}')
    )
    assert first is second
    assert Platform.from_json({"os": "linux", "architecture": "arm"}) is not first


def test_descriptors_share_the_known_media_types_and_no_annotations() -> None:
    images = Images(1)
    entries = parse_index(images.manifests["a0"], "r")
    assert all(e.media_type is DOCKER_MANIFEST for e in entries)
    assert all(e.annotations is NO_ANNOTATIONS for e in entries)
    header = "".join(["application/vnd.docker.distribution.", "manifest.list.v2+json"])
    assert media_type_of(header, b"{}") is DOCKER_LIST
    assert media_type_of("application/json", b'{"mediaType": "' + header.encode() + b'"}') is (
        DOCKER_LIST
    )
    assert media_type_of("text/plain", b"{}") == "text/plain"


def test_a_desired_index_s_bytes_are_built_when_asked_and_not_kept() -> None:
    images = Images(1)
    plan = plan_alias(observe(targets(1), lambda host: images)[0])
    assert plan.desired is not None
    first, second = plan.desired.manifest, plan.desired.manifest
    assert first is not second
    assert (first.raw, first.digest) == (second.raw, second.digest)
    observed = observe(targets(1), lambda host: images)[0]
    assert build_index(observed.target, observed.sources).manifest.digest == first.digest
