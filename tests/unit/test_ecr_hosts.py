"""ECR without AWS: host parsing, tag immutability rules and error messages."""

from __future__ import annotations

import base64

import botocore.exceptions
import pytest
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from reconciler._errors import ReconcileError
from reconciler._registry import ecr
from reconciler._registry.ecr import (
    ECR_HOST,
    EcrError,
    EcrHost,
    RepositoryFacts,
    _decode_token,
    describe_aws_error,
    parse_ecr_host,
)

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", EcrHost(ACCOUNT, "us-east-1")),
        (f"{ACCOUNT}.dkr.ecr.eu-central-2.amazonaws.com", EcrHost(ACCOUNT, "eu-central-2")),
        (f"{ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com", EcrHost(ACCOUNT, "us-gov-west-1")),
        (f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn", EcrHost(ACCOUNT, "cn-north-1")),
        (f"{ACCOUNT}.dkr.ecr-fips.us-east-2.amazonaws.com", EcrHost(ACCOUNT, "us-east-2")),
        (f"{ACCOUNT}.dkr-ecr.ap-southeast-2.on.aws", EcrHost(ACCOUNT, "ap-southeast-2")),
        (f"{ACCOUNT}.dkr-ecr-fips.us-west-2.on.aws", EcrHost(ACCOUNT, "us-west-2")),
        # Hostnames are case-insensitive; config files are written by humans.
        (f"{ACCOUNT}.DKR.ECR.US-EAST-1.AMAZONAWS.COM", EcrHost(ACCOUNT, "us-east-1")),
        ("public.ecr.aws", None),
        ("registry-1.docker.io", None),
        ("ghcr.io", None),
        ("localhost:5000", None),
        # Lookalikes: wrong account length, spelling/domain mixes, suffixes and prefixes.
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com", None),
        ("1234567890123.dkr.ecr.us-east-1.amazonaws.com", None),
        ("abcdefghijkl.dkr.ecr.us-east-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr-ecr.us-east-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.on.aws", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.evil.example", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com:443", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.comx", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.cn", None),
        (f"x{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.us-east.amazonaws.com", None),
        (f"{ACCOUNT}.dkrxecr.us-east-1.amazonaws.com", None),
        (f"{ACCOUNT}.dkr.ecr.us-east-1.amazonawsxcom", None),
        (f"{ACCOUNT}.api.ecr.us-east-1.amazonaws.com", None),
        (f"evil.example/{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com", None),
        (f" {ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com\n", EcrHost(ACCOUNT, "us-east-1")),
        ("", None),
    ],
)
def test_parse_ecr_host(host: str, expected: EcrHost | None) -> None:
    assert parse_ecr_host(host) == expected


def test_host_pattern_rejects_a_trailing_newline() -> None:
    # Callers may use ECR_HOST directly; `$` would let "host\n" through.
    assert ECR_HOST.match(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com\n") is None


def _facts(mode: str, *filters: str) -> RepositoryFacts:
    return RepositoryFacts("app", f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app", mode, filters)


@pytest.mark.parametrize(
    ("facts", "tag", "immutable"),
    [
        (_facts("MUTABLE"), "latest", False),
        (_facts("MUTABLE"), "v1.2.3", False),
        (_facts("IMMUTABLE"), "latest", True),
        (_facts("IMMUTABLE"), "v1.2.3", True),
        # IMMUTABLE_WITH_EXCLUSION: immutable unless a filter matches.
        (_facts("IMMUTABLE_WITH_EXCLUSION", "latest"), "latest", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "latest"), "latest-1", True),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "latest"), "Latest", True),  # case-sensitive
        (_facts("IMMUTABLE_WITH_EXCLUSION", "dev-*"), "dev-123", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "dev-*"), "dev-", False),  # '*' matches nothing too
        (_facts("IMMUTABLE_WITH_EXCLUSION", "dev-*"), "dev", True),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "dev-*"), "my-dev-1", True),  # anchored at start
        (_facts("IMMUTABLE_WITH_EXCLUSION", "*-rc"), "1.0-rc", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "*-rc"), "1.0-rc1", True),  # anchored at end
        (_facts("IMMUTABLE_WITH_EXCLUSION", "v*.*"), "v1.2", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "v*.*"), "v1", True),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "v1.2"), "v1x2", True),  # '.' is literal
        (_facts("IMMUTABLE_WITH_EXCLUSION", "*"), "anything", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "a*", "b*"), "b2", False),
        (_facts("IMMUTABLE_WITH_EXCLUSION", "a*", "b*"), "c2", True),
        # MUTABLE_WITH_EXCLUSION: mutable unless a filter matches.
        (_facts("MUTABLE_WITH_EXCLUSION", "v*"), "v1.0.0", True),
        (_facts("MUTABLE_WITH_EXCLUSION", "v*"), "latest", False),
        (_facts("MUTABLE_WITH_EXCLUSION", "release-*", "stable"), "stable", True),
        (_facts("MUTABLE_WITH_EXCLUSION", "release-*", "stable"), "stable-2", False),
        (_facts("MUTABLE_WITH_EXCLUSION", "*-*-*"), "a-b-c", True),
        (_facts("MUTABLE_WITH_EXCLUSION", "*-*-*"), "a-b", False),
        # An unknown future mode is treated as immutable: never promise an overwrite.
        (_facts("SOMETHING_NEW"), "latest", True),
    ],
)
def test_tag_is_immutable(facts: RepositoryFacts, tag: str, immutable: bool) -> None:
    assert facts.tag_is_immutable(tag) is immutable


def _client_error(code: str, message: str, operation: str = "GetAuthorizationToken") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


ACTION = "ECR GetAuthorizationToken in eu-west-1"


@pytest.mark.parametrize(
    ("exc", "profile", "expected"),
    [
        (
            NoCredentialsError(),
            None,
            f"{ACTION}: no AWS credentials found (environment, ~/.aws, SSO, web identity or "
            "instance role); set AWS_PROFILE, or configure credentials with `aws configure` "
            "or `aws sso login`",
        ),
        (
            TokenRetrievalError(provider="sso", error_msg="Token has expired and refresh failed"),
            "dev",
            f"{ACTION}: AWS SSO session expired: run `aws sso login --profile dev`",
        ),
        (
            SSOTokenLoadError(error_msg="Token for https://x.awsapps.com/start does not exist"),
            "prod",
            f"{ACTION}: AWS SSO session expired: run `aws sso login --profile prod`",
        ),
        (
            UnauthorizedSSOTokenError(),
            None,
            f"{ACTION}: AWS SSO session expired: run `aws sso login`",
        ),
        (
            ProfileNotFound(profile="nope"),
            "nope",
            f"{ACTION}: AWS profile 'nope' not found in ~/.aws/config "
            "or the shared credentials file",
        ),
        (
            _client_error(
                "AccessDeniedException",
                "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: "
                "ecr:GetAuthorizationToken on resource: * because no identity-based policy "
                "allows the ecr:GetAuthorizationToken action",
            ),
            None,
            f"{ACTION}: access denied (arn:aws:iam::123456789012:user/ci): not authorized to "
            "perform: ecr:GetAuthorizationToken on *",
        ),
        (
            _client_error(
                "AccessDeniedException",
                "User: arn:aws:sts::123456789012:assumed-role/ci/session is not authorized to "
                "perform: ecr:DescribeRepositories on resource: "
                "arn:aws:ecr:eu-west-1:123456789012:repository/app with an explicit deny",
                "DescribeRepositories",
            ),
            None,
            f"{ACTION}: access denied (arn:aws:sts::123456789012:assumed-role/ci/session): not "
            "authorized to perform: ecr:DescribeRepositories on "
            "arn:aws:ecr:eu-west-1:123456789012:repository/app",
        ),
        (
            _client_error("AccessDeniedException", "Access denied by SCP"),
            None,
            f"{ACTION}: access denied: Access denied by SCP",
        ),
        (
            EndpointConnectionError(endpoint_url="https://api.ecr.eu-west-1.amazonaws.com/"),
            None,
            f"{ACTION}: cannot connect to https://api.ecr.eu-west-1.amazonaws.com/ after 5 "
            "attempts (network, proxy, or AWS_ENDPOINT_URL_ECR / region setting?)",
        ),
        (
            _client_error("ThrottlingException", "Rate exceeded"),
            None,
            f"{ACTION}: throttled by AWS (ThrottlingException) even after 5 attempts; "
            "try again later",
        ),
        (
            _client_error("LimitExceededException", "Too many requests"),
            None,
            f"{ACTION}: throttled by AWS (LimitExceededException) even after 5 attempts; "
            "try again later",
        ),
        (
            _client_error("ExpiredTokenException", "The security token included has expired"),
            None,
            f"{ACTION}: AWS rejected the credentials (ExpiredTokenException): "
            "The security token included has expired",
        ),
        (
            _client_error("UnrecognizedClientException", "The security token is invalid."),
            None,
            f"{ACTION}: AWS rejected the credentials (UnrecognizedClientException): "
            "The security token is invalid.",
        ),
        (
            _client_error("ServerException", "Internal error"),
            None,
            f"{ACTION}: ServerException: Internal error",
        ),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            None,
            f"{ACTION}: incomplete AWS credentials: Partial credentials found in env, "
            "missing: AWS_SECRET_ACCESS_KEY",
        ),
        (
            CredentialRetrievalError(provider="custom-process", error_msg="exit status 1"),
            None,
            f"{ACTION}: could not get AWS credentials: Error when retrieving credentials "
            "from custom-process: exit status 1",
        ),
        (
            ParamValidationError(report="Invalid length for parameter repositoryName\n  x"),
            None,
            f"{ACTION}: Parameter validation failed: Invalid length for parameter repositoryName x",
        ),
        (RuntimeError("boom"), None, f"{ACTION}: RuntimeError: boom"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_describe_aws_error(
    exc: Exception, profile: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CONFIG_FILE", raising=False)
    assert describe_aws_error(exc, ACTION, profile=profile) == expected


def test_profile_not_found_names_the_configured_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/etc/aws/config")
    message = describe_aws_error(ProfileNotFound(profile="ci"), ACTION)
    assert "AWS profile 'ci' not found in /etc/aws/config" in message


def test_describe_aws_error_is_one_bounded_line() -> None:
    message = describe_aws_error(_client_error("Weird", "x\n" * 1000), ACTION)
    assert "\n" not in message
    assert len(message) <= len(ACTION) + 2 + 300


def test_login_session_errors_name_aws_login() -> None:
    """`aws login` sessions came with botocore 1.41; boto3>=1.34 allows older ones, which have
    no such error to describe: then the lookup by name must find nothing (and the test still
    runs: botocore is a dependency, never a reason to skip)."""
    login_refresh = getattr(botocore.exceptions, "LoginRefreshRequired", None)
    if login_refresh is None:
        assert ecr._LOGIN_ERRORS == ()
        return
    assert issubclass(login_refresh, ecr._LOGIN_ERRORS)
    message = describe_aws_error(login_refresh(), ACTION, profile="dev")
    assert message.startswith(f"{ACTION}: AWS login session expired or unusable: ")
    assert "`aws login --profile dev`" in message


def test_ecr_error_is_a_reconcile_error() -> None:
    assert issubclass(EcrError, ReconcileError)


def test_token_decoding() -> None:
    token = base64.b64encode(b"AWS:pa:ss").decode()
    credentials = _decode_token(token, ACTION)
    assert (credentials.username, credentials.secret) == ("AWS", "pa:ss")
    assert "pa:ss" not in repr(credentials)


@pytest.mark.parametrize("token", ["not base64!", base64.b64encode(b"no-colon").decode(), ""])
def test_undecodable_token_is_an_error_without_the_token(token: str) -> None:
    with pytest.raises(EcrError) as caught:
        _decode_token(token, ACTION)
    assert str(caught.value) == f"{ACTION}: the authorization token is not base64 user:password"
