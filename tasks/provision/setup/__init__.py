"""``invoke setup``: create the role and the CodeBuild project a migration needs, idempotently.

Three stages, one rule each (after chalice's deployer):
- ``read_state`` only reads AWS (what exists now);
- ``plan`` is pure: current state + settings -> a list of frozen :class:`Change` records
  (``create`` | ``update`` | ``none``, or ``missing`` for what setup never creates);
- ``apply`` is the only code that changes AWS, and only the changes the plan lists.

Setup never creates or changes the VPC, subnets, security groups, the database or the secret's
value: those are reported as ``missing`` with the command that creates them, and ``--apply``
refuses to run while one the project needs is missing. It owns: the service role and its trust
policy, one least-privilege inline policy (``tasks.provision.requirements.role_policy``), the log group, and
the project's source/buildspec, environment, variables, VPC config, logs and concurrency.

Modules by stage: ``reader`` (read_state), ``desired`` and ``planner`` (pure), ``executor``
(apply), ``render``; ``model`` holds the records, ``run`` the flow. Imports: core, codebuild
(the run-command variables), ``provision.facts`` (the customer key), ``provision.policy``,
``provision.requirements``.
"""

from __future__ import annotations

from .desired import (
    build_image,
    buildspec_path,
    canonical,
    desired_policy,
    desired_project,
    image_pull_credentials,
    project_differences,
    read_buildspec,
)
from .executor import ROLE_KINDS, apply
from .model import (
    ADVISORY,
    CREATE,
    MISSING,
    NONE,
    UPDATE,
    Change,
    SetupBlocked,
    SetupState,
    blocked_error,
    blockers,
    summary,
)
from .planner import plan
from .reader import Reader, read_state
from .render import render_plan
from .run import run_setup

__all__ = [
    "ADVISORY",
    "CREATE",
    "MISSING",
    "NONE",
    "ROLE_KINDS",
    "UPDATE",
    "Change",
    "Reader",
    "SetupBlocked",
    "SetupState",
    "apply",
    "blocked_error",
    "blockers",
    "build_image",
    "buildspec_path",
    "canonical",
    "desired_policy",
    "desired_project",
    "image_pull_credentials",
    "plan",
    "project_differences",
    "read_buildspec",
    "read_state",
    "render_plan",
    "run_setup",
    "summary",
]
