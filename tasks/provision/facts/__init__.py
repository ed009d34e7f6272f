"""Read-only AWS adapter for ``doctor``: gathers :class:`tasks.provision.doctor.Facts`, decides nothing.

Every call goes through ``rt.aws.client(...)`` and only reads. A read that AWS refuses for
this one resource (AccessDenied, not found) becomes a fact (``error`` / ``exists=False``) so
the matching check can say so; a failure that makes every read pointless (no or expired
credentials, no endpoint) is raised as a ``SuiteError``. The secret's value is parsed here
and dropped at once: only the parsed host/port/database and a has-password flag leave this
module, and the raw value is registered with the redactor in case anything echoes it.

Quirks handled: IAM may return policy documents URL-encoded; ``describe_nat_gateways`` takes
``Filter`` (singular); a subnet without an explicit route-table association uses the VPC's
main table; IAM's simulator is absent in moto (HTTP 500) and may be denied to the caller, so
policy documents are evaluated instead.

By area, as :mod:`tasks.provision.doctor`: ``project``, ``identity``, ``network``, ``image``;
``calls`` holds the one way they call AWS, ``run`` gathers them and runs the checks.
Imports: core, codebuild (the adapter that lists recent builds), image (ECR client, manifest
parsing), ``provision.doctor``, ``provision.policy``, ``provision.requirements``.
"""

from __future__ import annotations

from .identity import customer_key_arn, read_role, read_secret, simulate
from .image import Fetch, read_image
from .network import read_database, read_network
from .project import LISTED_BUILDS, RECENT_BUILDS, read_builds, read_project
from .run import doctor, gather, network_path_checks, render_checks, run_doctor

__all__ = [
    "LISTED_BUILDS",
    "RECENT_BUILDS",
    "Fetch",
    "customer_key_arn",
    "doctor",
    "gather",
    "network_path_checks",
    "read_builds",
    "read_database",
    "read_image",
    "read_network",
    "read_project",
    "read_role",
    "read_secret",
    "render_checks",
    "run_doctor",
    "simulate",
]
