"""The config loader: what it accepts, and for each mistake the file, line and field."""

from pathlib import Path

import pytest

from reconciler import config
from reconciler.errors import ConfigError

MINIMAL = """\
registries:                  # optional, keyed by registry host as written in references
  localhost:5000:
    insecure: true           # plain HTTP; default is HTTPS with certificate checks
repositories:
  localhost:5000/my-image:
    aliases:
      "10": ["10.10", "10.20"]
"""


def test_minimal_form_from_the_issue_loads() -> None:
    cfg = config.parse(MINIMAL)
    [alias] = cfg.targets()
    assert alias.name == "localhost:5000/my-image:10"
    assert [s.tag for s in alias.sources] == ["10.10", "10.20"]
    assert (alias.media_type, alias.attestations) == ("auto", "keep")
    assert cfg.registry("localhost:5000").insecure is True


def test_top_level_example_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "manifests.yaml"
    assert config.load(example).targets()


def test_unquoted_numbers_stay_tags() -> None:
    cfg = config.parse("repositories:\n  r.io/a:\n    aliases:\n      10: [10.10, 10.20]\n")
    [alias] = cfg.targets()
    assert alias.tag == "10"
    assert [s.tag for s in alias.sources] == ["10.10", "10.20"]


def test_long_form_defaults_and_overrides() -> None:
    cfg = config.parse(
        """\
version: 1
defaults: {media_type: docker, attestations: drop}
registries:
  r.io: {endpoint: "http://127.0.0.1:1/", ca_file: ca.pem}
repositories:
  r.io/app:
    aliases:
      "1": ["1.0"]
      "2":
        sources:
          - "sha256:0000000000000000000000000000000000000000000000000000000000000000"
          - {tag: "2.1", platform: linux/arm/v7}
        media_type: oci
        annotations: {org.example.team: infra}
        attestations: keep
"""
    )
    one, two = cfg.targets()
    assert (one.media_type, one.attestations) == ("docker", "drop")
    assert (two.media_type, two.attestations) == ("oci", "keep")
    assert two.annotations == (("org.example.team", "infra"),)
    assert two.sources[0].digest and two.sources[1].platform == "linux/arm/v7"
    assert cfg.registry("r.io").endpoint == "http://127.0.0.1:1"


def test_docker_hub_repositories_get_the_library_prefix() -> None:
    cfg = config.parse('repositories:\n  alpine:\n    aliases:\n      "3": ["3.20"]\n')
    repo = cfg.targets()[0].repository
    assert (repo.registry, repo.name) == ("docker.io", "library/alpine")


BAD = [
    pytest.param("repositories:\n  r.io/a: [\n", 3, "", "YAML syntax error", id="yaml-syntax"),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": [a]\n      "1": [b]\n',
        5,
        "",
        "duplicate key '1' (first defined on line 4)",
        id="duplicate-key",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliasses:\n      "1": [a]\n',
        3,
        "repositories.r.io/a.aliasses",
        "did you mean 'aliases'",
        id="misspelled-key",
    ),
    pytest.param(
        "repositorys: {}\n",
        1,
        "repositorys",
        "unknown field",
        id="unknown-top-level",
    ),
    pytest.param(
        'repositories:\n  r.io/My-Image:\n    aliases:\n      "1": [a]\n',
        2,
        "repositories.r.io/My-Image",
        "invalid repository name",
        id="bad-repository",
    ),
    pytest.param(
        'repositories:\n  r.io/a:10:\n    aliases:\n      "1": [a]\n',
        2,
        "repositories.r.io/a:10",
        "without tag or digest",
        id="tag-in-repository",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "-1": [a]\n',
        4,
        "repositories.r.io/a.aliases.-1",
        "invalid tag",
        id="bad-alias-tag",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1":\n        - ok\n        - "bad tag"\n',
        6,
        "repositories.r.io/a.aliases.1.sources[1].tag",
        "invalid tag",
        id="bad-source-tag",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": []\n',
        4,
        "repositories.r.io/a.aliases.1.sources",
        "alias has no sources",
        id="no-sources",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": {media_type: oci}\n',
        4,
        "repositories.r.io/a.aliases.1",
        "needs either `sources` or `track`",
        id="no-sources-key",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1":\n        - "1.0"\n        - "1"\n',
        6,
        "repositories.r.io/a.aliases.1[1]",
        "lists itself as a source",
        id="self-source",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": [{tag: a, platform: linux}]\n',
        4,
        "repositories.r.io/a.aliases.1.sources[0].platform",
        "invalid platform",
        id="platform",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": ["sha256:abc"]\n',
        4,
        "repositories.r.io/a.aliases.1.sources[0]",
        "invalid digest",
        id="bad-digest",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1": {sources: [a], media_type: zip}\n',
        4,
        "repositories.r.io/a.aliases.1.media_type",
        "'auto', 'oci' or 'docker'",
        id="media",
    ),
    pytest.param(
        'repositories:\n  r.io/a:\n    aliases:\n      "1":\n        sources: [a]\n'
        "        media_type: docker\n        annotations: {a: b}\n",
        7,
        "repositories.r.io/a.aliases.1.annotations",
        "need media_type oci",
        id="docker-notes",
    ),
    pytest.param(
        "registries:\n  r.io:\n    insecure: maybe\nrepositories: {}\n",
        3,
        "registries.r.io.insecure",
        "valid boolean",
        id="bool",
    ),
    pytest.param(
        "version: 2\nrepositories: {}\n",
        1,
        "version",
        "newer than this reconciler",
        id="version",
    ),
    pytest.param("- a\n- b\n", 1, "", "expected a mapping", id="not-a-mapping"),
    pytest.param("", 1, "", "expected a mapping", id="empty-file"),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), BAD)
def test_config_errors_name_file_line_and_field(
    text: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "manifests.yaml")
    error = caught.value
    assert (error.path, error.line, error.field) == ("manifests.yaml", line, field)
    assert message in str(error)
    assert str(error).startswith(f"manifests.yaml:{line}: ")


def test_every_problem_is_listed_not_just_the_first() -> None:
    text = 'repositories:\n  r.io/a:\n    aliases:\n      "1": []\n      "2": [{tog: x}]\n'
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "m.yaml")
    lines = str(caught.value).splitlines()
    assert any(line.startswith("m.yaml:4: ") and "no sources" in line for line in lines)
    assert any(line.startswith("m.yaml:5: ") and "'tog'" in line for line in lines)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        config.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("certs/ca.pem", "{dir}/certs/ca.pem"),
        ("../ca.pem", "{dir}/../ca.pem"),
        ("/etc/ssl/ca.pem", "/etc/ssl/ca.pem"),
    ],
)
def test_a_relative_ca_file_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, written: str, expected: str
) -> None:
    directory = tmp_path / "repo"
    directory.mkdir()
    (directory / "m.yaml").write_text(
        f"registries:\n  r.example:\n    ca_file: {written}\nrepositories: {{}}\n"
    )
    monkeypatch.chdir(tmp_path)  # the command runs from elsewhere
    loaded = config.load("repo/m.yaml")
    assert str(loaded.registries["r.example"].ca_file) == expected.format(dir="repo")
