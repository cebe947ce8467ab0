"""The config loader: what it accepts, and for each mistake the file, line and field."""

import gc
import tracemalloc
from pathlib import Path

import pytest

from reconciler._cli.commands.remote import registry_config
from reconciler._config import models as config
from reconciler._errors import ConfigError

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
        "expected true or false, got 'maybe'",
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
    pytest.param(
        "hello\n",
        1,
        "",
        "expected a mapping with `repositories:` and/or `registries:` at the top level,"
        " got 'hello'",
        id="text",
    ),
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


# --- issue 13: registries-only files, duplicate sources, messages in the tool's words ---


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("registries:\n  localhost:5000:\n    insecure: true\n", id="registries"),
        pytest.param("version: 1\n", id="version"),
        pytest.param("repositories: {}\n", id="empty-repositories"),
    ],
)
def test_a_file_without_repositories_is_valid_and_has_no_aliases(text: str) -> None:
    cfg = config.parse(text, "manifests.yaml")
    assert (cfg.repositories, cfg.targets()) == ({}, [])


def test_a_registries_only_file_keeps_its_settings() -> None:
    cfg = config.parse("registries:\n  localhost:5000:\n    insecure: true\n")
    assert cfg.registry("localhost:5000").insecure is True


DIGEST = "sha256:" + "ab" * 32
R = 'repositories:\n  r.io/a:\n    aliases:\n      "1":\n'  # then `sources:`, items from line 6
FIELD = "repositories.r.io/a.aliases.1.sources"

# (sources as written, one per line from line 6; line and field of the duplicate; message)
DUPLICATES = [
    pytest.param(
        ["'10.10'", "'10.10'"],
        7,
        f"{FIELD}[1]",
        "source '10.10' is listed twice (also sources[0])",
        id="same-text",
    ),
    pytest.param(
        ["10.10", "'10.10'"],
        7,
        f"{FIELD}[1]",
        "source '10.10' is listed twice (also sources[0])",
        id="number-and-text",
    ),
    pytest.param(
        ["'10.10'", "{tag: '10.10'}"],
        7,
        f"{FIELD}[1]",
        "source '10.10' is listed twice (also sources[0])",
        id="text-and-mapping",
    ),
    pytest.param(
        ["{tag: '10.10', platform: linux/amd64}", "{tag: '10.10', platform: linux/arm64}"],
        7,
        f"{FIELD}[1]",
        "source '10.10' is listed twice (also sources[0])",
        id="different-platforms",
    ),
    pytest.param(
        ["'10.10'", "{ref: 'r.io/a:10.10'}"],
        7,
        f"{FIELD}[1]",
        "source 'r.io/a:10.10' is sources[0] ('10.10') again: both name r.io/a:10.10",
        id="tag-and-ref",
    ),
    pytest.param(
        ["'0'", "'r.io/a:10.10'", "'10.10'"],
        8,
        f"{FIELD}[2]",
        "source '10.10' is sources[1] ('r.io/a:10.10') again: both name r.io/a:10.10",
        id="ref-text-and-tag",
    ),
    pytest.param(
        [f"'{DIGEST}'", f"{{digest: '{DIGEST}'}}"],
        7,
        f"{FIELD}[1]",
        f"source '{DIGEST[:19]}' is listed twice (also sources[0])",
        id="digest-twice",
    ),
    pytest.param(
        [f"'{DIGEST}'", f"'r.io/a@{DIGEST}'"],
        7,
        f"{FIELD}[1]",
        f"source 'r.io/a@{DIGEST}' is sources[0] ('{DIGEST[:19]}') again:"
        f" both name r.io/a@{DIGEST}",
        id="digest-and-ref",
    ),
    pytest.param(
        ["'r.io/b:1'", "{ref: 'r.io/b:1'}"],
        7,
        f"{FIELD}[1]",
        "source 'r.io/b:1' is listed twice (also sources[0])",
        id="other-repository",
    ),
]


def alias_with(sources: list[str]) -> str:
    return R + "        sources:\n" + "".join(f"          - {s}\n" for s in sources)


@pytest.mark.parametrize(("sources", "line", "field", "message"), DUPLICATES)
def test_the_same_source_twice_in_one_alias_is_an_error(
    sources: list[str], line: int, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(alias_with(sources), "m.yaml")
    assert str(caught.value) == f"m.yaml:{line}: {field}: {message}"


def test_the_same_source_on_docker_hub_however_its_host_is_written() -> None:
    text = (
        'repositories:\n  nginx:\n    aliases:\n      "1":\n'
        "        - '1.27'\n        - index.docker.io/library/nginx:1.27\n"
    )
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "m.yaml")
    assert str(caught.value) == (
        "m.yaml:6: repositories.nginx.aliases.1.sources[1]:"
        " source 'index.docker.io/library/nginx:1.27' is sources[0] ('1.27') again:"
        " both name docker.io/library/nginx:1.27"
    )


@pytest.mark.parametrize(
    "sources",
    [
        pytest.param(["'10.10'", "'r.io/b:10.10'"], id="same-tag-other-repository"),
        pytest.param(["'10.10'", f"'r.io/a:10.10@{DIGEST}'"], id="tag-and-pinned-digest"),
        pytest.param(["'10.10'", f"'{DIGEST}'"], id="tag-and-digest"),
    ],
)
def test_different_sources_are_not_duplicates(sources: list[str]) -> None:
    [alias] = config.parse(alias_with(sources)).targets()
    assert len(alias.sources) == len(sources)


def test_every_duplicate_is_listed() -> None:
    text = alias_with(["a", "b", "a", "b"])
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "m.yaml")
    assert str(caught.value).splitlines() == [
        f"m.yaml:8: {FIELD}[2]: source 'a' is listed twice (also sources[0])",
        f"m.yaml:9: {FIELD}[3]: source 'b' is listed twice (also sources[1])",
    ]


P = "repositories:\n  r.io/a:\n    aliases:\n"
REG = "registries:\n  r.io:\n"
A = "repositories.r.io/a.aliases.10"
# (file, line, field, message): every pydantic error type a file can provoke, in the tool's words
TOOL_WORDS = [
    pytest.param(
        P + '      "10": "10.10"\n',
        4,
        A,
        "expected a list of sources, or a mapping with `sources` or `track`, got 10.10"
        " (one source is written ['10.10'])",
        id="alias-as-text",
    ),
    pytest.param(
        P + '      "10":\n',
        4,
        A,
        "expected a list of sources, or a mapping with `sources` or `track`, got nothing",
        id="alias-empty",
    ),
    pytest.param(
        P + '      "10": [[a]]\n',
        4,
        f"{A}.sources[0]",
        "expected a tag, a digest, a reference, or a mapping with `tag`, `digest` or `ref`,"
        " got a list",
        id="source-as-list",
    ),
    pytest.param(
        P + '      "10": [true]\n',
        4,
        f"{A}.sources[0]",
        "expected a tag, a digest, a reference, or a mapping with `tag`, `digest` or `ref`,"
        " got true",
        id="source-as-boolean",
    ),
    pytest.param(
        P + '      "10": {sources: a}\n',
        4,
        f"{A}.sources",
        "expected a list of sources, got 'a'",
        id="sources-as-text",
    ),
    pytest.param(
        "repositories:\n  r.io/a:\n    aliases: [a]\n",
        3,
        "repositories.r.io/a.aliases",
        "expected a mapping of alias tags to their sources, got a list",
        id="aliases-as-list",
    ),
    pytest.param(
        "repositories:\n  r.io/a:\n",
        2,
        "repositories.r.io/a",
        "expected a mapping with `aliases`, got nothing",
        id="repository-empty",
    ),
    pytest.param(
        "repositories: [a]\n",
        1,
        "repositories",
        "expected a mapping of repositories to their aliases, got a list",
        id="repositories-as-list",
    ),
    pytest.param(
        "registries: [a]\n",
        1,
        "registries",
        "expected a mapping of registry hosts to their settings, got a list",
        id="registries-as-list",
    ),
    pytest.param(
        "registries:\n  r.io: x\n",
        2,
        "registries.r.io",
        "expected a mapping of registry settings (`insecure`, `endpoint`, `ca_file`, ...), got 'x'",
        id="registry-as-text",
    ),
    pytest.param(
        "defaults: docker\n",
        1,
        "defaults",
        "expected a mapping with `media_type`, `attestations`, `require_platforms`, ...,"
        " got 'docker'",
        id="defaults-as-text",
    ),
    pytest.param(
        REG + "    insecure: maybe\n",
        3,
        "registries.r.io.insecure",
        "expected true or false, got 'maybe'",
        id="boolean",
    ),
    pytest.param(
        REG + "    insecure: [a]\n",
        3,
        "registries.r.io.insecure",
        "expected true or false, got a list",
        id="boolean-as-list",
    ),
    pytest.param(
        REG + "    timeout: soon\n",
        3,
        "registries.r.io.timeout",
        "expected a number, got 'soon'",
        id="number",
    ),
    pytest.param(
        REG + "    timeout: 0\n",
        3,
        "registries.r.io.timeout",
        "must be greater than 0, got 0",
        id="greater-than",
    ),
    pytest.param(
        REG + "    concurrency: 0\n",
        3,
        "registries.r.io.concurrency",
        "must be at least 1, got 0",
        id="at-least",
    ),
    pytest.param(
        REG + "    concurrency: 1.5\n",
        3,
        "registries.r.io.concurrency",
        "expected a whole number, got 1.5",
        id="whole-number",
    ),
    pytest.param(
        "version: [1]\n",
        1,
        "version",
        "expected a whole number, got a list",
        id="whole-number-as-list",
    ),
    pytest.param(
        REG + "    auth: basic\n",
        3,
        "registries.r.io.auth",
        "expected 'auto', 'docker' or 'ecr', got 'basic'",
        id="choice",
    ),
    pytest.param(
        REG + "    ca_file: [a]\n",
        3,
        "registries.r.io.ca_file",
        "expected a file path, got a list",
        id="path",
    ),
    pytest.param(
        REG + "    region: {a: b}\n",
        3,
        "registries.r.io.region",
        "expected text, got a mapping",
        id="text",
    ),
    pytest.param(
        P + '      "10": {track: ""}\n',
        4,
        f"{A}.track",
        "must not be empty",
        id="empty-text",
    ),
    pytest.param(
        P + '      "10": {sources: [a], annotations: [a]}\n',
        4,
        f"{A}.annotations",
        "expected a mapping of annotation keys to text, got a list",
        id="annotations-as-list",
    ),
]


@pytest.mark.parametrize(("text", "line", "field", "message"), TOOL_WORDS)
def test_validation_messages_are_in_the_tools_words(
    text: str, line: int, field: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(text, "m.yaml")
    assert str(caught.value) == f"m.yaml:{line}: {field}: {message}"


PYDANTIC_WORDS = ("Input should", "instance of", "String should", "unable to", "Value error")
WRONG_VALUES = ["x", "''", "~", "true", "0", "-1", "1.5", "[a]", "[]", "{a: b}", "{}"]
V = "VALUE"  # replaced by each wrong value
FIELDS = {
    "version": f"version: {V}\n",
    "defaults": f"defaults: {V}\n",
    "defaults.media_type": f"defaults:\n  media_type: {V}\n",
    "registries": f"registries: {V}\n",
    "registry": f"registries:\n  r.io: {V}\n",
    **{
        f"registry.{name}": f"registries:\n  r.io:\n    {name}: {V}\n"
        for name in config.RegistrySettings.model_fields
    },
    "repositories": f"repositories: {V}\n",
    "repository": f"repositories:\n  r.io/a: {V}\n",
    "aliases": f"repositories:\n  r.io/a:\n    aliases: {V}\n",
    "prune": f"repositories:\n  r.io/a:\n    prune: {V}\n    aliases: {{b: [c]}}\n",
    "alias": P + f'      "10": {V}\n',
    "source": P + f'      "10": [{V}]\n',
    "sources": P + f'      "10": {{sources: {V}}}\n',
    **{name: P + f'      "10": {{{name}: {V}, track: a}}\n' for name in ("scheme", "prereleases")},
    **{
        name: P + f'      "10": {{sources: [a], {name}: {V}}}\n'
        for name in ("media_type", "annotations", "attestations")
    },
    "annotation": P + f'      "10": {{sources: [a], annotations: {{k: {V}}}}}\n',
    "track": P + f'      "10": {{track: {V}}}\n',
    **{name: P + f'      "10": [{{{name}: {V}}}]\n' for name in ("tag", "digest", "ref")},
    "platform": P + f'      "10": [{{tag: a, platform: {V}}}]\n',
}


@pytest.mark.parametrize("template", FIELDS.values(), ids=FIELDS.keys())
def test_no_wrong_value_anywhere_gets_a_pydantic_message(template: str) -> None:
    for value in WRONG_VALUES:
        text = template.replace(V, value)
        try:
            config.parse(text, "m.yaml")
        except ConfigError as exc:
            leaked = [words for words in PYDANTIC_WORDS if words in str(exc)]
            assert leaked == [], (text, str(exc))


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        pytest.param("", True, id="emptied-by-the-shell"),
        pytest.param("\n  \n", True, id="blank-lines"),
        pytest.param("# nothing yet\n", True, id="only-a-comment"),
        pytest.param("registries:\n  r.io: {insecure: true}\n", False, id="registries"),
    ],
)
def test_load_unless_empty_treats_a_file_holding_nothing_as_absent(
    tmp_path: Path, text: str, absent: bool
) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(text)
    loaded = config.load_unless_empty(path)
    if absent:
        assert loaded is None
    else:
        assert loaded is not None and loaded.registry("r.io").insecure is True


def test_load_unless_empty_still_reports_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text("registries: [\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        config.load_unless_empty(path)


# ./manifests.yaml as the one-off commands (inspect, resolve, import) read it without -f:
# (content, whether r.io is plain HTTP, the warning logged)
DEFAULT_FILES = [
    pytest.param(None, False, [], id="absent"),
    pytest.param("", False, [], id="emptied-by-the-shell"),
    pytest.param("registries:\n  r.io: {insecure: true}\n", True, [], id="registries-only"),
    pytest.param(
        "registries: [\n",
        False,
        [
            "ignoring manifests.yaml, using default registry settings: manifests.yaml:2:"
            " YAML syntax error: expected the node content, but found '<stream end>', column 1"
        ],
        id="broken",
    ),
]


@pytest.mark.parametrize(("content", "insecure", "warnings"), DEFAULT_FILES)
def test_the_default_file_of_the_one_off_commands(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    content: str | None,
    insecure: bool,
    warnings: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "manifests.yaml").write_text(content)
    cfg = registry_config(None, "r.io")
    assert cfg.registry("r.io").insecure is insecure
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == warnings


def test_a_config_holds_well_under_a_kilobyte_an_alias() -> None:
    """A run holds the validated file until it ends: 20,000 aliases at 2 KB each were 40 MB.
    Aliases and sources are slotted dataclasses (a model's __dict__ and fields-set were most
    of that), and reading builds no node tree on the way."""
    count = 2000
    aliases = "".join(f'      "v{i}": ["v{i}-amd64", "v{i}-arm64"]\n' for i in range(count))
    text = "repositories:\n  r/app:\n    aliases:\n" + aliases
    config.parse("repositories: {}\n")  # the validators are built on first use
    gc.collect()
    tracemalloc.start()
    try:
        loaded = config.parse(text)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.repositories["r/app"].aliases) == count
    assert held / count < 800, f"{held / count:.0f} bytes an alias held"
    assert peak / count < 1000, f"{peak / count:.0f} bytes an alias at the peak"
