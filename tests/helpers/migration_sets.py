"""The migration set of the exact-plan tests and benchmark: the Bun sample's two migrations plus
two harmless tables (0003, 0004), so that "2 of 4 applied" has exactly two pending."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "examples" / "backend"
TWO_MORE = {
    "0003_create_audit.sql": "CREATE TABLE audit (id bigint PRIMARY KEY, note text);\n",
    "0004_create_tags.sql": "CREATE TABLE tags (id bigint PRIMARY KEY, name text);\n",
}


def four_migrations(where: Path, *, whole_sample: bool = False) -> Path:
    """``where/four``: the sample's migrations (or, with ``whole_sample``, the whole sample to
    build an image from) with the two more tables; returns that folder."""
    target = where / "four"
    if whole_sample:
        shutil.copytree(BACKEND, target)
    else:
        (target / "migrations").mkdir(parents=True, exist_ok=True)
        for sql in sorted((BACKEND / "migrations").glob("*.sql")):
            shutil.copy(sql, target / "migrations" / sql.name)
    for name, sql in TWO_MORE.items():
        (target / "migrations" / name).write_text(sql)
    return target
