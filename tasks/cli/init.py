"""``release-suite init``: scaffold invoke.yaml (and a workflow, a buildspec copy) in a repository."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks.provision import scaffold

ACTION_REF = "daadaar/release-suite@v{version}"


def _aws_facts(profile: str | None) -> scaffold.AwsFacts:
    """The account, region, ECR repositories and CodeBuild projects (read-only calls)."""

    def facts(region: str | None) -> dict[str, scaffold.Found]:
        from tasks.aws import AwsFactory, translate
        from tasks.config import Settings

        out: dict[str, scaffold.Found] = {}
        if region:
            out["region"] = scaffold.Found(region, "--region")
        else:
            import boto3

            configured = boto3.session.Session(profile_name=profile).region_name
            if configured:
                out["region"] = scaffold.Found(configured, "your AWS configuration")
        chosen = str(out["region"].value) if "region" in out else "us-east-1"
        factory = AwsFactory(Settings(env="init", region=chosen, profile=profile))
        try:
            ident = factory.client("sts").get_caller_identity()
            out["account"] = scaffold.Found(ident["Account"], "sts get-caller-identity")
            repos = factory.client("ecr").describe_repositories().get("repositories", [])
            names = [r["repositoryName"] for r in repos]
            if names:
                out["repository"] = scaffold.Found(
                    names[0], f"ECR describe-repositories (first of {len(names)})"
                )
            projects = factory.client("codebuild").list_projects().get("projects", [])
            if projects:
                out["project"] = scaffold.Found(
                    projects[0], f"CodeBuild list-projects (first of {len(projects)})"
                )
        except Exception as exc:  # say it and carry on with what the files showed
            from tasks.errors import SuiteError

            err = exc if isinstance(exc, SuiteError) else translate(exc, "reading the account")
            sys.stderr.write(f"warning: {err.line()} (init goes on without it)\n")
        return out

    return facts


def _version() -> str:
    from tasks.cli.program import VERSION

    return VERSION


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


@task(
    help={
        "env": "the environment to configure: local (this machine) or an AWS one (e.g. prod)",
        "yes": "no questions: write new files, never overwrite one that differs",
        "buildspec": "also write your own copy of the buildspec (buildspec/migrations.yml)",
        "workflow": "also write .github/workflows/release.yml for --env local (always for AWS)",
        "registry_port": "port of the local registry (default 5000)",
        "database_port": "port of the local PostgreSQL (default 55439)",
        "aws": "for an AWS environment, ask STS, ECR and CodeBuild (--no-aws: do not)",
        "region": "AWS region (default: your AWS configuration)",
        "profile": "AWS profile (default: the standard credential chain)",
        "json_": "print exactly one JSON object on stdout",
    }
)
def init(
    c: Context,
    env: str = "local",
    yes: bool = False,
    buildspec: bool = False,
    workflow: bool = False,
    registry_port: int = 5000,
    database_port: int = 55439,
    aws: bool = True,
    region: str | None = None,
    profile: str | None = None,
    json_: bool = False,
) -> None:
    """Scaffold invoke.yaml (environments), a CI workflow and, if asked, the buildspec here."""
    from tasks.console import Console
    from tasks.errors import UsageError
    from tasks.redact import Redactor

    console = Console(json_mode=json_, redactor=Redactor())
    root = Path(os.getcwd())
    use_aws = env != "local" and aws
    found = scaffold.discover(root, _aws_facts(profile) if use_aws else None, region)
    if found.dockerfile is None:
        err = UsageError(
            f"no Dockerfile in {root} (nor two folders down)",
            "run release-suite init in the repository that holds your backend's Dockerfile",
        )
        console.error(err)
        raise Exit(code=int(err.code))
    opts = scaffold.Options(
        env=env,
        registry_port=registry_port,
        database_port=database_port,
        own_buildspec=buildspec,
        workflow=workflow,
    )
    for line in found.lines():
        console.line(f"found {line}")
    version = _version()
    writes = scaffold.plan(
        root, found, opts, version, _packaged_buildspec(), ACTION_REF.format(version=version)
    )
    done: dict[str, str] = {}
    for write in writes:
        state = scaffold.state_of(root, write)
        if state == "differs" and not (
            not yes and _ask(f"{write.path} exists and differs; overwrite?")
        ):
            console.warn(f"{write.path} exists and differs: kept (remove it to write it anew)")
            done[write.path] = "kept"
            continue
        if state == "unchanged":
            console.line(f"{write.path}: unchanged")
            done[write.path] = "unchanged"
            continue
        path = root / write.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(write.text, encoding="utf-8")
        console.ok(f"wrote {write.path} ({write.what})")
        done[write.path] = "written" if state == "new" else "overwritten"
    if env == "local":
        console.line("next: release-suite local.up, then release-suite release --env local")
    result: dict[str, Any] = {
        "ok": True,
        "files": done,
        "found": {k: v for k, v in _found_dict(found).items()},
    }
    console.emit(result)


def _found_dict(found: scaffold.Discovery) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("name", "dockerfile", "context", "tool", "migrate_command", "seed_commands"):
        item = getattr(found, key)
        if item is not None:
            out[key] = {"value": item.value, "source": item.source}
    for key, item in found.aws.items():
        out[key] = {"value": item.value, "source": item.source}
    return out


def _packaged_buildspec() -> str:
    from tasks.core.resources import read_text

    return read_text("migrations.yml")
