"""Benchmark of ``invoke diagnose``: accuracy on the labelled samples, speed and memory on a
100 MB log against ``grep -E -f`` with the catalogue's own patterns, in the same run.

    python bench/bench_diagnose.py            # 100 MB, best of 3
    python bench/bench_diagnose.py --size-mb 20 --rounds 1

Accuracy: every file under tests/samples/diagnose/ is named by the entry it must produce first
(top-1 accuracy); every file under success/ must produce no finding (false findings).
Speed: a realistic CodeBuild log (bench/loggen.py) with one failure near the end is diagnosed by
a child process (the same code path as ``invoke diagnose --log FILE``: one streaming pass,
ranking, report) whose wall time and peak RSS are measured by the parent (wait4); ``grep -E -f``
gets the catalogue's regexes converted to POSIX ERE and reads the same file. Ratios, not
absolute times, are the result: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loggen  # noqa: E402

from tasks.diagnose.catalogue import load_catalogue  # noqa: E402
from tasks.diagnose.matcher import Scan, scan_chunks  # noqa: E402
from tasks.diagnose.ranking import build_from_json, diagnose  # noqa: E402
from tests.helpers import samples  # noqa: E402
from tests.helpers.samples import expected_id  # noqa: E402

CACHE = Path(os.environ.get("RELEASE_BENCH_DIR", "/tmp/release-suite-bench"))

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from tasks.diagnose.catalogue import load_catalogue
from tasks.diagnose.matcher import read_chunks, scan_chunks
from tasks.diagnose.ranking import diagnose
from tasks.diagnose.report import Report, render
catalogue = load_catalogue()
t1 = time.perf_counter()
with open(sys.argv[1], "rb") as stream:
    scan = scan_chunks(read_chunks(stream), catalogue)
result = diagnose(catalogue, scan)
lines = render(Report(result, sys.argv[1], entries=len(catalogue)))
t2 = time.perf_counter()
print(json.dumps({"top": [f.id for f in result.findings], "lines": scan.lines,
                  "setup": t1 - t0, "scan": t2 - t1, "out": len(lines)}))
"""


# -- accuracy ---------------------------------------------------------------------------------


def _top(catalogue: Any, path: Path) -> str:
    if path.name.endswith(".build.json"):
        facts = build_from_json(json.loads(path.read_text()))
        found = diagnose(catalogue, Scan(), facts).findings
    else:
        found = diagnose(catalogue, scan_chunks([path.read_bytes()], catalogue)).findings
    return found[0].id if found else "(none)"


def _score(catalogue: Any, paths: list[Path]) -> dict[str, Any]:
    wrong = [f"{p.name} -> {top}" for p in paths if (top := _top(catalogue, p)) != expected_id(p)]
    right = len(paths) - len(wrong)
    return {"n": len(paths), "right": right, "top1": right / max(len(paths), 1), "wrong": wrong}


def accuracy() -> dict[str, Any]:
    """Top-1 on the tuning part and on the held-out part (split fixed in tests/helpers/samples.py),
    the held-out part broken down by origin, and findings on successful logs (should be none)."""
    catalogue = load_catalogue()
    held = samples.holdout()
    parts = {
        "tuning": _score(catalogue, samples.tuning()),
        "held_out": _score(catalogue, held),
        "held_out_public": _score(catalogue, [p for p in held if samples.is_public(p)]),
        "held_out_public_after_freeze": _score(
            catalogue, [p for p in held if "--public-after-freeze" in p.name]
        ),
        "held_out_live_tools": _score(
            catalogue, [p for p in held if p.parent.name in ("tools", "live")]
        ),
        "held_out_older": _score(catalogue, [p for p in held if p.parent == samples.SAMPLES]),
    }
    false_findings: list[str] = []
    success = samples.successful()
    for path in success:
        found = diagnose(catalogue, scan_chunks([path.read_bytes()], catalogue)).findings
        false_findings += [f"{path.name} -> {f.id}" for f in found]
    covered = {expected_id(p) for p in samples.labelled()}
    return {
        "entries": len(catalogue),
        "entries_with_samples": sum(1 for e in catalogue.entries if e.id in covered),
        "samples": len(samples.labelled()),
        **parts,
        "success_logs": len(success),
        "false_findings": false_findings,
    }


# -- speed ------------------------------------------------------------------------------------


def to_ere(pattern: str) -> str:
    """A Python regex of the catalogue as GNU grep -E syntax (same lines match)."""
    # lookarounds (a few signatures refuse ", skipping" notices) have no ERE form: dropping them
    # lets grep match a superset of the lines, which costs it nothing
    pattern = re.sub(r"\(\?<?[!=][^()]*\)", "", pattern)
    pattern = re.sub(r"\(\?P<\w+>", "(", pattern).replace("(?:", "(")
    pattern = re.sub(r"([*+?])\?", r"\1", pattern)  # lazy -> greedy: same lines match
    out, i, in_class = [], 0, False
    inside = {"s": "[:space:]", "d": "0-9", "w": "[:alnum:]_"}
    outside = {"s": r"\s", "S": r"\S", "d": "[0-9]", "w": r"\w"}
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if in_class:  # POSIX bracket expressions have no escapes
                out.append(inside.get(nxt, "\\\\" if nxt == "\\" else nxt))
            else:
                out.append(outside.get(nxt, char + nxt))
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def grep_patterns(path: Path) -> Path:
    catalogue = load_catalogue()
    patterns = [to_ere(s.pattern.pattern) for e in catalogue.entries for s in e.signatures]
    path.write_text("\n".join(patterns) + "\n")
    return path


def timed_child(argv: list[str], stdout: int | None = subprocess.PIPE) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # grep: 1 = no line matched
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.read()[-400:]}")
    return wall, int(usage.ru_maxrss), out


def speed(size_mb: int, rounds: int) -> dict[str, object]:
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / f"diagnose-{size_mb}MB.log"
    if not log.exists() or log.stat().st_size < size_mb * 1_000_000 * 0.99:
        loggen.write(log, size_mb * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp:
        patterns = grep_patterns(Path(tmp) / "patterns.ere")
        ours, greps, rss, result = [], [], [], {}
        for _ in range(rounds):
            wall, peak, out = timed_child([sys.executable, "-c", CHILD, str(log), str(ROOT)])
            result = json.loads(out)
            ours.append(wall)
            rss.append(peak)
            with open(os.devnull, "w") as sink:
                g_wall, _, _ = timed_child(
                    ["grep", "-E", "-n", "-f", str(patterns), str(log)], stdout=sink.fileno()
                )
            greps.append(g_wall)
    best, best_grep = min(ours), min(greps)
    return {
        "size_mb": log.stat().st_size / 1e6,
        "lines": result["lines"],
        "top": result["top"],
        "expected": loggen.EXPECTED,
        "ours_s": best,
        "ours_setup_s": result["setup"],
        "ours_scan_s": result["scan"],
        "grep_s": best_grep,
        "ratio": best / best_grep,
        "peak_rss_mb": max(rss) / 1024,
        "mb_per_s": log.stat().st_size / 1e6 / best,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--accuracy-only", action="store_true", help="skip the 100 MB speed run")
    args = parser.parse_args()
    acc = accuracy()
    spd = {} if args.accuracy_only else speed(args.size_mb, args.rounds)
    if args.json:
        print(json.dumps({"accuracy": acc, "speed": spd}, indent=2))
        return
    print("## Accuracy (labelled samples; split fixed in tests/helpers/samples.py)")
    print(f"- catalogue entries: {acc['entries']} ({acc['entries_with_samples']} with samples)")
    for key, label in (
        ("tuning", "tuning part (patterns written against these)"),
        ("held_out", "held-out part (not used to write patterns; see bench/README.md)"),
        ("held_out_public", "  of which public pastes (issues of other projects)"),
        ("held_out_public_after_freeze", "    of which collected after the patterns were frozen"),
        ("held_out_live_tools", "  of which live captures of the migration tools (tools/, live/)"),
        ("held_out_older", "  of which earlier samples (seen by earlier catalogue authors)"),
    ):
        part = acc[key]
        print(f"- {label}: {part['top1']:.1%} top-1 ({part['right']} / {part['n']})")
        if key in ("tuning", "held_out"):
            for miss in part["wrong"]:
                print(f"  - wrong: {miss}")
    print(
        f"- false findings on {acc['success_logs']} successful logs: {len(acc['false_findings'])}"
    )
    for item in acc["false_findings"]:
        print(f"  - {item}")
    if not spd:
        return
    print()
    print(f"## Speed ({spd['size_mb']:.0f} MB, {spd['lines']:,} lines, best of {spd['rounds']})")
    print("| | wall s | peak RSS MB |")
    print("|---|---|---|")
    print(
        f"| invoke diagnose path (scan+rank+report) | {spd['ours_s']:.2f} | {spd['peak_rss_mb']:.0f} |"
    )
    print(f"| grep -E -n -f (catalogue patterns) | {spd['grep_s']:.2f} | |")
    print(f"- ratio diagnose / grep: {spd['ratio']:.2f}x ({spd['mb_per_s']:.0f} MB/s)")
    print(f"- of which imports+catalogue compile: {spd['ours_setup_s']:.2f} s")
    ok = spd["top"] and spd["top"][0] == spd["expected"]  # type: ignore[index]
    print(f"- diagnosis: {spd['top']} ({'correct' if ok else 'WRONG'})")


if __name__ == "__main__":
    main()
