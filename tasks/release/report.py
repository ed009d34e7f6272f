"""The release report: what ran, on which image, how long each part took and what it cost.

Pure module (no boto3, docker or invoke): ``build_report`` turns plain data (a build in its
``--json`` shape, the release steps, the snapshot, issue 14's plan and lint results when they
ran) into a frozen ``Report``; ``render_text``, ``render_markdown`` (a GitHub step summary with
a Mermaid ``gantt`` block and a plain table) and ``github_outputs`` render it. Writing the
files is ``tasks.release.reporting``'s job.

CodeBuild billing (AWS CodeBuild pricing page, as summarised by public third-party pages; weak,
hence dated and overridable with ``build_prices`` in invoke.yaml): on-demand builds are charged
per build minute by compute type, "from the time you submit your build until your build is
terminated, rounded up to the nearest minute".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.config import DEFAULT_COMPUTE_TYPE

# USD per build minute, on-demand Linux, us-east-1. Source (weak): third-party summaries of
# https://aws.amazon.com/codebuild/pricing/ (c3x.dev, kindatechnical.com), read 2026-11.
PRICES_DATE = "2026-05"
PRICES: Mapping[str, float] = {
    "BUILD_GENERAL1_SMALL": 0.005,
    "BUILD_GENERAL1_MEDIUM": 0.01,
    "BUILD_GENERAL1_LARGE": 0.02,
}


@dataclass(frozen=True)
class PhaseTime:
    name: str
    status: str
    offset: float  # seconds after the build started
    seconds: float


@dataclass(frozen=True)
class StepTime:
    name: str
    status: str  # ok | failed | skipped
    seconds: float


@dataclass(frozen=True)
class PlanSummary:
    """Issue 14's migration plan when it ran: the slot it fills (pending -> applied)."""

    pending: tuple[str, ...] = ()
    applied: tuple[str, ...] = ()


@dataclass(frozen=True)
class LintFinding:
    """Issue 14's lint result for one migration: ``accepted`` when the user let it pass."""

    rule: str
    migration: str
    message: str
    accepted: bool = False


@dataclass(frozen=True)
class Cost:
    compute_type: str
    billed_minutes: int
    per_minute: float | None  # None: no price known for this compute type
    prices_date: str

    @property
    def usd(self) -> float | None:
        return None if self.per_minute is None else round(self.billed_minutes * self.per_minute, 4)


@dataclass(frozen=True)
class OtherBuild:
    """A further build of the same run (``release --seed``: the seed build after the
    migration), timed and priced like the report's own build."""

    action: str
    build_id: str
    status: str
    seconds: float | None
    cost: Cost | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "id": self.build_id,
            "status": self.status,
            "seconds": self.seconds,
            "cost": _cost_dict(self.cost),
        }


def _cost_dict(cost: Cost | None) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {
        "compute_type": cost.compute_type,
        "billed_minutes": cost.billed_minutes,
        "usd_per_minute": cost.per_minute,
        "usd": cost.usd,
        "prices_date": cost.prices_date,
    }


@dataclass(frozen=True)
class Report:
    action: str
    env: str
    status: str
    image: str = ""
    build_id: str = ""
    console_url: str = ""
    logs_url: str = ""
    snapshot: Mapping[str, Any] | None = None
    plan: PlanSummary | None = None
    lint: tuple[LintFinding, ...] = ()
    steps: tuple[StepTime, ...] = ()
    phases: tuple[PhaseTime, ...] = ()
    build_seconds: float | None = None
    cost: Cost | None = None
    error: str = ""
    other_builds: tuple[OtherBuild, ...] = field(default_factory=tuple)

    @property
    def total_cost(self) -> Cost | None:
        """Every build of the run together (the report's own and ``other_builds``); None when
        there is no other build. A build without a known price leaves ``per_minute`` None."""
        costs = [b.cost for b in self.other_builds if b.cost is not None]
        if not costs or self.cost is None:
            return None
        parts = [self.cost, *costs]
        minutes = sum(c.billed_minutes for c in parts)
        usd = [c.usd for c in parts]
        known = None if any(u is None for u in usd) else sum(u or 0.0 for u in usd)
        per = None if known is None or not minutes else known / minutes
        kinds = sorted({c.compute_type for c in parts})
        return Cost(", ".join(kinds), minutes, per, self.cost.prices_date)

    @property
    def digest(self) -> str:
        return self.image.partition("@")[2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "env": self.env,
            "status": self.status,
            "image": self.image,
            "digest": self.digest,
            "build": {
                "id": self.build_id,
                "console_url": self.console_url,
                "logs_url": self.logs_url,
                "seconds": self.build_seconds,
            },
            "snapshot": dict(self.snapshot) if self.snapshot else None,
            "plan": None
            if self.plan is None
            else {"pending": list(self.plan.pending), "applied": list(self.plan.applied)},
            "lint": [
                {
                    "rule": f.rule,
                    "migration": f.migration,
                    "message": f.message,
                    "accepted": f.accepted,
                }
                for f in self.lint
            ],
            "steps": [
                {"name": s.name, "status": s.status, "seconds": s.seconds} for s in self.steps
            ],
            "phases": [
                {"name": p.name, "status": p.status, "offset": p.offset, "seconds": p.seconds}
                for p in self.phases
            ],
            "cost": _cost_dict(self.cost),
            "other_builds": [b.as_dict() for b in self.other_builds],
            "total_cost": _cost_dict(self.total_cost),
            "error": self.error or None,
        }


# -- building it -----------------------------------------------------------------------------


def phases_of(build: Mapping[str, Any]) -> tuple[PhaseTime, ...]:
    """The phases of a build in its ``--json`` shape, laid end to end (CodeBuild runs them one
    after another); COMPLETED is a marker, not a phase."""
    out: list[PhaseTime] = []
    offset = 0.0
    for phase in build.get("phases") or []:
        name = str(phase.get("name", ""))
        if name == "COMPLETED":
            continue
        seconds = float(phase.get("duration") or 0.0)
        out.append(PhaseTime(name, str(phase.get("status") or "IN_PROGRESS"), offset, seconds))
        offset += seconds
    return tuple(out)


def build_cost(seconds: float | None, compute_type: str, prices: Mapping[str, float]) -> Cost:
    billed = math.ceil(max(0.0, seconds or 0.0) / 60.0) if seconds else 0
    return Cost(compute_type, billed, prices.get(compute_type), PRICES_DATE)


def prices_from(configured: Any) -> dict[str, float]:
    """The dated table, with ``build_prices: {COMPUTE_TYPE: usd_per_minute}`` over it."""
    table = dict(PRICES)
    if isinstance(configured, Mapping):
        for key, value in configured.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                table[str(key)] = float(value)
    return table


def build_report(
    *,
    action: str,
    env: str,
    status: str,
    image: str = "",
    build: Mapping[str, Any] | None = None,
    steps: Sequence[Mapping[str, Any]] = (),
    snapshot: Mapping[str, Any] | None = None,
    plan: PlanSummary | None = None,
    lint: Sequence[LintFinding] = (),
    compute_type: str = DEFAULT_COMPUTE_TYPE,
    prices: Mapping[str, float] = PRICES,
    local: bool = False,
    error: str = "",
    other_builds: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Report:
    """``other_builds``: (action, the build's ``--json`` form) of the run's further builds."""
    build = build or {}
    seconds = build.get("duration")
    others = tuple(
        OtherBuild(
            action,
            str(b.get("id") or ""),
            str(b.get("status") or ""),
            float(b["duration"]) if b.get("duration") is not None else None,
            None if local else build_cost(b.get("duration"), compute_type, prices),
        )
        for action, b in other_builds
    )
    return Report(
        action=action,
        env=env,
        status=status,
        image=image or str(build.get("image") or ""),
        build_id=str(build.get("id") or ""),
        console_url=str(build.get("console_url") or ""),
        logs_url=str((build.get("logs") or {}).get("url") or ""),
        snapshot=snapshot,
        plan=plan,
        lint=tuple(lint),
        steps=tuple(
            StepTime(str(s["name"]), str(s.get("status", "")), float(s.get("duration") or 0.0))
            for s in steps
        ),
        phases=phases_of(build),
        build_seconds=float(seconds) if seconds is not None else None,
        cost=None if local or not build else build_cost(seconds, compute_type, prices),
        error=error,
        other_builds=others,
    )


# -- rendering -------------------------------------------------------------------------------


def _secs(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, sec = divmod(round(value), 60)
    return f"{minutes}m{sec:02d}s"


def _cost_text(cost: Cost) -> str:
    if cost.per_minute is None:
        return f"{cost.billed_minutes} build minute(s) on {cost.compute_type} (no price known)"
    return (
        f"{cost.billed_minutes} build minute(s) on {cost.compute_type} x ${cost.per_minute:g} "
        f"= ${cost.usd:.4f} (prices of {cost.prices_date})"
    )


def render_text(r: Report) -> list[str]:
    """The summary for the terminal, one fact per line."""
    lines = [f"report: {r.action} in {r.env}: {r.status}"]
    if r.image:
        lines.append(f"  image     {r.image}")
    if r.plan is not None:
        lines.append(f"  plan      {len(r.plan.pending)} pending -> {len(r.plan.applied)} applied")
    if r.lint:
        accepted = sum(1 for f in r.lint if f.accepted)
        lines.append(f"  lint      {len(r.lint)} finding(s), {accepted} accepted")
    if r.snapshot:
        lines.append(f"  snapshot  {r.snapshot.get('id')} ({r.snapshot.get('status', '')})")
    if r.build_id:
        lines.append(f"  build     {r.build_id} ({_secs(r.build_seconds)})")
    if r.console_url:
        lines.append(f"  console   {r.console_url}")
    if r.logs_url:
        lines.append(f"  logs      {r.logs_url}")
    for s in r.steps:
        lines.append(f"  step      {s.name:<10} {s.status:<8} {_secs(s.seconds):>8}")
    for p in r.phases:
        lines.append(f"  phase     {p.name:<17} {p.status:<10} {_secs(p.seconds):>8}")
    if r.cost is not None:
        lines.append(f"  cost      {_cost_text(r.cost)}")
    for b in r.other_builds:
        lines.append(f"  build     {b.action}: {b.build_id} {b.status} ({_secs(b.seconds)})")
        if b.cost is not None:
            lines.append(f"  cost      {b.action}: {_cost_text(b.cost)}")
    if r.total_cost is not None:
        lines.append(f"  total     {_total_text(r.total_cost)}")
    return lines


def _total_text(cost: Cost) -> str:
    usd = "no price known for every build" if cost.usd is None else f"${cost.usd:.4f}"
    return f"{cost.billed_minutes} build minute(s), {usd} (prices of {cost.prices_date})"


_MERMAID_UNSAFE = re.compile(r"[:#;\n]")


def mermaid_gantt(r: Report) -> str:
    """A Mermaid gantt of the build's phases (milliseconds since the build started)."""
    title = _MERMAID_UNSAFE.sub(" ", f"{r.action} {r.status} {r.build_id}").strip()
    lines = [
        "gantt",
        f"    title {title}",
        "    dateFormat x",
        "    axisFormat %M.%S",
        "    section CodeBuild",
    ]
    for i, p in enumerate(r.phases):
        tag = "crit, " if p.status not in ("SUCCEEDED", "IN_PROGRESS") else ""
        start = round(p.offset * 1000)
        length = max(1, round(p.seconds * 1000))
        lines.append(f"    {p.name} {_secs(p.seconds)} :{tag}p{i}, {start}, {length}ms")
    return "\n".join(lines)


def render_markdown(r: Report) -> str:
    """The GitHub step summary: headline, facts, the phase timeline (Mermaid + table)."""
    icon = "✅" if r.status == "SUCCEEDED" else "❌"
    out = [f"### {icon} {r.action} in `{r.env}`: {r.status}", ""]
    facts = [("image", f"`{r.image}`" if r.image else "-")]
    if r.plan is not None:
        facts.append(("plan", f"{len(r.plan.pending)} pending → {len(r.plan.applied)} applied"))
    if r.lint:
        accepted = sum(1 for f in r.lint if f.accepted)
        facts.append(("lint", f"{len(r.lint)} finding(s), {accepted} accepted"))
    if r.snapshot:
        facts.append(("snapshot", f"`{r.snapshot.get('id')}`"))
    if r.build_id:
        link = f"[{r.build_id}]({r.console_url})" if r.console_url else f"`{r.build_id}`"
        facts.append(("build", link + (f" · [logs]({r.logs_url})" if r.logs_url else "")))
    if r.cost is not None:
        facts.append(("cost", _cost_text(r.cost)))
    for b in r.other_builds:
        facts.append((f"{b.action} build", f"`{b.build_id}` {b.status} ({_secs(b.seconds)})"))
        if b.cost is not None:
            facts.append((f"{b.action} cost", _cost_text(b.cost)))
    if r.total_cost is not None:
        facts.append(("total cost", _total_text(r.total_cost)))
    if r.error:
        facts.append(("error", r.error.replace("|", "\\|")))
    out += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts), ""]
    if r.steps:
        out += ["| step | status | duration |", "|---|---|---:|"]
        out += [f"| {s.name} | {s.status} | {_secs(s.seconds)} |" for s in r.steps]
        out.append("")
    if r.phases:
        out += ["```mermaid", mermaid_gantt(r), "```", ""]
        out += ["| phase | status | start | duration |", "|---|---|---:|---:|"]
        out += [
            f"| {p.name} | {p.status} | +{_secs(p.offset)} | {_secs(p.seconds)} |" for p in r.phases
        ]
        out.append("")
    return "\n".join(out)


def github_outputs(r: Report) -> dict[str, str]:
    """What the official action's users ask for: build_id, image, status."""
    return {"build_id": r.build_id, "image": r.image, "status": r.status}


def output_lines(outputs: Mapping[str, str], delimiter: str) -> str:
    """GITHUB_OUTPUT syntax: ``name=value``, or a heredoc when a value has a line break."""
    text = []
    for key, value in outputs.items():
        if "\n" in value:
            text.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            text.append(f"{key}={value}\n")
    return "".join(text)


def parse_output_lines(text: str) -> dict[str, str]:
    """The reverse of ``output_lines`` (what the runner does with the file)."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, _, delim = line.partition("<<")
            body = []
            for inner in lines:
                if inner == delim:
                    break
                body.append(inner)
            out[key] = "\n".join(body)
        elif "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out
