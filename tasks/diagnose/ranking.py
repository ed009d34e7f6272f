"""From hits to ranked findings: structured data first, wrappers attributed, consequences last.

Pure module (a saved build is read in ``facts``, the findings it makes live in ``findings``).
Inputs: a :class:`~tasks.diagnose.matcher.Scan` of the log (possibly empty), the
build (a ``tasks.codebuild.model.Build``: the wait's own snapshot, or a saved batch-get-builds
read by ``facts``; status, phases, contexts; possibly none) and
the values known from the settings (project, region, image...). Rules, from Part C of the
catalogue reference:

1. Phase contexts and statuses are matched first; they alone decide many failures.
2. ``cb_command_failed`` (COMMAND_EXECUTION_ERROR) is a wrapper: it is folded into the first
   specific finding of the same phase, which then carries its evidence.
3. The first specific signal beats later consequences: findings are ordered by the phase and
   line of their first evidence; ``absorbs`` merges two symptoms of one cause (a platform
   warning then exec format error is one architecture finding); ``consequence_of`` and
   ``secondary_after`` push known consequences to the end.
4. A TIMED_OUT build whose last command talks to the database infers ``pg_connect_timeout``.
5. Hits in phases that SUCCEEDED are noise (a tolerated error), and a build that SUCCEEDED has
   no findings at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..codebuild.model import Build
from .catalogue import Catalogue, Entry
from .facts import UNKNOWN_BUILD, build_from_json
from .findings import Diagnosis, Finding, fill
from .matcher import PHASES, ContextLine, Hit, LogLine, Scan, clean

PHASE_ORDER = PHASES
SUCCEEDED = "SUCCEEDED"
HIGH, MEDIUM, LOW = "high", "medium", "low"
_LOWER = {HIGH: MEDIUM, MEDIUM: LOW, LOW: LOW}
MAX_EVIDENCE = 6


@dataclass
class _Candidate:
    entry: Entry
    hits: list[Hit]
    structured: bool = False
    explains_failure: bool = False
    secondary: bool = False
    inferred: bool = False

    @property
    def first(self) -> Hit:
        return min(self.hits, key=_hit_order)


def _phase_index(phase: str) -> int:
    return PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER)


def _hit_order(hit: Hit) -> tuple[int, int]:
    # structured hits have no line: place them at the start of their phase
    return (_phase_index(hit.phase) if hit.phase else -1, hit.line)


def _match_text(catalogue: Catalogue, text: str) -> list[tuple[Entry, int, dict[str, str]]]:
    """Every entry whose signature matches ``text`` (for context messages)."""
    out = []
    for entry in catalogue.entries:
        for index, sig in enumerate(entry.signatures):
            if sig.literal in text and (found := sig.pattern.search(text)):
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                out.append((entry, index, groups))
                break
    return out


def _context_hits(
    catalogue: Catalogue, contexts: Iterable[ContextLine], structured: bool
) -> list[Hit]:
    hits = []
    for ctx in contexts:
        text = f"Phase context status code: {ctx.code} Message: {ctx.message}"
        for entry, index, groups in _match_text(catalogue, text):
            weak = entry.signatures[index].weak
            hits.append(
                Hit(entry.id, ctx.line, ctx.phase, text, tuple(groups.items()), weak, structured)
            )
    return hits


def _status_hits(catalogue: Catalogue, build: Build, scan: Scan) -> list[Hit]:
    """Entries decided by a build or phase status (e.g. TIMED_OUT)."""
    statuses: list[tuple[str, str, int, bool]] = []  # (status, phase, line, structured)
    if build.status:
        failed = build.failed_phase()
        statuses.append((build.status, failed.name if failed else build.current_phase, 0, True))
    statuses += [(p.status, p.name, 0, True) for p in build.phases if p.status]
    statuses += [(m.state, m.phase, m.line, False) for m in scan.marks if m.state]
    hits = []
    for entry in catalogue.entries:
        for status, phase, line, structured in statuses:
            if status in entry.build_status:
                text = f"build {build.id or '(id unknown)'} ended {status} in phase {phase}"
                if line:
                    text = f"Phase complete: {phase} State: {status}"
                hits.append(
                    Hit(entry.id, line, phase, text, (("phase", phase),), False, structured)
                )
                break
    return hits


def _failed_phases(build: Build, scan: Scan) -> list[str]:
    seen: list[str] = []
    for name in [*build.failed_phase_names(), *scan.failed_phases()]:
        if name not in seen:
            seen.append(name)
    return sorted(seen, key=_phase_index)


def _succeeded_phases(build: Build, scan: Scan) -> set[str]:
    states: dict[str, str] = {p.name: p.status for p in build.phases if p.status}
    states.update(scan.phase_states())
    return {name for name, state in states.items() if state == SUCCEEDED}


def _candidates(catalogue: Catalogue, hits: Iterable[Hit]) -> dict[str, _Candidate]:
    out: dict[str, _Candidate] = {}
    for hit in hits:
        cand = out.get(hit.entry)
        if cand is None:
            cand = out[hit.entry] = _Candidate(catalogue[hit.entry], [])
        # a context line is seen twice (as a log line and as a parsed context): keep one
        if not any(h.line == hit.line and (h.line or h.text == hit.text) for h in cand.hits):
            cand.hits.append(hit)
        cand.structured = cand.structured or hit.structured
    return out


def _drop_unaccompanied(cands: dict[str, _Candidate]) -> None:
    """An entry with `requires` counts only when a signature AND a companion pattern matched."""
    for entry_id, cand in list(cands.items()):
        if cand.entry.requires and not (
            any(h.companion for h in cand.hits) and any(not h.companion for h in cand.hits)
        ):
            del cands[entry_id]


def _absorb(cands: dict[str, _Candidate]) -> None:
    for cand in list(cands.values()):
        for other_id in cand.entry.absorbs:
            other = cands.pop(other_id, None) if other_id in cands else None
            if other is not None and other is not cand:
                cand.hits.extend(other.hits)
                cand.structured = cand.structured or other.structured


def _attribute_wrappers(cands: dict[str, _Candidate], has_phases: bool) -> None:
    """Fold each wrapper into the first specific finding of its phase."""
    for wrapper in [c for c in cands.values() if c.entry.wrapper]:
        phases = {h.phase for h in wrapper.hits}
        specific = [
            c
            for c in cands.values()
            if not c.entry.wrapper
            and not c.entry.build_status
            and (not has_phases or any(h.phase in phases for h in c.hits))
        ]
        if not specific:
            continue
        target = min(specific, key=lambda c: (_hit_order(c.first), -c.entry.rank))
        target.hits.extend(wrapper.hits)
        target.structured = target.structured or wrapper.structured
        target.explains_failure = True
        del cands[wrapper.entry.id]


def _infer_from_timeout(catalogue: Catalogue, cands: dict[str, _Candidate], scan: Scan) -> None:
    # only a TIMED_OUT build: a STOPPED one (Ctrl-C) or a FAULT says nothing about the command
    timed_out = [c for c in cands.values() if "TIMED_OUT" in c.entry.build_status]
    if not timed_out or scan.last_command is None:
        return
    command = scan.last_command
    for entry in catalogue.entries:
        rx = entry.timeout_command
        if rx is None or entry.id in cands or not rx.search(command.text):
            continue
        hit = Hit(entry.id, command.line, command.phase, f"Running command {command.text}")
        cands[entry.id] = _Candidate(entry, [hit, *timed_out[0].hits], inferred=True)


def _mark_secondary(cands: dict[str, _Candidate], failed: list[str]) -> None:
    for cand in cands.values():
        if any(other in cands for other in cand.entry.consequence_of):
            cand.secondary = True
        own = {h.phase for h in cand.hits}
        if any(p in failed and p not in own for p in cand.entry.secondary_after):
            cand.secondary = True


def _confidence(cand: _Candidate, failed: list[str], has_phases: bool) -> str:
    if all(h.weak for h in cand.hits):
        level = LOW
    elif cand.inferred:
        level = MEDIUM
    elif (
        cand.structured
        or cand.explains_failure
        or not has_phases
        or any(h.phase in failed for h in cand.hits)
    ):
        level = HIGH
    else:
        level = MEDIUM
    return _LOWER[level] if cand.secondary else level


def _evidence(cand: _Candidate) -> tuple[LogLine, ...]:
    # log lines in order, then the build's structured contexts (line 0)
    hits = sorted(cand.hits, key=lambda h: (h.line == 0, _hit_order(h)))
    seen: set[tuple[int, str]] = set()
    out: list[LogLine] = []
    for hit in hits:
        key = (hit.line, hit.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(LogLine(hit.line, hit.phase, clean(hit.text)))
    return tuple(out[:MAX_EVIDENCE])


def _finding(
    cand: _Candidate,
    values: Mapping[str, str],
    extra: Mapping[str, str],
    failed: list[str],
    has_phases: bool,
) -> Finding:
    first = cand.first
    groups: dict[str, str] = {}
    for hit in sorted(cand.hits, key=_hit_order):
        for key, value in hit.groups:
            groups.setdefault(key, value)
    known = {**values, **extra, **groups, "phase": groups.get("phase") or first.phase or "?"}
    known.setdefault("line", first.text)
    entry = cand.entry
    variant = entry.variant_for({**known, "line": " ".join(h.text for h in cand.hits)})
    title = (variant.title if variant and variant.title else None) or entry.title
    cause = (variant.cause if variant and variant.cause else None) or entry.cause
    fix = (variant.fix if variant and variant.fix else None) or entry.fix
    return Finding(
        id=entry.id,
        title=fill(" ".join(title.split()), known),
        cause=fill(" ".join(cause.split()), known),
        fix=fill(" ".join(fix.split()), known),
        docs=entry.docs,
        evidence=_evidence(cand),
        confidence=_confidence(cand, failed, has_phases),
        phase=first.phase,
        secondary=cand.secondary,
        followup=entry.followup,
        values={k: v for k, v in known.items() if k != "line"},
        wrapper=entry.wrapper,
    )


def _order(cand: _Candidate, failed: list[str], log_phases: bool) -> tuple[int, ...]:
    first = cand.first
    # a log without phase markers given with a failed build is that failure's log
    unphased = not log_phases and not first.structured and not first.phase
    in_failed = cand.structured or cand.explains_failure or first.phase in failed or unphased
    if cand.inferred:
        tier = 0
    elif cand.entry.build_status:  # "the build timed out" frames the cause, it is not one
        tier = 2
    else:
        tier = 1 if in_failed else 3
    phase, line = _hit_order(first)
    return (int(cand.secondary), tier, phase, line, -cand.entry.rank)


def _context_summary(build: Build, scan: Scan, failed: list[str]) -> str:
    phase = build.failed_phase()
    if phase is not None and phase.contexts:
        first = phase.contexts[0]
        return ": ".join(x for x in (first.status_code, first.message) if x)
    for ctx in scan.contexts:
        if not failed or ctx.phase in failed:
            return ": ".join(x for x in (ctx.code, ctx.message) if x)
    return ""


def diagnose(
    catalogue: Catalogue,
    scan: Scan,
    build: Build | None = None,
    values: Mapping[str, str] | None = None,
) -> Diagnosis:
    """Rank what the log and the build data say into findings, root cause first."""
    build = build or UNKNOWN_BUILD
    values = dict(values or {})
    failed = _failed_phases(build, scan)
    if build.status == SUCCEEDED:
        return Diagnosis((), build, "", "", (), scan.lines, succeeded=True)
    has_phases = scan.has_phases or bool(build.phases)
    succeeded = _succeeded_phases(build, scan)
    structured_contexts = [
        ContextLine(p.name, c.status_code, c.message, 0)
        for p in build.phases
        for c in p.contexts
        if c.status_code or c.message
    ]
    log_hits = [h for hits in scan.hits.values() for h in hits]
    hits = [
        *log_hits,
        *_context_hits(catalogue, scan.contexts, False),
        *_context_hits(catalogue, structured_contexts, True),
        *_status_hits(catalogue, build, scan),
    ]
    # a tolerated error in a phase that SUCCEEDED is not a finding (kept for absorbs below)
    cands = _candidates(catalogue, hits)
    _drop_unaccompanied(cands)
    _absorb(cands)
    for entry_id in [
        key
        for key, c in cands.items()
        if not c.structured and all(h.phase in succeeded for h in c.hits)
    ]:
        del cands[entry_id]
    _infer_from_timeout(catalogue, cands, scan)
    _attribute_wrappers(cands, has_phases)
    _mark_secondary(cands, failed)
    last = scan.last_command
    extra = {
        "build_id": build.id or "(id not in the log)",
        "last_command": last.text
        if last
        else ("(none in the log)" if scan.lines else "(not known without the log)"),
    }
    ranked = sorted(cands.values(), key=lambda c: _order(c, failed, scan.has_phases))
    findings = tuple(_finding(c, values, extra, failed, has_phases) for c in ranked)
    failed_phase = failed[0] if failed else (build.current_phase or "")
    return Diagnosis(
        findings=findings,
        build=build,
        failed_phase=failed_phase,
        context=_context_summary(build, scan, failed),
        before_failure=tuple(scan.before_failure or scan.tail),
        lines=scan.lines,
    )


__all__ = ["Diagnosis", "Finding", "build_from_json", "diagnose", "fill"]
