"""Healing a damaged petal from a sibling's copy, on a real SQLite store file."""

from __future__ import annotations

import json
import sqlite3

from hum.store.heal import heal_petal, unreadable_from
from hum.store.sqlite import SCHEMA

SG = "0123456789ab"


def store_with(tmp_path, bodies: dict[int, str]) -> sqlite3.Connection:
    db = sqlite3.connect(tmp_path / "hums.db", isolation_level=None)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO hums (sigil, sid, nest, home) VALUES (?, 's', 'local', 'h')", (SG,))
    for wane, body in bodies.items():
        db.execute("INSERT INTO petals (sigil, wane, chi, body) VALUES (?, ?, 'chunk', ?)", (SG, wane, body))
    return db


def chunk(text: str) -> str:
    return json.dumps({"delta": text})


def test_a_damaged_petal_is_found_and_healed_from_a_copy_that_fits(tmp_path):
    db = store_with(tmp_path, {1: chunk("a"), 2: "{not json", 3: chunk("c")})
    assert unreadable_from(db, SG) == 2
    assert heal_petal(db, SG, 2, "chunk", chunk("b"))
    assert unreadable_from(db, SG) is None


def test_a_good_petal_is_never_replaced_and_a_wider_hole_is_not_papered_over(tmp_path):
    db = store_with(tmp_path, {1: chunk("a"), 2: "{bad", 3: "{bad too", 5: chunk("e")})
    assert not heal_petal(db, SG, 1, "chunk", chunk("x"))  # reads already
    assert not heal_petal(db, SG, 3, "chunk", chunk("c"))  # the petal before it does not read
    assert not heal_petal(db, SG, 2, "chunk", chunk("b"))  # the petal after it does not read
    assert not heal_petal(db, SG, 4, "chunk", "{not json")  # the copy itself does not read
    assert unreadable_from(db, SG) == 2
