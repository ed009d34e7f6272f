"""Checks of the CodeBuild project itself: it exists, its environment image and mode, variables,
run commands, concurrency, timeout, auto-retry and logs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ...codebuild.commands import COMMAND_VARIABLES, display, mismatches
from ..requirements import (
    ENVIRONMENT_TYPE,
    REQUIRED_VARIABLES,
    ecr_image_repository_arn,
)
from .models import (
    FAIL,
    PASS,
    WARN,
    Check,
    Facts,
    project_missing,
    secret_matches,
    setup_fix,
    split_secret_reference,
    variables_of,
)

STANDARD_IMAGE_PREFIXES = (
    "aws/codebuild/standard:",
    "aws/codebuild/amazonlinux2-x86_64-standard:",
    "aws/codebuild/amazonlinux-x86_64-standard:",
)


TIMEOUT_HEADROOM = 0.8


_SECRET_NAME_HINTS = ("PASSWORD", "PASSWD", "SECRET", "TOKEN", "DATABASE_URL", "PRIVATE_KEY")


def _looks_secret(name: str, value: str) -> bool:
    upper = name.upper()
    if any(hint in upper for hint in _SECRET_NAME_HINTS) or upper.endswith("_KEY"):
        return True
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def check_project(f: Facts) -> Check:
    s = f.settings
    if not s.project:
        return Check(
            "codebuild_project",
            FAIL,
            "no CodeBuild project is configured",
            f"set project under release.environments.{s.env} in invoke.yaml",
        )
    if f.project is None:
        if f.project_error:
            return Check(
                "codebuild_project",
                FAIL,
                f"cannot read CodeBuild project {s.project!r}: {f.project_error}",
                "allow codebuild:BatchGetProjects for the identity running doctor",
            )
        return Check(
            "codebuild_project",
            FAIL,
            f"CodeBuild project {s.project!r} does not exist in {s.region}",
            f"{setup_fix(f.settings)} to create it (or fix project / region in invoke.yaml)",
        )
    return Check(
        "codebuild_project",
        PASS,
        f"CodeBuild project {s.project!r} exists in {s.region}",
        evidence=(str(f.project.get("arn", "")),),
    )


def check_environment(f: Facts) -> Check:
    if f.project is None:
        return project_missing("environment_image")
    env = f.project.get("environment") or {}
    kind, image, compute = env.get("type", ""), env.get("image", ""), env.get("computeType", "")
    evidence: tuple[str, ...] = (f"type={kind}", f"image={image}", f"computeType={compute}")
    fix = (
        "use environment type LINUX_CONTAINER with image aws/codebuild/standard:7.0 "
        f"and a BUILD_GENERAL1_* compute type ({setup_fix(f.settings)})"
    )
    if kind != ENVIRONMENT_TYPE:
        why = "an ARM environment" if "ARM" in str(kind) else f"type {kind or 'unset'}"
        return Check(
            "environment_image",
            FAIL,
            f"the project runs {why}, but the image is {f.settings.platform} "
            "(needs an x86_64 LINUX_CONTAINER)",
            fix,
            evidence,
        )
    if not str(compute).startswith("BUILD_GENERAL1_"):
        return Check(
            "environment_image",
            FAIL,
            f"compute type {compute or 'unset'} cannot run Docker in the build",
            fix,
            evidence,
        )
    pull = str(env.get("imagePullCredentialsType") or "CODEBUILD")
    evidence = (*evidence, f"imagePullCredentialsType={pull}")
    if str(image).startswith("aws/codebuild/"):
        if pull != "CODEBUILD":
            return Check(
                "environment_image",
                FAIL,
                f"curated image {image} with imagePullCredentialsType {pull}: CodeBuild's own "
                "images must be pulled with CODEBUILD credentials",
                f"set imagePullCredentialsType to CODEBUILD ({setup_fix(f.settings)})",
                evidence,
            )
        if str(image).startswith(STANDARD_IMAGE_PREFIXES):
            return Check(
                "environment_image",
                PASS,
                f"x86_64 {kind} on {image} ({compute})",
                evidence=evidence,
            )
    return _custom_image(f, str(image), pull, evidence)


# a docker command in a buildspec line (docker, docker-compose), not the word in a message
_DOCKER_STEP = re.compile(r"(?:^|[\s;&|(`$])docker(?:-compose)?\s+[a-z]", re.MULTILINE)


def _custom_image(f: Facts, image: str, pull: str, evidence: tuple[str, ...]) -> Check:
    """A build image that is not one of CodeBuild's curated standard images.

    AWS (ProjectEnvironment.imagePullCredentialsType): "When you use a cross-account or private
    registry image, you must use SERVICE_ROLE credentials"; with CODEBUILD credentials an ECR
    image is pulled only when "you modify your ECR repository policy to trust CodeBuild's
    service principal". AWS (ProjectEnvironment.privilegedMode): with a custom image "You can
    initialize the Docker daemon during the install phase of your build" (nohup dockerd ...):
    only the curated images start dockerd themselves.
    """
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    repository = ecr_image_repository_arn(image)
    env = (f.project or {}).get("environment") or {}
    if repository and pull != "SERVICE_ROLE":
        owner = repository.split(":")[4]
        account = f.settings.account or str((f.project or {}).get("arn", "::::")).split(":")[4]
        if owner != account:
            fails.append(
                f"build image {image} is in another account ({owner}) but is pulled with "
                f"{pull} credentials: CodeBuild cannot pull it"
            )
        else:
            warns.append(
                f"private ECR build image {image} is pulled with {pull} credentials: that works "
                "only while its repository policy trusts codebuild.amazonaws.com"
            )
        fixes.append(
            "set imagePullCredentialsType to SERVICE_ROLE and allow the service role "
            "ecr:GetAuthorizationToken and ecr:BatchGetImage / GetDownloadUrlForLayer / "
            f"BatchCheckLayerAvailability on {repository} ({setup_fix(f.settings)} does both)"
            + (
                f"; in account {owner}, let the role pull in the repository's policy"
                if owner != account
                else ""
            )
        )
    elif env.get("registryCredential") and pull != "SERVICE_ROLE":
        fails.append(f"private registry image {image} needs SERVICE_ROLE credentials, not {pull}")
        fixes.append(f"set imagePullCredentialsType to SERVICE_ROLE ({setup_fix(f.settings)})")
    buildspec = str(((f.project or {}).get("source") or {}).get("buildspec") or "")
    curated = image.startswith("aws/codebuild/")
    if not curated and _DOCKER_STEP.search(buildspec) and "dockerd" not in buildspec:
        warns.append(
            f"custom build image {image}: the buildspec runs docker, but only CodeBuild's "
            "curated images start the Docker daemon"
        )
        fixes.append(
            "start it in the buildspec's install phase (nohup /usr/local/bin/dockerd "
            "--host=unix:///var/run/docker.sock --storage-driver=overlay2 & then wait for "
            "`docker info`), keep privileged mode on, or use aws/codebuild/standard:7.0"
        )
    if not (fails or warns):
        warns.append(f"custom build image {image!r}: it must be x86_64 and ship the docker CLI")
        fixes.append("prefer aws/codebuild/standard:7.0 unless you need this image")
    status = FAIL if fails else WARN
    return Check("environment_image", status, "; ".join(fails + warns), "; ".join(fixes), evidence)


def check_privileged(f: Facts) -> Check:
    if f.project is None:
        return project_missing("privileged_mode")
    if (f.project.get("environment") or {}).get("privilegedMode"):
        return Check("privileged_mode", PASS, "privileged mode is on (docker works in the build)")
    return Check(
        "privileged_mode",
        FAIL,
        "privileged mode is off: docker inside the build cannot reach a daemon "
        '("Cannot connect to the Docker daemon")',
        f"turn on privileged mode: {setup_fix(f.settings)} (or in the console: project "
        f"{f.settings.project} > Edit > Environment > Privileged)",
    )


def check_variables(f: Facts) -> Check:
    if f.project is None:
        return project_missing("environment_variables")
    s = f.settings
    found = variables_of(f.project)
    problems: list[str] = []
    fixes: list[str] = []
    plaintext = sorted(
        n for n, v in found.items() if v["type"] == "PLAINTEXT" and _looks_secret(n, v["value"])
    )
    if plaintext:
        problems.append(
            f"{', '.join(plaintext)} stored as PLAINTEXT (readable by anyone who can "
            "read the project)"
        )
        fixes.append(
            f"store them in Secrets Manager and reference them with type SECRETS_MANAGER "
            f"(DATABASE_URL -> {s.secret or 'your secret'}); rotate the exposed password"
        )
    url = found.get("DATABASE_URL")
    if url is not None and url["type"] == "PARAMETER_STORE":
        problems.append("DATABASE_URL comes from Parameter Store, not Secrets Manager")
        fixes.append(
            f"set DATABASE_URL type SECRETS_MANAGER value {s.secret} ({setup_fix(f.settings)})"
        )
    elif url is not None and url["type"] == "SECRETS_MANAGER":
        reference, _ = split_secret_reference(url["value"])
        if s.secret and not secret_matches(reference, f.secret, s.secret):
            problems.append(
                f"DATABASE_URL reads secret {reference!r}, not the configured {s.secret!r}"
            )
            fixes.append(f"point DATABASE_URL at {s.secret} ({setup_fix(f.settings)})")
    missing = [n for n in REQUIRED_VARIABLES if n not in found]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
        fixes.append(
            f"add {', '.join(missing)} to the project's environment ({setup_fix(f.settings)})"
        )
    evidence = tuple(f"{n}: {v['type']}" for n, v in sorted(found.items()))
    if problems:
        return Check("environment_variables", FAIL, "; ".join(problems), "; ".join(fixes), evidence)
    return Check(
        "environment_variables",
        PASS,
        "DATABASE_URL comes from Secrets Manager; IMAGE_URI, RUN_MIGRATIONS, RUN_SEED are set",
        evidence=evidence,
    )


def check_commands(f: Facts) -> Check:
    """The project runs what invoke.yaml says: migrate_command, seed_commands (the seed
    allow-list), command_workdir and command_entrypoint, as ``invoke setup`` writes them."""
    if f.project is None:
        return project_missing("run_commands")
    s = f.settings
    found = {name: v["value"] for name, v in variables_of(f.project).items()}
    evidence = tuple(f"{n}={found[n]}" for n in COMMAND_VARIABLES if n in found)
    differences = mismatches(s, found)
    if differences:
        return Check(
            "run_commands",
            FAIL,
            "the project's commands differ from invoke.yaml: " + "; ".join(differences),
            f"{setup_fix(s)} (invoke.yaml is the one source of the commands and the seed "
            "allow-list)",
            evidence,
        )
    seeds = ", ".join(s.seed_commands) or "none"
    return Check(
        "run_commands",
        PASS,
        f"the project runs {display(s.migrate_command)} and allows seeds {seeds}, as configured",
        evidence=evidence,
    )


def check_concurrency(f: Facts) -> Check:
    if f.project is None:
        return project_missing("concurrency_limit")
    limit = f.project.get("concurrentBuildLimit")
    fix = (
        f"set concurrentBuildLimit to 1 ({setup_fix(f.settings)}, or aws codebuild update-project --name "
        f"{f.settings.project} --concurrent-build-limit 1)"
    )
    if limit == 1:
        return Check(
            "concurrency_limit", PASS, "concurrentBuildLimit is 1: one migration at a time"
        )
    if limit is None:
        return Check(
            "concurrency_limit",
            WARN,
            "concurrentBuildLimit is unset: two migrations could run at once",
            fix,
        )
    return Check(
        "concurrency_limit",
        FAIL,
        f"concurrentBuildLimit is {limit}: two migrations could run at once",
        fix,
    )


def check_timeout(f: Facts) -> Check:
    if f.project is None:
        return project_missing("build_timeout")
    override = f.settings.build_timeout  # sent with every start: it wins over the project's
    timeout = override or int(f.project.get("timeoutInMinutes") or 60)
    hist = f.builds
    if hist.error:
        return Check(
            "build_timeout",
            WARN,
            f"timeout {timeout} min; recent builds unreadable: {hist.error}",
            "allow codebuild:ListBuildsForProject, BatchGetBuilds",
        )
    longest = max(hist.durations, default=0.0)
    evidence = (
        f"build_timeout={override} (timeoutInMinutesOverride)"
        if override
        else f"timeoutInMinutes={timeout}",
        f"{len(hist.durations)} recent build(s), longest {longest:.1f} min",
    )
    suggested = min(max(timeout * 2, int(longest * 1.5) + 1), 2160)
    fix = (
        f"raise build_timeout to {suggested} in release.environments.{f.settings.env}"
        if override
        else f"raise the timeout: aws codebuild update-project --name {f.settings.project} "
        f"--timeout-in-minutes {suggested}"
    )
    if hist.timed_out:
        return Check(
            "build_timeout",
            WARN,
            f"{hist.timed_out} recent build(s) timed out at {timeout} min",
            fix,
            evidence,
        )
    if longest > TIMEOUT_HEADROOM * timeout:
        return Check(
            "build_timeout",
            WARN,
            f"the longest recent build took {longest:.1f} of {timeout} min (over "
            f"{int(TIMEOUT_HEADROOM * 100)}%)",
            fix,
            evidence,
        )
    if not hist.durations:
        return Check(
            "build_timeout", PASS, f"timeout {timeout} min (no recent builds)", evidence=evidence
        )
    return Check(
        "build_timeout",
        PASS,
        f"timeout {timeout} min leaves room (longest recent build {longest:.1f} min)",
        evidence=evidence,
    )


def check_auto_retry(f: Facts) -> Check:
    """CodeBuild re-runs a failed build by itself when ``autoRetryLimit`` > 0: for a migration
    that failed half-way that is a second, unasked-for run against a half-migrated database."""
    if f.project is None:
        return project_missing("auto_retry")
    limit = int(f.project.get("autoRetryLimit") or 0)
    if limit <= 0:
        return Check("auto_retry", PASS, "autoRetryLimit is 0: a failed build is never re-run")
    return Check(
        "auto_retry",
        FAIL,
        f"autoRetryLimit is {limit}: CodeBuild would re-run a failed migration by itself, up "
        f"to {limit} more time(s), against a half-migrated database",
        f"set autoRetryLimit to 0 ({setup_fix(f.settings)}, or aws codebuild update-project "
        f"--name {f.settings.project} --auto-retry-limit 0)",
        (f"autoRetryLimit={limit}",),
    )


def _s3_location(logs: Mapping[str, Any]) -> str:
    s3 = logs.get("s3Logs") or {}
    if str(s3.get("status", "")).upper() != "ENABLED" or not s3.get("location"):
        return ""
    return f"s3://{str(s3['location']).removeprefix('arn:aws:s3:::')}"


def check_logs(f: Facts) -> Check:
    """The suite follows and diagnoses a build through its CloudWatch Logs stream."""
    if f.project is None:
        return project_missing("build_logs")
    logs = f.project.get("logsConfig") or {}
    cloudwatch = logs.get("cloudWatchLogs") or {}
    status = str(cloudwatch.get("status") or "ENABLED").upper()  # AWS's default is ENABLED
    s3 = _s3_location(logs)
    fix = (
        f"enable CloudWatch Logs for the project ({setup_fix(f.settings)}, or aws codebuild "
        f"update-project --name {f.settings.project} --logs-config "
        "'cloudWatchLogs={status=ENABLED}')"
    )
    evidence = tuple(
        x for x in (f"cloudWatchLogs.status={status}", f"s3Logs={s3}" if s3 else "") if x
    )
    if status == "ENABLED":
        group = cloudwatch.get("groupName") or f"/aws/codebuild/{f.settings.project}"
        return Check(
            "build_logs", PASS, f"build logs go to CloudWatch Logs group {group}", evidence=evidence
        )
    where = f"only to S3 at {s3}" if s3 else "nowhere (S3 logs are off too)"
    return Check(
        "build_logs",
        FAIL,
        f"CloudWatch Logs are disabled for the project: build logs go {where}, so "
        "db.migrate / release cannot follow a build or diagnose its failure",
        fix,
        evidence,
    )
