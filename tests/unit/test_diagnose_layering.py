"""The diagnose stage gets what it needs (a backend, a log source, doctor's checks) handed in:
it never imports the release or provision stages, not even lazily or through importlib."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.imports import package_imports, stage

FORBIDDEN = ("release", "provision")
ROOT = Path(__file__).resolve().parents[2]


def test_diagnose_never_imports_release_or_provision() -> None:
    """Lazy, type-only and importlib imports included (tests.helpers.imports reads them all)."""
    graph = package_imports(ROOT)
    files = sorted(name for name in graph if stage(name) == "diagnose")
    assert files
    bad = [
        (name, imp.target)
        for name in files
        for imp in graph[name]
        if stage(imp.target) in FORBIDDEN and imp.target.startswith("tasks.")
    ]
    assert bad == []


def test_release_wires_the_diagnosis_with_plain_imports() -> None:
    text = (ROOT / "tasks/release/failure.py").read_text(encoding="utf-8")
    assert 'import_module("tasks.diagnose' not in text
    assert "from ..diagnose.service import FailureDiagnosis" in text


def test_the_wait_and_the_diagnosis_name_the_same_failed_phase() -> None:
    """One rule (``tasks.codebuild.model.failed_phases``) and one model for both: the diagnosis
    ranks the very ``Build`` the wait followed and reports its failed phase."""
    from tasks.codebuild.model import Build, Context, Phase
    from tasks.diagnose.catalogue import load_catalogue
    from tasks.diagnose.matcher import Scan
    from tasks.diagnose.ranking import diagnose
    from tasks.diagnose.report import Report

    catalogue = load_catalogue()
    cases = [
        (("DOWNLOAD_SOURCE", "SUCCEEDED"), ("BUILD", "FAILED"), ("POST_BUILD", "FAILED")),
        (("PROVISIONING", "SUCCEEDED"), ("BUILD", "")),  # empty: not ended, as None
        (("BUILD", None),),
        (("QUEUED", "TIMED_OUT"), ("BUILD", "SUCCEEDED")),
    ]
    named = []
    for phases in cases:
        build = Build(
            "p:1",
            "p",
            status="FAILED",
            current_phase="",
            phases=tuple(Phase(n, s, contexts=(Context("C", "m"),)) for n, s in phases),
        )
        waited = build.failed_phase()
        diagnosis = diagnose(catalogue, Scan(), build)
        assert diagnosis.build is build
        reported = Report(diagnosis, "build p:1").as_dict()["build"]["failed_phase"]
        assert (waited.name if waited else None) == reported
        named.append(waited.name if waited else None)
    assert named == ["BUILD", None, None, "QUEUED"]


def test_one_build_model_no_second_build_class_in_diagnose() -> None:
    """The wait and the diagnosis share ``tasks.codebuild.model.Build``: the diagnose stage
    defines no build or phase dataclass of its own (the former ``BuildFacts``/``PhaseFacts``)."""

    def fields(node: ast.ClassDef) -> set[str]:
        return {
            item.target.id
            for item in node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        }

    # a build has a status and phases, a phase has a status and contexts
    own = [
        (path.name, node.name)
        for path in sorted(Path("tasks/diagnose").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
        and (
            node.name.endswith("Facts")
            or ("status" in fields(node) and fields(node) & {"phases", "contexts"})
        )
    ]
    assert own == []
