"""``release-suite init`` end to end: discover, plan, show, write (never over a differing file).

The AWS reads (STS, ECR, CodeBuild; read-only) go through the one client factory; everything
else is :mod:`tasks.provision.scaffold` (pure). ``ask`` is injected (``input`` in the task).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.console import Console
from ..core.errors import SuiteError, UsageError
from . import scaffold

# what --dockerfile / --tool choose, in the words of the refusal
CHOICES = {"dockerfile": ("Dockerfiles", "--dockerfile"), "tool": ("migration tools", "--tool")}


def refuse_to_guess(what: str, options: list[str]) -> str:
    """Several candidates and nobody to ask (``--yes``, ``--json``, no terminal): one line
    naming the flag that chooses, exit 2."""
    label, flag = CHOICES[what]
    raise UsageError(
        f"found {len(options)} {label} ({', '.join(options)}) and init does not guess",
        f"choose one with {flag} {options[0]} (or run init on a terminal without --yes to "
        "be asked)",
    )


def asking(pick: Callable[[str, list[str]], str | None]) -> scaffold.Choose:
    """A chooser that lists the candidates and asks; no answer is the refusal above."""

    def choose(what: str, options: list[str]) -> str:
        label, _ = CHOICES[what]
        picked = pick(f"init found {len(options)} {label}; which one?", options)
        return picked if picked in options else refuse_to_guess(what, options)

    return choose


def aws_facts(profile: str | None, warn: Callable[[str], None]) -> scaffold.AwsFacts:
    """The region, account, ECR repositories and CodeBuild projects, each with its source."""

    def facts(region: str | None) -> dict[str, scaffold.Found]:
        from ..core.aws import AwsFactory, configured_region, translate
        from ..core.config import Settings

        out: dict[str, scaffold.Found] = {}
        if region:
            out["region"] = scaffold.Found(region, "--region")
        elif configured := configured_region(profile):
            out["region"] = scaffold.Found(configured, "your AWS configuration")
        chosen = str(out["region"].value) if "region" in out else "us-east-1"
        factory = AwsFactory(Settings(env="init", region=chosen, profile=profile))
        try:
            ident = factory.client("sts").get_caller_identity()
            out["account"] = scaffold.Found(str(ident["Account"]), "sts get-caller-identity")
            repos = factory.client("ecr").describe_repositories().get("repositories", [])
            names = [str(r["repositoryName"]) for r in repos]
            if names:
                out["repository"] = scaffold.Found(
                    names[0], f"ECR describe-repositories (first of {len(names)})"
                )
            projects = factory.client("codebuild").list_projects().get("projects", [])
            if projects:
                out["project"] = scaffold.Found(
                    str(projects[0]), f"CodeBuild list-projects (first of {len(projects)})"
                )
        except Exception as exc:  # say it and carry on with what the files showed
            err = exc if isinstance(exc, SuiteError) else translate(exc, "reading the account")
            warn(f"{err.line()} (init goes on without it)")
        return out

    return facts


def run(
    root: Path,
    opts: scaffold.Options,
    *,
    yes: bool,
    console: Console,
    ask: Callable[[str], bool],
    aws: scaffold.AwsFacts | None,
    region: str | None,
    version: str,
    buildspec_text: str,
    action_ref: str,
    choose: scaffold.Choose = refuse_to_guess,
    dockerfile: str | None = None,
    tool: str | None = None,
) -> dict[str, Any]:
    found = scaffold.discover(root, aws, region, choose, dockerfile=dockerfile, tool=tool)
    if found.dockerfile is None:
        raise UsageError(
            f"no Dockerfile in {root} (nor two folders down)",
            "run release-suite init in the repository that holds your backend's Dockerfile",
        )
    for line in found.lines():
        console.line(f"found {line}")
    done: dict[str, str] = {}
    for write in scaffold.plan(root, found, opts, version, buildspec_text, action_ref):
        state = scaffold.state_of(root, write)
        if state == "unchanged":
            console.line(f"{write.path}: unchanged")
            done[write.path] = "unchanged"
            continue
        if state == "differs" and (yes or not ask(f"{write.path} exists and differs; overwrite?")):
            console.warn(f"{write.path} exists and differs: kept (remove it to write it anew)")
            done[write.path] = "kept"
            continue
        path = root / write.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(write.text, encoding="utf-8")
        console.ok(f"wrote {write.path} ({write.what})")
        done[write.path] = "written" if state == "new" else "overwritten"
    if opts.env == "local":
        console.line("next: release-suite local.up, then release-suite release --env local")
    return {"files": done, "found": found_dict(found)}


def found_dict(found: scaffold.Discovery) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("name", "dockerfile", "context", "tool", "migrate_command", "seed_commands"):
        item = getattr(found, key)
        if item is not None:
            out[key] = {"value": item.value, "source": item.source}
    for key, item in found.aws.items():
        out[key] = {"value": item.value, "source": item.source}
    return out
