"""The one factory for boto3 sessions and clients, and ClientError translation.

Honours the standard credential chain, ``--profile``, the region, and ``endpoint_url`` /
``AWS_ENDPOINT_URL`` (so everything runs unchanged against moto or LocalStack). boto3 is
imported lazily: ``invoke --list`` must not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from .config import Settings
from .errors import AwsAuthError, AwsError, QuotaExceeded, SuiteError
from .retrying import INVALID_CREDENTIAL_CODES, THROTTLING_CODES, error_code, is_expired

T = TypeVar("T")

_AUTH_CODES = INVALID_CREDENTIAL_CODES | {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
}


# botocore's names for where credentials came from (Credentials.method)
_SOURCES = {
    "env": "environment variables",
    "shared-credentials-file": "the shared credentials file",
    "config-file": "the AWS config file",
    "assume-role": "an assumed role (profile role_arn)",
    "assume-role-with-web-identity": "a web identity (OIDC) role",
    "sso": "AWS SSO",
    "custom-process": "a credential_process",
    "container-role": "the container's role",
    "iam-role": "the instance's role",
}
# AWS Common Errors, RequestExpired: "The request reached the service more than 15 minutes after the date
# stamp on the request or more than 15 minutes after the request expiration date (such as for
# pre-signed URLs), or the date stamp on the request is more than 15 minutes in the future."
# With credentials that work, that is this machine's clock (the suite presigns nothing).
_CLOCK_SKEW_CODES = frozenset({"RequestExpired", "RequestTimeTooSkewed"})


class AwsFactory:
    """Builds (and caches) boto3 clients for one Settings."""

    def __init__(self, settings: Settings, *, session: Any = None, max_attempts: int = 3) -> None:
        self.settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}
        self.max_attempts = max_attempts

    def session(self) -> Any:
        if self._session is None:
            import boto3
            from botocore.exceptions import ProfileNotFound

            try:
                self._session = boto3.session.Session(
                    profile_name=self.settings.profile or None, region_name=self.settings.region
                )
            except ProfileNotFound as exc:
                raise AwsAuthError(
                    f"AWS profile {self.settings.profile!r} is not configured ({exc})",
                    "run `aws configure --profile NAME` or pass an existing --profile",
                ) from None
        return self._session

    def client(
        self, service: str, *, suite_retries: bool = False, region: str | None = None
    ) -> Any:
        """A cached client. ``suite_retries``: the caller retries with a named policy
        (``tasks.codebuild.client.AwsCaller``), so botocore sends each call once; otherwise botocore's
        standard mode retries it. One retry layer per call, never both multiplied (8 x 3 = 24
        requests for one throttled call). ``region``: another region than the settings' (an
        ECR registry of another region is only answered by that region's API)."""
        region = region or self.settings.region
        key = f"{service}/suite" if suite_retries else service
        if region != self.settings.region:
            key += f"@{region}"
        if key not in self._clients:
            from botocore.config import Config

            attempts = 1 if suite_retries else self.max_attempts
            config = Config(
                retries={"mode": "standard", "total_max_attempts": attempts},
                connect_timeout=10,
                read_timeout=60,
                user_agent_extra="release-suite/0.1",
            )
            kwargs: dict[str, Any] = {"config": config, "region_name": region}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            self._clients[key] = self.session().client(service, **kwargs)
        return self._clients[key]

    def credential_source(self) -> str:
        """Where the credentials came from, in words (for errors that say what was tried)."""
        try:
            creds = self.session().get_credentials()
        except Exception:  # the question must never become the failure
            return "the credential chain"
        method = str(getattr(creds, "method", "") or "")
        return _SOURCES.get(method, f"the credential chain ({method})" if method else "nowhere")

    def refresh(self) -> None:
        """Drop cached clients and session so expired credentials are re-read from the chain."""
        self._session = None
        self._clients.clear()


class ReadRefused(Exception):
    """AWS answered one read about one resource with an error code (not found, access denied):
    an answer about that resource, not a failure of the run."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


def read_aws(fn: Callable[[], T], action: str, *, answers: Collection[str] | None = None) -> T:
    """Run one read-only AWS call, for a read whose "not found" or "refused" is an answer.

    A failure that carries an AWS error code becomes :class:`ReadRefused` (only the codes in
    ``answers``, when given). A failure that makes every read pointless (no code: no endpoint,
    no credentials; invalid or expired credentials), and any code outside ``answers``, is
    raised as the translated ``SuiteError`` for ``action``. The one implementation behind
    doctor's facts and setup's reads.
    """
    try:
        return fn()
    except Exception as exc:
        code = error_code(exc)
        fatal = not code or code in INVALID_CREDENTIAL_CODES or is_expired(exc)
        if fatal or (answers is not None and code not in answers):
            raise translate(exc, action) from None
        raise ReadRefused(code, _message(exc)) from None


def translate(exc: BaseException, action: str) -> SuiteError:
    """Turn a botocore exception into a SuiteError with a remedy (by code, not text)."""
    name = type(exc).__name__
    code = error_code(exc)
    if name in ("NoCredentialsError", "PartialCredentialsError", "NoRegionError"):
        return AwsAuthError(
            f"{action}: no usable AWS credentials ({name})",
            "configure credentials (aws configure, AWS_PROFILE, or an OIDC role) and retry",
        )
    if is_expired(exc) or name in (
        "TokenRetrievalError",
        "SSOTokenLoadError",
        "UnauthorizedSSOTokenError",
    ):
        return AwsAuthError(
            f"{action}: the AWS credentials have expired ({code or name})",
            "refresh them (aws sso login, or re-assume the role) and retry",
        )
    if code in _CLOCK_SKEW_CODES:
        return AwsError(
            f"{action}: AWS refused the request's timestamp ({code}): this machine's clock is "
            "off by more than 15 minutes (clock skew), the credentials are not the problem",
            "sync the clock (`timedatectl set-ntp true`, or `chronyc makestep`), then retry",
            details={"aws_code": code},
        )
    if code == "LimitExceededException":
        # CloudWatch Logs (AWS): "You have reached the maximum number of resources that can be
        # created." A resource quota, not throttling: retrying only waits for nothing
        message = _message(exc)
        return QuotaExceeded(
            f"{action}: an AWS resource quota is reached ({code}: {message or 'no message'})",
            "free some of that resource (for CloudWatch Logs: log groups, subscription filters, "
            "resource policies) or request a higher quota in Service Quotas, then retry",
            details={"aws_code": code},
        )
    if code in _AUTH_CODES:
        return AwsAuthError(
            f"{action}: AWS refused the request ({code})",
            "check that the credentials and --profile are right and that the identity's policy "
            "allows this action",
            details={"aws_code": code},
        )
    if code in THROTTLING_CODES:
        return AwsError(
            f"{action}: AWS kept throttling the request ({code})",
            "wait a minute and retry; reduce parallel runs against this account",
        )
    if name in (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ReadTimeoutError",
    ):
        return AwsError(
            f"{action}: cannot reach the AWS endpoint ({name})",
            "check the network, the region, and AWS_ENDPOINT_URL if you set one",
        )
    message, status = "", 0
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = " ".join(str(response.get("Error", {}).get("Message", "")).split())
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if message.startswith("<") or (code.isdigit() and not message):
        # not an AWS answer at all: an HTML page from a proxy, a load balancer or whatever
        # listens at a wrong endpoint (botocore then uses the HTTP status as the code)
        return AwsError(
            f"{action}: HTTP {status or code} with a non-AWS answer "
            f"({_html_title(message) or 'no AWS error in the body'})",
            "check endpoint_url / AWS_ENDPOINT_URL, the region and any HTTP proxy on the way "
            "to AWS, then retry",
            details={"aws_code": code},
        )
    detail = f"{code}: {message}" if code else " ".join(str(exc).split())
    return AwsError(f"{action}: {detail}", "fix what AWS reports, then retry")


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return " ".join(str(response.get("Error", {}).get("Message", "")).split())
    return ""


def _html_title(page: str) -> str:
    """``502 Bad Gateway`` from ``<title>502 Bad Gateway</title>`` (else the text, shortened)."""
    import re

    found = re.search(r"<title>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    text = found.group(1) if found else re.sub(r"<[^>]*>", " ", page)
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def configured_region(profile: str | None = None) -> str | None:
    """The region of the user's AWS configuration (AWS_REGION, AWS_DEFAULT_REGION, the
    profile's ``region``), or None: what ``release-suite init`` proposes."""
    import boto3

    try:
        return boto3.session.Session(profile_name=profile or None).region_name or None
    except Exception:  # an unknown profile: init says so when it reads the account
        return None
