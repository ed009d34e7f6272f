"""Retry policies, declared once by name, and the predicates they use.

Predicates look at error *codes* (``ClientError.response["Error"]["Code"]``) and exception
classes, never at message text (one documented exception: :func:`is_iam_lag`, where AWS
uses one code for a transient and for final answers). botocore is not imported: classes are recognised by name
through the MRO so this module stays importable (and testable) without AWS libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        # not "LimitExceededException": in CloudWatch Logs (and IAM) it is a resource quota
        # ("You have reached the maximum number of resources that can be created"), which no
        # retry fixes; tasks.core.aws.translate names it
    }
)
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
        "PriorRequestNotComplete",
        "BadGateway",
    }
)
# (EC2's "RequestExpired" is not here: with valid credentials it means clock skew, which a
# credentials refresh cannot fix; tasks.core.aws.translate says so)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "TokenRefreshRequired"})
# Codes that mean "these credentials are no good", not "this one resource is off limits".
INVALID_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
_TRANSIENT_CLASSES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ConnectionError",
        "ProxyConnectionError",
        "HTTPClientError",
        "ResponseStreamingError",
        "ChunkedEncodingError",
        "ConnectionResetError",
        "ConnectionRefusedError",
        "TimeoutError",
        "IncompleteRead",
        "RemoteDisconnected",
        "ProtocolError",
    }
)
_HTTP_TRANSIENT = frozenset({429, 500, 502, 503, 504})


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError (or of our own errors carrying one), else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_throttled(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def is_expired(exc: BaseException) -> bool:
    return error_code(exc) in EXPIRED_CODES


def is_transient(exc: BaseException) -> bool:
    """Network failures and 5xx-class service errors that a later try may not meet."""
    if error_code(exc) in TRANSIENT_CODES or getattr(exc, "retryable", False) is True:
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in _HTTP_TRANSIENT:
        return True
    return bool(_class_names(exc) & _TRANSIENT_CLASSES)


# CodeBuild's answer while IAM has not propagated a role's new VPC permissions, as users
# report it (aws/aws-cdk#11815, #2335, #2652): "Not authorized to perform
# DescribeSecurityGroups (Service: AWSCodeBuild; Status Code: 400; Error Code:
# InvalidInputException)". The code alone is shared with final errors (a concurrentBuildLimit
# above the account's, a bad image), so this one predicate also reads the message's start:
# AWS gives no other way to tell them apart.
IAM_LAG_MESSAGE = "Not authorized to perform DescribeSecurityGroups"


def is_iam_lag(exc: BaseException) -> bool:
    if error_code(exc) != "InvalidInputException":
        return False
    response = getattr(exc, "response", None) or {}
    message = str(response.get("Error", {}).get("Message", "")).strip()
    return message.startswith(IAM_LAG_MESSAGE)


def is_retryable(exc: BaseException) -> bool:
    return is_throttled(exc) or is_transient(exc)


# Nothing answered at all (refused, no route, connect timeout): a wrong endpoint or region
# looks exactly like this, so such errors get few tries; a lost *response* is not in here.
_UNREACHABLE_CLASSES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionRefusedError",
        "NewConnectionError",
    }
)


def is_unreachable(exc: BaseException) -> bool:
    return bool(_class_names(exc) & _UNREACHABLE_CLASSES)


@dataclass(frozen=True)
class Policy:
    """A named retry policy: how many tries, for how long, how far apart."""

    name: str
    attempts: int
    max_seconds: float
    initial: float
    cap: float
    predicate: Callable[[BaseException], bool]
    unreachable_attempts: int = 3  # tries while nothing answers at all (see is_unreachable)


POLICIES: dict[str, Policy] = {
    # one AWS API call: throttling bursts and brief network loss
    "aws_call": Policy("aws_call", 8, 120.0, 0.5, 20.0, is_retryable),
    # the Registry HTTP API (ECR or any v2 registry)
    "registry": Policy("registry", 5, 30.0, 0.25, 5.0, is_transient),
    # a role's policy that setup just wrote or changed is not yet visible to CodeBuild (IAM is
    # eventually consistent): CreateProject/UpdateProject answer InvalidInputException "Not
    # authorized to perform DescribeSecurityGroups" until it propagates. Only that answer is
    # retried; every other InvalidInputException (a limit above the account's...) is final.
    "iam_propagation": Policy("iam_propagation", 8, 60.0, 1.0, 10.0, is_iam_lag),
}


class _StopWhenUnreachable(tenacity.stop.stop_base):
    """Stop after ``attempts`` tries that met nobody at the other end."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return exc is not None and is_unreachable(exc) and state.attempt_number >= self.attempts


def retrying(
    name: str,
    *,
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], Any] | None = None,
    wait: tenacity.wait.WaitBaseT | None = None,
) -> tenacity.Retrying:
    """A tenacity ``Retrying`` for the named policy; ``on_retry`` tells the user."""
    policy = POLICIES[name]

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is None or state.outcome is None:
            return
        exc = state.outcome.exception()
        why = error_code(exc) if exc else ""
        why = why or (type(exc).__name__ if exc else "error")
        delay = state.next_action.sleep if state.next_action else 0.0
        limit = policy.unreachable_attempts if exc and is_unreachable(exc) else policy.attempts
        on_retry(f"{policy.name}: {why}; retry {state.attempt_number}/{limit - 1} in {delay:.1f}s")

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.Retrying(
        stop=tenacity.stop_any(
            tenacity.stop_after_attempt(policy.attempts),
            tenacity.stop_after_delay(policy.max_seconds),
            _StopWhenUnreachable(policy.unreachable_attempts),
        ),
        wait=wait
        if wait is not None
        else tenacity.wait_random_exponential(multiplier=policy.initial, max=policy.cap),
        retry=tenacity.retry_if_exception(policy.predicate),
        reraise=True,
        before_sleep=before_sleep,
        **kwargs,
    )
