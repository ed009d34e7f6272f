"""The one factory for boto3 sessions and clients, and ClientError translation.

Honours the standard credential chain, ``--profile``, the region, and ``endpoint_url`` /
``AWS_ENDPOINT_URL`` (so everything runs unchanged against moto or LocalStack). boto3 is
imported lazily: ``invoke --list`` must not pay for it.
"""

from __future__ import annotations

from typing import Any

from tasks.config import Settings
from tasks.errors import AwsAuthError, AwsError, SuiteError
from tasks.retrying import INVALID_CREDENTIAL_CODES, THROTTLING_CODES, error_code, is_expired

_AUTH_CODES = INVALID_CREDENTIAL_CODES | {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
}


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

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "total_max_attempts": self.max_attempts},
                connect_timeout=10,
                read_timeout=60,
                user_agent_extra="release-suite/0.1",
            )
            kwargs: dict[str, Any] = {"config": config, "region_name": self.settings.region}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            self._clients[service] = self.session().client(service, **kwargs)
        return self._clients[service]

    def refresh(self) -> None:
        """Drop cached clients and session so expired credentials are re-read from the chain."""
        self._session = None
        self._clients.clear()


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


def _html_title(page: str) -> str:
    """``502 Bad Gateway`` from ``<title>502 Bad Gateway</title>`` (else the text, shortened)."""
    import re

    found = re.search(r"<title>(.*?)</title>", page, re.IGNORECASE | re.DOTALL)
    text = found.group(1) if found else re.sub(r"<[^>]*>", " ", page)
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."
