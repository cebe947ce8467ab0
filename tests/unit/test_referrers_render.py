"""The plan lists the referrers a copy brings, under the copy: `+ referrer sha256:...
(artifact type) of linux/arm64` in the text and Markdown plans, and `copies[].referrers` in
the JSON report (left out when a copy brings none)."""

from __future__ import annotations

import dataclasses
import json

from reconciler._model.names import RepositoryName
from reconciler._model.oci import OCI_MANIFEST
from reconciler._output.markdown import render_markdown
from reconciler._output.render import render_json, render_text
from reconciler._pipeline.observed import Copy, Referrer
from reconciler._pipeline.plan import make_plan
from reconciler._pipeline.report import Report, dry_run

from .factories import ABSENT, digest, image, observed, target

SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
AMD, ARM = image("linux/amd64", "amd"), image("linux/arm64/v8", "arm")
SIGNATURE = Referrer(digest("sig"), OCI_MANIFEST, SIG_TYPE, 803, ((digest("c"), 233),),
                     "referrers-api")  # fmt: skip
LEGACY = Referrer(digest("legacy"), OCI_MANIFEST, "application/vnd.oci.image.config.v1+json",
                  700, ((digest("c"), 233), (digest("l"), 239)), "legacy-tag",
                  "sha256-" + ARM.digest.removeprefix("sha256:") + ".sig")  # fmt: skip


def report_with(*referrers: Referrer) -> Report:
    plan = make_plan([observed(target("10"), ABSENT, (AMD,), (ARM,))])
    copy = Copy(ARM.digest, OCI_MANIFEST, RepositoryName("ghcr.io", "org/app-arm64"), "10.20",
                ((digest("config"), 1_000), (digest("layer"), 2_000_000)), "linux/arm64/v8",
                referrers)  # fmt: skip
    return dry_run(dataclasses.replace(plan, aliases=(
        dataclasses.replace(plan.aliases[0], copies=(copy,)),
    )))  # fmt: skip


def test_the_text_plan_lists_each_referrer_under_its_copy() -> None:
    text = render_text(report_with(SIGNATURE, LEGACY))
    assert text.splitlines()[3:6] == [
        f"    + copy {ARM.digest[:19]} (2.0 MB at most) from ghcr.io/org/app-arm64",
        f"    + referrer {digest('sig')[:19]} ({SIG_TYPE}) of linux/arm64/v8",
        f"    + referrer {digest('legacy')[:19]} (legacy .sig tag) of linux/arm64/v8",
    ]


def test_the_markdown_plan_lists_each_referrer_under_its_copy() -> None:
    markdown = render_markdown(report_with(SIGNATURE))
    cell = markdown.splitlines()[4].split(" | ")[4]
    assert cell.split("<br>")[-2:] == [
        f"`+` copy `{ARM.digest[:19]}` (2.0 MB at most) from `ghcr.io/org/app-arm64`",
        f"`+` referrer `{digest('sig')[:19]}` (application/vnd.dev.cosign.artifact.sig.v1+json)"
        " of linux/arm64/v8 |",
    ]


def test_the_json_report_lists_referrers_in_each_copy() -> None:
    doc = json.loads(render_json(report_with(SIGNATURE, LEGACY)))
    assert doc["aliases"][0]["copies"][0]["referrers"] == [
        {"digest": digest("sig"), "media_type": OCI_MANIFEST, "artifact_type": SIG_TYPE,
         "found": "referrers-api", "bytes": 803 + 233},
        {"digest": digest("legacy"), "media_type": OCI_MANIFEST,
         "artifact_type": "application/vnd.oci.image.config.v1+json", "found": "legacy-tag",
         "tag": LEGACY.tag, "bytes": 700 + 233 + 239},
    ]  # fmt: skip


def test_a_copy_without_referrers_has_no_referrers_key() -> None:
    doc = json.loads(render_json(report_with()))
    assert "referrers" not in doc["aliases"][0]["copies"][0]
