"""The image-history estimate (issue 14): the last SUCCEEDED migration build among the recent
builds, and the comparison of the new image's migrations with that build's image, by name and by
content. Pure: builds are ``Build`` values, files are path -> sha256."""

from __future__ import annotations

from collections.abc import Sequence

from tasks.codebuild.model import Build, EnvVar
from tasks.core.errors import AwsError, CommandFailed
from tasks.release.history import History, PreviousImage, compare, last_migration
from tasks.release.lint import LintReport, gate
from tasks.release.plan import Plan, render
from tasks.release.planrun import read_history

OLD = "127.0.0.1:5000/app@sha256:" + "a" * 64


def build(n: int, status: str, *, migrate: bool = True, image: str = OLD) -> Build:
    env = (
        EnvVar("RUN_MIGRATIONS", "true" if migrate else "false"),
        EnvVar("RUN_SEED", "false" if migrate else "true"),
        EnvVar("IMAGE_URI", image),
    )
    return Build(id=f"proj:{n}", project="proj", status=status, environment=env)


def test_the_newest_succeeded_migration_build_is_the_basis() -> None:
    builds = [
        build(5, "FAILED"),
        build(4, "SUCCEEDED", migrate=False),  # a seed: its image says nothing of migrations
        build(3, "IN_PROGRESS"),
        build(2, "SUCCEEDED"),
        build(1, "SUCCEEDED"),
    ]
    found = last_migration(builds)
    assert found is not None and found.id == "proj:2"
    assert last_migration([build(1, "FAILED"), build(2, "STOPPED")]) is None


def test_new_files_are_pending_old_ones_applied_and_a_changed_one_is_odd() -> None:
    current = {
        "migrations/0001_a.sql": "h1",
        "migrations/0002_b.sql": "h2-edited",
        "migrations/0003_c.sql": "h3",
        "migrations/0004_d.sql": "h4",
    }
    previous = PreviousImage(
        "proj:2", OLD, {"migrations/0001_a.sql": "h1", "migrations/0002_b.sql": "h2"}
    )
    status = compare(current, History(previous, 5))
    assert status.source == "estimate"
    assert status.pending == ("migrations/0003_c.sql", "migrations/0004_d.sql")
    assert [a.name for a in status.applied] == ["0001_a.sql", "0002_b.sql"]
    assert status.changed == ("0002_b.sql",)  # an oddity, not pending
    assert status.compared_with == "proj:2" and status.compared_image == OLD
    assert "compared with build proj:2 (image " + OLD + ")" in status.notes[0]
    assert status.as_dict()["compared_with"] == {"build": "proj:2", "image": OLD}
    plan = Plan("prod", "new", status, LintReport(), gate((), {}), tuple(current))
    lines = render(plan)
    assert "ESTIMATE (image history: compared with build proj:2)" in lines[0]
    assert "  odd: 0002_b.sql was applied with another checksum" in lines


def test_prisma_layout_and_moved_folders_compare_by_migration_name() -> None:
    current = {"prisma/migrations/20240101_init/migration.sql": "p1",
               "prisma/migrations/20240202_email/migration.sql": "p2",
               "db/migrations/0001_a.sql": "h1"}  # fmt: skip
    previous = PreviousImage("proj:9", OLD, {
        "prisma/migrations/20240101_init/migration.sql": "p1",
        "migrations/0001_a.sql": "h1",  # moved folder, same migration
        "migrations/0000_gone.sql": "h0",
    })  # fmt: skip
    status = compare(current, History(previous, 1))
    assert status.pending == ("prisma/migrations/20240202_email/migration.sql",)
    assert status.missing == ("0000_gone.sql",) and status.changed == ()


def test_no_previous_build_counts_everything_pending_and_says_so() -> None:
    status = compare({"m/1.sql": "x", "m/2.sql": "y"}, History(None, 7))
    assert status.pending == ("m/1.sql", "m/2.sql") and status.applied == ()
    assert "no SUCCEEDED migration build among the project's last 7 build(s)" in status.notes[0]
    assert "every migration counts as pending" in status.notes[0]


def test_previous_image_gone_from_the_registry_is_one_line_and_a_fallback() -> None:
    gone = PreviousImage("proj:2", OLD, None, "manifest unknown")
    status = compare({"m/1.sql": "x"}, History(gone, 3))
    assert status.pending == ("m/1.sql",) and len(status.notes) == 1
    assert "image of build proj:2" in status.notes[0] and "manifest unknown" in status.notes[0]


def test_previous_build_from_another_tool_layout_says_so() -> None:
    knex_image = PreviousImage("proj:2", OLD, {"migrations/20240101_a.js": "k"})
    status = compare({"drizzle/0000_init.sql": "d"}, History(knex_image, 3))
    assert status.pending == ("drizzle/0000_init.sql",)
    assert "another tool layout" in status.notes[0]
    empty = compare({"drizzle/0000_init.sql": "d"}, History(PreviousImage("p:1", OLD, {}), 1))
    assert "holds no file that migrations_glob matches" in empty.notes[0]


def test_read_history_reads_the_basis_image_and_reports_failures_as_notes() -> None:
    read: list[str] = []

    def files(uri: str) -> dict[str, str]:
        read.append(uri)
        return {"m/1.sql": "x"}

    builds: Sequence[Build] = [build(3, "FAILED", image="other"), build(2, "SUCCEEDED")]
    history = read_history(lambda: builds, files)
    assert read == [OLD] and history.previous is not None
    assert history.previous.build_id == "proj:2" and history.looked_at == 2

    def gone(uri: str) -> dict[str, str]:
        raise CommandFailed(
            f"docker create {uri} failed: Error response from daemon:\nmanifest unknown", "pull"
        )

    lost = read_history(lambda: builds, gone)
    assert lost.previous is not None and lost.previous.files is None
    assert lost.previous.unreadable == "manifest unknown"

    def denied() -> list[Build]:
        raise AwsError("CodeBuild ListBuildsForProject: AccessDeniedException", "grant it")

    assert read_history(denied, files).error.startswith("CodeBuild ListBuildsForProject")
    status = compare({"m/1.sql": "x"}, read_history(denied, files))
    assert "the build history could not be read" in status.notes[0]
