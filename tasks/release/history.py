"""The image-history estimate of the pending migrations (issue 14), with no build and no
database read: the migrations in the new image that were not in the image of the project's last
SUCCEEDED migration build.

Pure (no boto3, docker or invoke). The builds come from the one "recent builds" of the build
backend (``BuildBackend.recent``: CodeBuild's ListBuildsForProject + BatchGetBuilds, or the
local runner's state), the previous image's files from the same extraction the pinned image
gets (planrun.py); this module only decides.

Migrations are compared by their key (the file name; for prisma's ``<dir>/migration.sql`` the
directory name), so a move between folders is not a new migration, and by content (sha256): a
file applied before whose content changed is odd, not pending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..codebuild.model import SUCCEEDED, Build
from .status import Applied, Status

LOOKBACK = 50  # builds read from the history (one BatchGetBuilds call on CodeBuild)
TOOL = "image-history"
CAVEAT = (
    "no build, no database read: after a restore or a failed migration it can be wrong; "
    "the migration build's exact status decides"
)


@dataclass(frozen=True)
class PreviousImage:
    """The last SUCCEEDED migration build and what its image held."""

    build_id: str
    image: str  # IMAGE_URI of that build (pinned by digest)
    files: Mapping[str, str] | None = None  # path -> sha256; None when it could not be read
    unreadable: str = ""  # why not (the image is gone from the registry...)


@dataclass(frozen=True)
class History:
    """What the build history said: the previous image, or why there is none."""

    previous: PreviousImage | None = None
    looked_at: int = 0  # builds read
    error: str = ""  # the history itself could not be read


def image_uri(build: Build) -> str:
    """The image a build ran (the IMAGE_URI override every start sends)."""
    return next((v.value for v in build.environment if v.name == "IMAGE_URI"), "")


def last_migration(builds: Sequence[Build]) -> Build | None:
    """The newest SUCCEEDED build that migrated (seed-only builds do not count)."""
    for build in builds:
        if build.status == SUCCEEDED and "migrate" in build.action.split("+") and image_uri(build):
            return build
    return None


def migration_key(path: str) -> str:
    """The name that identifies a migration across images and layouts."""
    parts = path.rsplit("/", 2)
    if parts[-1] == "migration.sql" and len(parts) > 1:  # prisma: the directory names it
        return parts[-2]
    return parts[-1]


def compare(current: Mapping[str, str], history: History) -> Status:
    """The estimate for ``current`` (path -> sha256, in run order) against the history."""
    files = list(current)
    previous = history.previous
    if history.error:
        return _all_pending(files, f"the build history could not be read ({history.error})")
    if previous is None:
        seen = (
            f"among the project's last {history.looked_at} build(s)"
            if history.looked_at
            else "yet: the project has no build"
        )
        return _all_pending(files, f"no SUCCEEDED migration build {seen}")
    where = f"build {previous.build_id} (image {previous.image})"
    if previous.files is None:
        return _all_pending(
            files, f"the image of {where} cannot be read: {previous.unreadable}", previous
        )
    before = {migration_key(p): digest for p, digest in previous.files.items()}
    if not before:
        return _all_pending(
            files,
            f"the image of {where} holds no file that migrations_glob matches (another tool "
            "layout?)",
            previous,
        )
    known = [p for p in files if migration_key(p) in before]
    if files and not known:
        return _all_pending(
            files,
            f"none of the {len(before)} migration(s) in the image of {where} is in the new "
            "image (another tool layout, or a squashed history?)",
            previous,
        )
    keys = {migration_key(p) for p in files}
    return Status(
        tool=TOOL,
        applied=tuple(Applied(migration_key(p)) for p in known),
        pending=tuple(p for p in files if migration_key(p) not in before),
        missing=tuple(sorted(k for k in before if k not in keys)),
        changed=tuple(migration_key(p) for p in known if before[migration_key(p)] != current[p]),
        source="estimate",
        notes=(f"estimate from the image history, compared with {where}; {CAVEAT}",),
        compared_with=previous.build_id,
        compared_image=previous.image,
    )


def _all_pending(files: Sequence[str], why: str, previous: PreviousImage | None = None) -> Status:
    return Status(
        tool=TOOL,
        applied=(),
        pending=tuple(files),
        source="estimate",
        notes=(f"estimate: {why}; every migration counts as pending",),
        compared_with=previous.build_id if previous else "",
        compared_image=previous.image if previous else "",
    )
