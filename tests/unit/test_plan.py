"""Planning by meaning: what counts as drift and what does not."""

from reconciler._errors import NotFoundError
from reconciler._model.oci import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, Descriptor
from reconciler._pipeline.observed import LiveTag, ObservedAlias
from reconciler._pipeline.plan import Action, Change, make_plan, plan_alias

from .factories import ABSENT, attestation, digest, image, live_index, observed, target

AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64/v8", "arm")


def seed(live: LiveTag, **kwargs: object) -> ObservedAlias:
    t = target(**kwargs)  # type: ignore[arg-type]
    return observed(t, live, (AMD,), (ARM,))


def test_absent_tag_is_created_with_one_change_per_platform() -> None:
    plan = plan_alias(seed(ABSENT))
    assert plan.action is Action.CREATE
    assert plan.changes == (
        Change("add", "platform", "linux/amd64", None, AMD.digest, "10.10"),
        Change("add", "platform", "linux/arm64/v8", None, ARM.digest, "10.20"),
    )


def test_index_written_by_docker_manifest_push_is_in_sync() -> None:
    # docker writes arm64 as arm64/v8 and indents differently: same meaning, no rewrite.
    docker_written = live_index(AMD, ARM, media_type=DOCKER_LIST)
    assert plan_alias(seed(docker_written)).action is Action.NOOP


def test_an_index_written_without_the_variant_is_in_sync_and_not_rewritten_for_it() -> None:
    # Earlier versions of this tool wrote arm64 without the `v8` its config declares.
    arm_without_variant = image("linux/arm64", "arm")
    assert arm_without_variant.digest == ARM.digest
    assert plan_alias(seed(live_index(AMD, arm_without_variant))).action is Action.NOOP


def test_changes_list_platforms_in_source_order_then_what_only_the_live_index_has() -> None:
    s390, ppc, riscv = (image(p, p) for p in ("linux/s390x", "linux/ppc64le", "linux/riscv64"))
    t = target(sources=["z", "a", "m"])
    old_riscv = image("linux/riscv64", "old")
    plan = plan_alias(observed(t, live_index(old_riscv, AMD), (s390,), (ppc,), (riscv,)))
    assert [(c.kind, c.subject) for c in plan.changes] == [
        ("add", "linux/s390x"),
        ("add", "linux/ppc64le"),
        ("change", "linux/riscv64"),
        ("remove", "linux/amd64"),
    ]


def test_oci_index_with_the_same_children_is_in_sync_under_auto() -> None:
    assert plan_alias(seed(live_index(AMD, ARM, media_type=OCI_INDEX))).action is Action.NOOP


def test_pinned_media_type_that_differs_is_an_update() -> None:
    plan = plan_alias(seed(live_index(AMD, ARM, media_type=DOCKER_LIST), media_type="oci"))
    assert plan.action is Action.UPDATE
    assert plan.changes == (Change("change", "media_type", "index", DOCKER_LIST, OCI_INDEX),)


def test_repushed_source_updates_just_that_platform() -> None:
    old_arm = image("linux/arm64", "old-arm")
    plan = plan_alias(seed(live_index(AMD, old_arm)))
    assert plan.action is Action.UPDATE
    assert plan.changes == (
        Change("change", "platform", "linux/arm64/v8", old_arm.digest, ARM.digest, "10.20"),
    )


def test_extra_and_missing_platforms_are_reported() -> None:
    s390 = image("linux/s390x", "s390")
    plan = plan_alias(seed(live_index(AMD, s390)))
    assert plan.changes == (
        Change("add", "platform", "linux/arm64/v8", None, ARM.digest, "10.20"),
        Change("remove", "platform", "linux/s390x", s390.digest, None, None),
    )


def test_live_index_listing_a_platform_twice_is_drift() -> None:
    plan = plan_alias(seed(live_index(AMD, ARM, image("linux/amd64", "other"))))
    assert plan.action is Action.UPDATE
    assert [c.subject for c in plan.changes] == ["linux/amd64 (#2)"]


def test_annotation_changes_are_reported() -> None:
    live = live_index(AMD, ARM, media_type=OCI_INDEX, team="old")
    plan = plan_alias(seed(live, annotations={"team": "infra"}))
    assert plan.changes == (Change("change", "annotation", "team", "old", "infra"),)


def test_attestation_changes_are_keyed_by_the_image_they_describe() -> None:
    t = target(sources=["multi"])
    amd = image("linux/amd64", "a", OCI_MANIFEST)
    old, new = attestation(amd, "old"), attestation(amd, "new")
    plan = plan_alias(observed(t, live_index(amd, old, media_type=OCI_INDEX), (amd, new)))
    assert plan.changes == (
        Change("change", "attestation", "linux/amd64", old.digest, new.digest, "multi"),
    )


def test_single_image_at_the_alias_is_a_conflict_unless_forced() -> None:
    single = LiveTag("image", Descriptor(DOCKER_MANIFEST, digest("theirs"), 10))
    conflict = plan_alias(seed(single))
    assert conflict.action is Action.CONFLICT
    assert "--force" in conflict.message and digest("theirs") in conflict.message
    forced = plan_alias(seed(single), force=True)
    assert forced.action is Action.UPDATE
    assert forced.changes[0].field == "tag"


def test_observation_errors_become_error_actions() -> None:
    t = target()
    failed = ObservedAlias(t, error=NotFoundError("r.io", "source '10.10' not found"))
    plan = plan_alias(failed)
    assert plan.action is Action.ERROR and "10.10" in plan.message


def test_desired_errors_become_error_actions_and_do_not_stop_the_others() -> None:
    t = target(sources=["10.10", "10.11"])
    clash = observed(t, ABSENT, (image("linux/amd64", "a"),), (image("linux/amd64", "b"),))
    plan = make_plan([clash, seed(ABSENT)])
    assert [a.action for a in plan.aliases] == [Action.ERROR, Action.CREATE]
    assert "both provide linux/amd64" in plan.aliases[0].message
