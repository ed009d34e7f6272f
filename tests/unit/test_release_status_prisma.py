"""``prisma migrate status`` read by the status parser (issue 14). Prisma cannot be installed
here: the samples are public wording (weak), tests/samples/plan/prisma/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.errors import ExitCode, MigrationStatusError
from tasks.release.status import StatusError, read_status, status_or_refusal

PRISMA = Path(__file__).resolve().parents[1] / "samples" / "plan" / "prisma"


def test_prisma_status_up_to_date_has_nothing_pending() -> None:
    status = read_status((PRISMA / "up-to-date.txt").read_text())
    assert status.tool == "prisma" and status.pending == () and status.applied == ()
    assert status.notes == ("prisma names only the pending migrations: 6 of 6 applied",)


def test_prisma_status_lists_the_pending_migrations_in_order() -> None:
    text = (PRISMA / "pending.txt").read_text()
    status = read_status(text)
    assert status.pending == ("20201231000000_init",)
    assert "0 of 1 applied" in status.notes[0]
    two = (
        text.replace("1 migration found", "3 migrations found")
        .replace("Following migration have", "Following migrations have")
        .replace("20201231000000_init\n", "20201231000000_init\n20210101000000_add_email\n")
    )
    again = read_status(
        "\x1b[1m" + two.replace("prisma migrate deploy", "\x1b[32mprisma migrate deploy\x1b[39m")
    )
    assert again.pending == ("20201231000000_init", "20210101000000_add_email")
    assert "1 of 3 applied" in again.notes[0]


def test_prisma_status_diverged_histories_give_pending_and_missing() -> None:
    status = read_status((PRISMA / "diverge.txt").read_text())
    assert status.pending == ("20201231000000_catage",)
    assert status.missing == ("20201231000000_dogage",)


@pytest.mark.parametrize(
    ("sample", "words"),
    [
        ("failed.txt", "failed migration(s) 20201231000000_failed"),
        ("baseline.txt", "not managed by Prisma Migrate"),
        ("unreachable.txt", "no prisma migrate status output"),
    ],
)
def test_prisma_status_that_cannot_be_read_is_refused_with_one_line_exit_26(
    sample: str, words: str
) -> None:
    with pytest.raises(MigrationStatusError) as info:
        status_or_refusal((PRISMA / sample).read_text())
    line = info.value.line()
    assert words in line and "\n" not in line and "Fix:" in line
    assert info.value.code == ExitCode.MIGRATION_STATUS == 26


def test_prisma_status_cut_before_its_verdict_is_refused() -> None:
    head = "2 migrations found in prisma/migrations\n"
    with pytest.raises(StatusError, match="before its verdict"):
        read_status(head)
    with pytest.raises(StatusError, match="as a migration name"):
        read_status(head + "Following migrations have not yet been applied:\nrm -rf /\n")
    with pytest.raises(StatusError, match="more than one"):
        read_status(head + head + "Database schema is up to date!\n")
