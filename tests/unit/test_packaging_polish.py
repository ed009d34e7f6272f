"""Packaging leftovers (issue 16): the action's name has one source, init asks (or refuses)
instead of picking the first of several candidates, hints name the command in use, and the
action writes GitHub's summary and outputs through ``tasks.release.reporting`` only."""

from __future__ import annotations

import io
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml

from tasks.cli.program import ACTION_REPOSITORY, VERSION, action_ref, main
from tasks.core import console as console_mod
from tasks.core.console import Console
from tasks.core.errors import ExitCode, UsageError
from tasks.provision import adopt, scaffold
from tasks.release import report as rp
from tasks.release import reporting
from tests.conftest import ROOT


# -- the action's `uses:` name ----------------------------------------------------------------
def test_the_action_name_comes_from_one_constant_and_every_mention_agrees() -> None:
    assert action_ref() == f"{ACTION_REPOSITORY}@v{VERSION}"
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Source"] == f"https://github.com/{ACTION_REPOSITORY}"
    for doc in ("action.yml", "examples/ci/release.yml", "docs/packaging.md"):
        named = re.findall(r"uses: `?([\w.-]+/release-suite@[\w.]+)", (ROOT / doc).read_text())
        assert named and set(named) == {action_ref()}, doc
    assert "ACTION_REPOSITORY" in (ROOT / "docs" / "packaging.md").read_text()


def test_init_writes_the_workflow_with_the_action_ref_it_is_given(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples" / "backend", tmp_path / "repo", ignore=_no_modules)
    adopt.run(
        tmp_path / "repo",
        scaffold.Options(env="prod"),
        yes=True,
        console=Console(io.StringIO(), io.StringIO()),
        ask=lambda q: False,
        aws=None,
        region=None,
        version=VERSION,
        buildspec_text="",
        action_ref="fork/release-suite@v9",
    )
    workflow = yaml.safe_load((tmp_path / "repo/.github/workflows/release.yml").read_text())
    assert workflow["jobs"]["release"]["steps"][-1]["uses"] == "fork/release-suite@v9"


# -- several candidates: ask, or refuse naming the flag -----------------------------------------
def _two_backends(root: Path) -> Path:
    for name in ("api", "worker"):
        (root / name).mkdir(parents=True)
        (root / name / "Dockerfile").write_text("FROM scratch\n")
    (root / "api" / "knexfile.js").write_text("module.exports = {}\n")
    (root / "api" / "package.json").write_text(json.dumps({"dependencies": {"prisma": "5"}}))
    return root


def test_several_dockerfiles_are_refused_with_the_flag_that_chooses(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        scaffold.discover(_two_backends(tmp_path), choose=adopt.refuse_to_guess)
    assert refused.value.code == ExitCode.USAGE == 2
    assert refused.value.line() == (
        "found 2 Dockerfiles (api/Dockerfile, worker/Dockerfile) and init does not guess. "
        "Fix: choose one with --dockerfile api/Dockerfile (or run init on a terminal without "
        "--yes to be asked)"
    )


def test_several_tools_are_refused_then_chosen_by_flag_or_answer(tmp_path: Path) -> None:
    root = _two_backends(tmp_path)
    with pytest.raises(UsageError) as refused:
        scaffold.discover(root, choose=adopt.refuse_to_guess, dockerfile="api/Dockerfile")
    assert refused.value.message.startswith("found 2 migration tools (knex, prisma)")
    assert "--tool knex" in refused.value.remedy
    chosen = scaffold.discover(
        root, choose=adopt.refuse_to_guess, dockerfile="api/Dockerfile", tool="prisma"
    )
    assert chosen.dockerfile == scaffold.Found("api/Dockerfile", "--dockerfile")
    assert chosen.tool == scaffold.Found("prisma", "--tool")
    asked: list[tuple[str, list[str]]] = []

    def pick(question: str, options: list[str]) -> str:
        asked.append((question, options))
        return options[-1]

    found = scaffold.discover(root, choose=adopt.asking(pick))
    assert asked == [
        ("init found 2 Dockerfiles; which one?", ["api/Dockerfile", "worker/Dockerfile"])
    ]
    assert found.dockerfile == scaffold.Found(
        "worker/Dockerfile", "found worker/Dockerfile, chosen of 2"
    )
    unanswered = adopt.asking(lambda q, o: None)
    with pytest.raises(UsageError) as no_answer:
        scaffold.discover(root, choose=unanswered)
    assert no_answer.value.remedy.startswith("choose one with --dockerfile api/Dockerfile")
    with pytest.raises(UsageError, match="--tool 'flyway' is not a migration tool"):
        scaffold.discover(root, dockerfile="api/Dockerfile", tool="flyway")
    with pytest.raises(UsageError, match="--dockerfile 'nope/Dockerfile' is not a file"):
        scaffold.discover(root, dockerfile="nope/Dockerfile")


def test_init_without_a_terminal_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _two_backends(tmp_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as done:
        main(["release-suite", "init", "--yes"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: found 2 Dockerfiles (api/Dockerfile, worker/Dockerfile)")
    assert len(err.splitlines()) == 1 and not (root / "invoke.yaml").exists()
    main(["release-suite", "init", "--yes", "--dockerfile", "api/Dockerfile", "--tool", "knex"])
    assert "tool: knex (--tool)" in capsys.readouterr().out
    assert "context: api" in (root / "invoke.yaml").read_text()


# -- hints in the words of the command in use ---------------------------------------------------
def test_hints_name_the_command_in_use_and_only_before_a_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console_mod, "_COMMAND", None)
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, json_mode=True, color=False)
    console_mod.use_command("release-suite", ["build.wait", "release", "db.migrate"])
    console.warn("follow it with `invoke build.wait 42 --env prod` or invoke release")
    console.info("invoke.yaml is read; invoke itself is not needed; invoke releases nothing")
    console.log("$ invoke build.wait 42")  # a build's log line stays verbatim
    console.error(UsageError("bad", "run `invoke db.migrate --env prod`"))
    lines = err.getvalue().splitlines()
    assert lines[0] == (
        "WARNING: follow it with `release-suite build.wait 42 --env prod` or release-suite release"
    )
    assert lines[1] == "invoke.yaml is read; invoke itself is not needed; invoke releases nothing"
    assert lines[2] == "$ invoke build.wait 42"
    assert lines[3] == "error: bad. Fix: run `release-suite db.migrate --env prod`"
    assert (
        json.loads(out.getvalue())["error"]["remedy"] == "run `release-suite db.migrate --env prod`"
    )
    console_mod.use_command("invoke", ())
    plain = io.StringIO()
    Console(plain, plain, color=False).info("invoke build.wait 42")
    assert plain.getvalue() == "invoke build.wait 42\n"


def test_the_program_says_release_suite_in_its_hints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[object] = []
    real = console_mod.use_command

    def spy(name: str, names: object) -> None:
        seen.append((name, sorted(names)[:3] if name != "invoke" else ()))  # type: ignore[call-overload]
        real(name, names)  # type: ignore[arg-type]

    monkeypatch.setattr(console_mod, "use_command", spy)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["release-suite", "--version"])
    assert seen == [("release-suite", ["build.list", "build.logs", "build.stop"]), ("invoke", ())]
    assert console_mod._COMMAND is None  # restored: invoke's words again in this process


# -- the action's GitHub files: one writer --------------------------------------------------
def _github(tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "RELEASE_ENV_INPUT": "prod",
    }


def test_action_outcome_adds_the_verdict_to_a_published_report(tmp_path: Path) -> None:
    env = _github(tmp_path)
    result = {"ok": True, "report": {"status": "SUCCEEDED"}, "steps": []}
    reporting.action_outcome(env, json.dumps(result), 0)
    assert (tmp_path / "summary.md").read_text() == "### release prod: ok (exit 0)\n"
    assert rp.parse_output_lines((tmp_path / "output").read_text()) == {"exit_code": "0"}


def test_action_outcome_reports_a_run_that_stopped_before_any_report(tmp_path: Path) -> None:
    env = _github(tmp_path)
    error = {"code": 2, "kind": "UsageError", "message": "unknown environment 'x'", "remedy": "fix"}
    reporting.action_outcome(env, json.dumps({"ok": False, "error": error}), 2)
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("### release prod: FAILED (exit 2)\n**unknown environment 'x'**")
    assert "Fix: fix" in summary
    outputs = rp.parse_output_lines((tmp_path / "output").read_text())
    assert outputs == {"build_id": "", "image": "", "status": "UsageError", "exit_code": "2"}
    (tmp_path / "output").write_text("")
    reporting.action_outcome(env, "Traceback (most recent call last):", 1)
    assert "**release-suite printed no result**" in (tmp_path / "summary.md").read_text()
    assert rp.parse_output_lines((tmp_path / "output").read_text())["status"] == "FAILED"


def test_only_reporting_writes_github_files_and_the_action_calls_it() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    scripts = "\n".join(str(s.get("run", "")) for s in action["runs"]["steps"])
    assert "GITHUB_STEP_SUMMARY" not in scripts and "GITHUB_OUTPUT" not in scripts
    assert '-m release_suite.release.reporting "$result" "$code"' in scripts
    writers = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tasks").rglob("*.py")
        if '"GITHUB_STEP_SUMMARY"' in p.read_text() or '"GITHUB_OUTPUT"' in p.read_text()
    )
    assert writers == ["tasks/release/reporting.py"]


def _no_modules(folder: str, names: list[str]) -> set[str]:
    return {n for n in names if n in ("node_modules", ".release-local")}


def test_on_a_terminal_init_numbers_the_candidates_and_reads_a_choice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tasks.cli import init as init_task

    answers = iter(["", "7", "2"])  # nothing, out of range, then a number
    prompts: list[str] = []

    def fake_input(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    out = io.StringIO()
    console = Console(out, out, color=False)
    options = ["api/Dockerfile", "worker/Dockerfile"]
    assert init_task._pick(console, "which one?", options) == "worker/Dockerfile"
    assert out.getvalue() == "  1) api/Dockerfile\n  2) worker/Dockerfile\n"
    assert prompts == ["which one? [1-2] "] * 3
    monkeypatch.setattr("builtins.input", lambda prompt: "nope")
    assert init_task._pick(console, "which one?", options) is None  # three tries, then refuse

    def eof(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", eof)
    assert init_task._pick(console, "which one?", options) is None
