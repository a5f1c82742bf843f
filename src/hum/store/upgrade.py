"""Stores written by older humds, brought to the schema this one writes, at open (each step once)."""

from __future__ import annotations

import sqlite3

# Orphaned branches: each petal with the incarnation (`born`) and epoch its branch was appended in.
ORPHANS = """
CREATE TABLE IF NOT EXISTS orphans (
    sigil TEXT NOT NULL REFERENCES hums(sigil),
    born  INTEGER NOT NULL DEFAULT 0,
    epoch INTEGER NOT NULL,
    wane  INTEGER NOT NULL,
    chi   TEXT NOT NULL,
    body  TEXT NOT NULL,
    PRIMARY KEY (sigil, born, epoch, wane)
) WITHOUT ROWID;
"""


def upgrade(db: sqlite3.Connection) -> None:
    """Columns and keys added since the first stores, filled as the old rows mean them."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(hums)")}
    for column in ("epoch", "fork", "born"):  # stores from before adoption (epoch 0), incarnations (born 0)
        if column not in columns:
            db.execute(f"ALTER TABLE hums ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    if "transcript" not in {row[1] for row in db.execute("PRAGMA table_info(petals)")}:
        # stores from before transcript keys: each hum's is computed once, at its first load
        db.execute("ALTER TABLE petals ADD COLUMN transcript BLOB")
    if "touched" not in columns:  # stores from before retention: NULL until retention first looks
        db.execute("ALTER TABLE hums ADD COLUMN touched INTEGER")
    if "prior_home" not in columns:  # stores from before an epoch said what it was adopted from: unknown
        db.execute("ALTER TABLE hums ADD COLUMN prior_epoch INTEGER")
        db.execute("ALTER TABLE hums ADD COLUMN prior_home TEXT")
    if "born" not in {row[1] for row in db.execute("PRAGMA table_info(orphans)")}:
        # stores from before orphans were kept per incarnation: an old branch is of the hum's incarnation
        # then; its key gains `born`, so a lost incarnation's branch never hides a later one's at its wanes
        db.executescript(
            "BEGIN; ALTER TABLE orphans RENAME TO orphans_before_born;"
            + ORPHANS
            + "INSERT INTO orphans (sigil, born, epoch, wane, chi, body) "
            "SELECT o.sigil, COALESCE((SELECT born FROM hums WHERE hums.sigil = o.sigil), 0), o.epoch, o.wane, o.chi, o.body "
            "FROM orphans_before_born AS o; DROP TABLE orphans_before_born; COMMIT;"
        )
