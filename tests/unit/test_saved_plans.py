"""Saved plans without a registry: the plan file round-trips and matches its schema, is read
back strictly (a newer `schema_version`, a file that is not a plan), gives back the plan apply
writes with the stored index bytes, and the recheck names exactly what moved."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler._cli.commands.schema import print_schema
from reconciler._cli.main import main, parse_args
from reconciler._config.models import AliasTarget, Source
from reconciler._config.selection import Pattern, Shard
from reconciler._errors import TransportError
from reconciler._model.names import RepositoryName
from reconciler._model.oci import OCI_MANIFEST, Descriptor, digest_of
from reconciler._output.metrics import RunMetrics, render_metrics
from reconciler._output.planfile import PlanFileError, plan_schema, read_plan, render_plan
from reconciler._output.runerror import RunError
from reconciler._pipeline.desired import DesiredEntry
from reconciler._pipeline.observed import Copy, ObservedAlias, Orphan, Referrer, ResolvedSource
from reconciler._pipeline.plan import AliasPlan, make_plan
from reconciler._pipeline.recheck import Moved, recheck
from reconciler._pipeline.report import Outcome, Report
from reconciler._pipeline.saved import SavedAlias, SavedPlan, restore, save
from reconciler._registry.interface import Registry
from tests.support.fakeregistry import UnusedRegistry

from .factories import ABSENT, REPO, digest, image, live_index, parse_dict, target
from .test_metrics import parsed
from .test_render import check_golden, mixed_plan_observations

AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64", "arm")
NEWER_ARM = image("linux/arm64", "arm-10.21")
HOME = "localhost:5000"
NAME = "my-image"


def tracked() -> AliasTarget:
    aliases = {"11": {"track": "10.*"}}
    return parse_dict({"repositories": {REPO: {"aliases": aliases}}}).targets()[0]


def floating_observed() -> ObservedAlias:
    """`11` follows 10.*: 10.10 gives amd64, 10.21 arm64; 10.20 and 10.9 were considered."""
    considered = ("10.21", "10.20", "10.10", "10.9")
    picks = (
        ResolvedSource(Source(tag="10.10"), AMD, (AMD,), note="newest of 10.* for linux/amd64",
                       candidates=considered),
        ResolvedSource(Source(tag="10.21"), NEWER_ARM, (NEWER_ARM,),
                       note="newest of 10.* for linux/arm64", candidates=considered),
    )  # fmt: skip
    return ObservedAlias(tracked(), live_index(AMD, ARM), picks)


def copy_with_referrer() -> Copy:
    signature = Referrer(
        digest("sig"), OCI_MANIFEST, "application/vnd.dev.cosign.artifact.sig.v1+json", 400,
        ((digest("sig-config"), 2), (digest("sig-layer"), 300)), "referrers-api",
    )  # fmt: skip
    return Copy(
        digest("arm"), OCI_MANIFEST, RepositoryName("r.test", "builds/arm"), "r.test/builds/arm:1",
        ((digest("config"), 100), (digest("layer"), 2000)), "linux/arm64", (signature,),
    )  # fmt: skip


def observations() -> list[ObservedAlias]:
    """Every kind of alias: create, update, noop, conflict, error, floating, and a source
    from another registry with a manifest (and its signature) to copy."""
    remote = target("12", ["10.10", {"ref": "r.test/builds/arm:1"}])
    remote_sources = (
        ResolvedSource(remote.sources[0], AMD, (AMD,)),
        ResolvedSource(remote.sources[1], ARM, (ARM,), RepositoryName("r.test", "builds/arm")),
    )
    with_copy = ObservedAlias(remote, ABSENT, remote_sources, copies=(copy_with_referrer(),))
    return [*mixed_plan_observations(), floating_observed(), with_copy]


def orphan() -> Orphan:
    return Orphan(target("old"), live_index(AMD, ARM))


def saved_plan() -> tuple[SavedPlan, list[AliasPlan]]:
    seen = observations()
    plan = make_plan(seen, orphans=[orphan()])
    saved = save(
        plan.aliases, seen, tool_version="9.9.9", config_path="/work/manifests.yaml",
        config_bytes=b"repositories: {}\n", only=(Pattern.parse(f"{REPO}:1*"),),
        shard=Shard.parse("0/2"),
    )  # fmt: skip
    return saved, list(plan.aliases)


def test_a_saved_plan_round_trips_through_its_file_and_matches_its_schema() -> None:
    saved, _ = saved_plan()
    text = render_plan(saved)
    Draft202012Validator(plan_schema()).validate(json.loads(text))
    assert read_plan(text, "plan.json") == saved


def projected(doc: dict[str, Any], target: str) -> dict[str, Any]:
    (alias,) = [a for a in doc["aliases"] if a["target"] == f"{REPO}:{target}"]
    return alias  # type: ignore[no-any-return]


def test_the_plan_file_says_what_the_plan_was_made_from() -> None:
    saved, _ = saved_plan()
    doc = json.loads(render_plan(saved))
    assert (doc["schema_version"], doc["tool_version"]) == (1, "9.9.9")
    sha = digest_of(b"repositories: {}\n").removeprefix("sha256:")
    assert doc["config"] == {"path": "/work/manifests.yaml", "sha256": sha}
    assert doc["selection"] == {"only": [f"{REPO}:1*"], "shard": "0/2"}
    assert [(a["alias"], a["action"]) for a in doc["aliases"]] == [
        ("10", "create"), ("9", "update"), ("8", "noop"), ("7", "conflict"), ("6", "error"),
        ("multi", "update"), ("11", "update"), ("12", "create"), ("old", "delete"),
    ]  # fmt: skip
    sources = [(s["source"], s["repository"], s["ref"], s["digest"], s["platforms"])
               for s in projected(doc, "12")["sources"]]  # fmt: skip
    assert sources == [
        ("10.10", REPO, "10.10", AMD.digest, ["linux/amd64"]),
        ("r.test/builds/arm:1", "r.test/builds/arm", "1", ARM.digest, ["linux/arm64"]),
    ]


def test_a_floating_alias_saves_its_picks_and_the_tags_it_considered() -> None:
    saved, _ = saved_plan()
    alias = projected(json.loads(render_plan(saved)), "11")
    assert alias["track"] == {"pattern": "10.*", "candidates": ["10.21", "10.20", "10.10", "10.9"]}
    assert [(s["ref"], s["digest"], s["platforms"]) for s in alias["sources"]] == [
        ("10.10", AMD.digest, ["linux/amd64"]),
        ("10.21", NEWER_ARM.digest, ["linux/arm64"]),
    ]
    assert alias["live"]["digest"] == live_index(AMD, ARM).descriptor.digest  # type: ignore[union-attr]


def test_the_plan_file_holds_the_index_bytes_copies_and_deletes() -> None:
    saved, plan = saved_plan()
    doc = json.loads(render_plan(saved))
    created = plan[0].desired
    assert created is not None
    desired = projected(doc, "10")["desired"]
    assert desired["manifest"].encode() == created.manifest.raw
    assert desired["digest"] == created.manifest.digest
    (copy,) = projected(doc, "12")["copies"]
    assert (copy["digest"], copy["origin"], copy["platform"]) == (
        ARM.digest, "r.test/builds/arm", "linux/arm64",
    )  # fmt: skip
    assert [b["size"] for b in copy["blobs"]] == [100, 2000]
    assert [r["digest"] for r in copy["referrers"]] == [digest("sig")]
    gone = projected(doc, "old")
    assert gone["delete"] == {"tag": "old", "digest": gone["live"]["digest"]}
    failed = projected(doc, "6")
    assert (failed["live"], failed["desired"], failed["sources"]) == (None, None, [])


def live_digest(plan: AliasPlan) -> str | None:
    return plan.live.descriptor.digest if plan.live and plan.live.descriptor else None


def test_restoring_a_saved_alias_gives_back_the_plan_apply_writes() -> None:
    saved, plan = saved_plan()
    for stored, original in zip(saved.aliases, plan, strict=True):
        restored = restore(stored, original.target)
        assert (restored.action, restored.changes, restored.copies, restored.message) == (
            original.action, original.changes, original.copies, original.message,
        ), stored.target  # fmt: skip
        assert live_digest(restored) == live_digest(original)
        if original.desired is None:
            assert restored.desired is None
            continue
        assert restored.desired is not None
        assert restored.desired.manifest == original.desired.manifest
        assert restored.desired.entries == original.desired.entries


def test_the_stored_index_bytes_are_written_as_they_are_not_rebuilt() -> None:
    # A plan made by another version could lay out the same index differently: the reviewed
    # bytes are what is written, whatever this version would build from the entries.
    saved, plan = saved_plan()
    stored = saved.aliases[0]
    assert stored.desired is not None
    compact = json.dumps(json.loads(stored.desired.manifest), separators=(",", ":"))
    edited = stored.model_copy(
        update={
            "desired": stored.desired.model_copy(
                update={"manifest": compact, "digest": digest_of(compact.encode())}
            )
        }
    )
    restored = restore(SavedAlias.model_validate(edited.model_dump()), plan[0].target)
    assert restored.desired is not None
    assert restored.desired.manifest.raw == compact.encode()
    assert restored.desired.manifest.digest == digest_of(compact.encode())
    assert plan[0].desired is not None and plan[0].desired.manifest.raw != compact.encode()


def plan_doc(**changes: Any) -> str:
    doc = json.loads(render_plan(saved_plan()[0]))
    doc.update(changes)
    return json.dumps(doc)


def first_alias(**changes: Any) -> str:
    doc = json.loads(render_plan(saved_plan()[0]))
    doc["aliases"][0].update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "{not json",
            "plan.json: not a plan file: not JSON (Expecting property name enclosed in double"
            " quotes: line 1 column 2 (char 1))",
            id="not JSON",
        ),
        pytest.param("[1, 2]", "plan.json: not a plan file: no `schema_version`", id="a list"),
        pytest.param(
            '{"aliases": []}',
            "plan.json: not a plan file: no `schema_version`",
            id="no schema_version",
        ),
        pytest.param(
            plan_doc(schema_version=99),
            "plan.json: plan file schema_version 99 is newer than this reconcile reads (1);"
            " apply it with the reconcile version that made it",
            id="newer version",
        ),
        pytest.param(
            plan_doc(schema_version=0),
            "plan.json: not a valid plan file: schema_version: Input should be 1",
            id="older version",
        ),
        pytest.param(
            json.dumps({**json.loads(plan_doc()), "aliases": None}),
            "plan.json: not a valid plan file: aliases: Input should be a valid tuple",
            id="aliases not a list",
        ),
        pytest.param(
            json.dumps({k: v for k, v in json.loads(plan_doc()).items() if k != "config"}),
            "plan.json: not a valid plan file: config: Field required",
            id="missing config",
        ),
        pytest.param(
            plan_doc(extra=1),
            "plan.json: not a valid plan file: extra: Extra inputs are not permitted",
            id="an unknown field",
        ),
        pytest.param(
            first_alias(target="elsewhere:10"),
            "plan.json: not a valid plan file: aliases.0: Value error, target 'elsewhere:10' is"
            " not repository:alias",
            id="target not repository:alias",
        ),
        pytest.param(
            first_alias(desired=None),
            f"plan.json: not a valid plan file: aliases.0: Value error, {REPO}:10: a create"
            " needs `live` and `desired`",
            id="a create without its index",
        ),
    ],
)
def test_a_file_that_is_not_a_plan_this_tool_reads_is_refused(text: str, message: str) -> None:
    with pytest.raises(PlanFileError) as caught:
        read_plan(text, "plan.json")
    assert str(caught.value) == message


def test_index_bytes_that_do_not_have_their_digest_are_refused() -> None:
    doc = json.loads(plan_doc())
    doc["aliases"][0]["desired"]["manifest"] += " "
    with pytest.raises(PlanFileError) as caught:
        read_plan(json.dumps(doc), "plan.json")
    digest_text = doc["aliases"][0]["desired"]["digest"]
    assert str(caught.value) == (
        "plan.json: not a valid plan file: aliases.0.desired: Value error, the index bytes do"
        f" not have the digest {digest_text}"
    )


def test_the_plan_schema_is_pinned() -> None:
    out = io.StringIO()
    print_schema("plan", stdout=out)
    Draft202012Validator.check_schema(json.loads(out.getvalue()))
    check_golden("schema-plan.json", out.getvalue())


# -- recheck ---------------------------------------------------------------------------------


class Now(UnusedRegistry):
    """What the registry holds now: tags (and digests) of repositories, and which reads came."""

    def __init__(self, tags: dict[tuple[str, str], str], fail: str = "") -> None:
        self.tags = tags  # (repository, tag or digest) -> digest
        self.fail = fail  # a ref whose HEAD fails
        self.reads: list[str] = []

    def head_manifest(self, repository: str, ref: str) -> Descriptor | None:
        self.reads.append(f"HEAD {repository}:{ref}")
        if ref == self.fail:
            raise TransportError(self.host, f"HEAD {repository}:{ref}: connection reset")
        found = self.tags.get((repository, ref))
        return Descriptor(OCI_MANIFEST, found, 1) if found else None

    def list_tags(self, repository: str) -> list[str]:
        self.reads.append(f"list {repository}")
        return sorted(ref for repo, ref in self.tags if repo == repository and ":" not in ref)


_: Registry = Now({})


def as_planned() -> dict[tuple[str, str], str]:
    """What each tag held when `saved_plan()` was made (the digests it names)."""
    live = live_index(AMD, ARM).descriptor
    assert live is not None
    return {
        (NAME, "10.10"): AMD.digest, (NAME, "10.20"): ARM.digest, (NAME, "10.21"): NEWER_ARM.digest,
        (NAME, "10.9"): digest("10.9"), (NAME, "11"): live.digest, (NAME, "old"): live.digest,
        ("builds/arm", "1"): ARM.digest, ("builds/arm", ARM.digest): ARM.digest,
    }  # fmt: skip


def moved_since(
    tags: dict[tuple[str, str], str], only: tuple[str, ...] = ("11", "12", "old"), fail: str = ""
) -> tuple[list[str], list[str]]:
    """What recheck finds moved in the plan's aliases named `only` against `tags`, and the
    reads it made."""
    saved, plan = saved_plan()
    registry = Now(tags, fail)
    pairs = [(s, a.target) for s, a in zip(saved.aliases, plan, strict=True) if s.alias in only]
    moved = recheck(pairs, lambda host: registry)
    return [str(m) for m in moved], registry.reads


def test_nothing_moved_when_every_tag_holds_what_the_plan_read() -> None:
    moved, reads = moved_since(as_planned())
    assert moved == []
    assert reads == [
        f"HEAD {NAME}:11", f"HEAD {NAME}:10.10", f"HEAD {NAME}:10.21", f"list {NAME}",
        f"HEAD {NAME}:12", f"HEAD {NAME}:10.10", "HEAD builds/arm:1",
        f"HEAD builds/arm:{ARM.digest}", f"HEAD {NAME}:old",
    ]  # fmt: skip


def test_aliases_the_plan_does_not_write_are_not_read_again() -> None:
    # 10 is a create, 8 a noop, 7 a conflict, 6 an error: only the create reads (the fake
    # fails the test on anything else).
    moved, reads = moved_since({}, only=("8", "7", "6"))
    assert (moved, reads) == ([], [])


LIVE = live_index(AMD, ARM).descriptor.digest  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "moved"),
    [
        pytest.param(
            {(NAME, "10.21"): digest("other")},
            [
                f"{REPO}:11: source 10.21 ({REPO}:10.21): {NEWER_ARM.digest[:19]} ->"
                f" {digest('other')[:19]}"
            ],
            id="a source tag pushed again",
        ),
        pytest.param(
            {(NAME, "11"): digest("by hand")},
            [f"{REPO}:11: alias tag: {LIVE[:19]} -> {digest('by hand')[:19]}"],
            id="the alias tag written by someone else",
        ),
        pytest.param(
            {(NAME, "12"): digest("created meanwhile")},
            [f"{REPO}:12: alias tag: absent -> {digest('created meanwhile')[:19]}"],
            id="an absent alias tag created meanwhile",
        ),
        pytest.param(
            {(NAME, "10.30"): digest("10.30")},
            [
                f"{REPO}:11: new tag 10.30 matching '10.*', newer than 10.10: absent ->"
                f" {digest('10.30')[:19]}"
            ],
            id="a new newest tag for a floating alias",
        ),
        pytest.param(
            {(NAME, "10.15"): digest("10.15")},
            [
                f"{REPO}:11: new tag 10.15 matching '10.*', newer than 10.10: absent ->"
                f" {digest('10.15')[:19]}"
            ],
            id="a new tag newer than the oldest pick",
        ),
        pytest.param({(NAME, "10.5"): digest("10.5")}, [], id="a new tag older than every pick"),
        pytest.param({(NAME, "12.0"): digest("12.0")}, [], id="a new tag that does not match"),
        pytest.param(
            {(NAME, "old"): digest("re-tagged")},
            [f"{REPO}:old: alias tag: {LIVE[:19]} -> {digest('re-tagged')[:19]}"],
            id="a tag to prune that moved",
        ),
    ],
)
def test_recheck_names_each_thing_that_moved(
    change: dict[tuple[str, str], str], moved: list[str]
) -> None:
    assert moved_since({**as_planned(), **change})[0] == moved


@pytest.mark.parametrize(
    ("gone", "moved"),
    [
        pytest.param(
            (NAME, "10.10"),
            [
                f"{REPO}:11: source 10.10 ({REPO}:10.10): {AMD.digest[:19]} -> absent",
                f"{REPO}:12: source 10.10 ({REPO}:10.10): {AMD.digest[:19]} -> absent",
            ],
            id="a source tag deleted",
        ),
        pytest.param(
            ("builds/arm", ARM.digest),
            [f"{REPO}:12: r.test/builds/arm@{ARM.digest} (pinned): {ARM.digest[:19]} -> absent"],
            id="a manifest to copy deleted",
        ),
    ],
)
def test_what_was_deleted_since_the_plan_counts_as_moved(
    gone: tuple[str, str], moved: list[str]
) -> None:
    tags = as_planned()
    del tags[gone]
    assert moved_since(tags)[0] == moved


def test_a_read_that_fails_counts_as_moved_since_nothing_proves_otherwise() -> None:
    moved, _ = moved_since(as_planned(), only=("12",), fail="1")
    assert moved == [
        f"{REPO}:12: could not be read again: localhost:5000: HEAD builds/arm:1: connection reset"
    ]


def test_moved_reads_as_alias_what_then_now() -> None:
    assert str(Moved("r/app:10", "alias tag", None, digest("x"))) == (
        f"r/app:10: alias tag: absent -> {digest('x')[:19]}"
    )


# -- the run around it -----------------------------------------------------------------------


def test_a_stale_plan_counts_as_refused_in_the_metrics() -> None:
    _, plan = saved_plan()
    refused = Report(tuple(Outcome(alias) for alias in plan), dry_run=False)
    error = RunError("stale", "the plan is stale, nothing was written; ...")
    metrics = parsed(render_metrics(RunMetrics(1.0, 0.5, refused, error=error)))
    assert metrics["reconcile_refused"] == {(): 1}
    assert metrics["reconcile_last_run_planned"][(("action", "create"),)] == 2
    assert set(metrics["reconcile_last_run_aliases"].values()) == {0}


def test_plan_out_without_dry_run_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["-f", str(tmp_path / "m.yaml"), "--plan-out", str(tmp_path / "plan.json")])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        "reconcile: error: --plan-out needs --dry-run (a saved plan is applied by"
        " `reconcile apply`)"
    )
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["apply", "p.json", "--force"], "unrecognized arguments: --force"),
        (["--force", "apply", "p.json"], "--force belongs to the main command, not to `apply`"),
        (["--only", "x", "apply", "p.json"], "--only belongs to the main command, not to `apply`"),
        (["--dry-run", "apply", "p.json"], "--dry-run belongs to the main command, not to `apply`"),
        (["apply", "p.json", "--lock-wait", "3"], "--lock-wait needs --lock-file (there is no"
         " lock to wait for)"),
        (["apply"], "the following arguments are required: PLAN"),
    ],
)  # fmt: skip
def test_apply_takes_only_the_run_options_a_saved_plan_leaves_open(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {error}")


@pytest.mark.parametrize(
    "argv",
    [
        ["apply", "p.json", "-f", "m.yaml", "--output", "json", "--max-changes", "3",
         "--lock-file", "l", "--lock-wait", "2", "--metrics-file", "x.prom", "--concurrency",
         "4", "--timeout", "9", "--detailed-exitcode", "-v"],
        ["-f", "m.yaml", "--output", "json", "--max-changes", "3", "--lock-file", "l",
         "--lock-wait", "2", "--metrics-file", "x.prom", "--concurrency", "4", "--timeout", "9",
         "--detailed-exitcode", "-v", "apply", "p.json"],
    ],
    ids=["after the command", "before it"],
)  # fmt: skip
def test_apply_takes_the_run_options_before_or_after_its_name(argv: list[str]) -> None:
    args = parse_args(argv)
    got = (args.command, args.plan, args.file, args.output, args.max_changes, args.lock_file,
           args.lock_wait, args.metrics_file, args.concurrency, args.timeout,
           args.detailed_exitcode, args.verbose)  # fmt: skip
    assert got == ("apply", Path("p.json"), Path("m.yaml"), "json", 3, Path("l"), 2.0,
                   Path("x.prom"), 4, 9.0, True, 1)  # fmt: skip


def test_apply_defaults_are_the_main_commands() -> None:
    args = parse_args(["apply", "p.json"])
    assert (args.file, args.output, args.concurrency, args.max_changes, args.dry_run) == (
        None, "text", 16, None, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "message", "kind"),
    [
        pytest.param(
            lambda doc: {**doc, "schema_version": 99},
            "plan file schema_version 99 is newer than this reconcile reads (1); apply it with"
            " the reconcile version that made it",
            "plan",
            id="newer schema_version",
        ),
        pytest.param(
            lambda doc: {**doc, "aliases": "all"},
            "not a valid plan file: aliases: Input should be a valid tuple",
            "plan",
            id="not a plan",
        ),
    ],
)
def test_apply_refuses_a_plan_it_cannot_read_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Any, message: str, kind: str
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(edit(json.loads(render_plan(saved_plan()[0])))))
    code = main(["apply", str(path), "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert err == f"reconcile: error: {path}: {message}\n"
    report = json.loads(out)
    assert (report["error"]["kind"], report["aliases"]) == (kind, [])


def test_dataclass_fields_of_a_copy_all_reach_the_plan_file() -> None:
    # A field added to Copy must be saved too, or applying a saved plan would lose it.
    saved_fields = set(json.loads(render_plan(saved_plan()[0]))["aliases"][7]["copies"][0])
    assert {f.name for f in dataclasses.fields(Copy)} == saved_fields


@pytest.mark.parametrize(
    ("value", "saved"),
    [
        (AliasPlan, {"target", "action", "desired", "live", "changes", "message", "copies"}),
        (DesiredEntry, {"descriptor", "source", "note", "held"}),
        (Copy, {"digest", "media_type", "origin", "source", "blobs", "platform", "referrers"}),
        (Referrer, {"digest", "media_type", "artifact_type", "size", "blobs", "found", "tag"}),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_saved_plan_carries_every_field_of_what_apply_reads(value: type, saved: set[str]) -> None:
    # A field added to one of these must reach the plan file (saved.py) and come back, or
    # applying a saved plan would silently drop it; then add it here.
    assert {f.name for f in dataclasses.fields(value)} == saved


def test_apply_says_to_name_the_config_file_when_it_is_not_where_the_plan_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = tmp_path / "checkout" / "manifests.yaml"
    doc = json.loads(render_plan(saved_plan()[0]))
    doc["config"]["path"] = str(gone)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    assert main(["apply", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"reconcile: error: {gone}: cannot read file: No such file or directory (the config file"
        " the plan names; give it with -f FILE when it is elsewhere)\n"
    )
