"""`hum store check` and `hum store repair`: what is wrong with this device's hum store, and a rebuild."""

from __future__ import annotations

import argparse
import sqlite3

from hum.cli.common import CliError, console, home_of, print_json


def cmd_store_check(args: argparse.Namespace) -> int:
    from hum.store.repair import check_store

    home = home_of(args)
    if not home.store_path.exists():
        raise CliError(f"{home.store_path} does not exist: no hum was ever stored in this home")
    report = check_store(home.store_path)
    if args.json:
        print_json(report)
    elif report["ok"]:
        console.print(f"the hum store {home.store_path} is intact", markup=False)
    else:
        if report["integrity"] != ["ok"]:
            console.print("SQLite's integrity check: " + "; ".join(report["integrity"]), markup=False)
        for problem in report["problems"]:
            where = f"hum {problem['sigil']}: " if problem["sigil"] else ""
            console.print(f"{where}{problem['problem']}: {problem['detail']}", markup=False)
        console.print(f"{report['count']} problems; `hum store repair` (with the humd stopped) rebuilds what still reads", markup=False)
    return 0 if report["ok"] else 1


def cmd_store_repair(args: argparse.Namespace) -> int:
    from hum.daemon.home import HomeBusy
    from hum.store.repair import repair_store
    from hum.store.sqlite import SCHEMA

    home = home_of(args)
    if not home.store_path.exists():
        raise CliError(f"{home.store_path} does not exist: nothing to repair")
    try:
        lock = home.lock()
    except HomeBusy as exc:
        raise CliError(f"{exc}; stop it (Ctrl-C on hum up) before repairing its store") from exc
    try:
        result = repair_store(home.store_path, SCHEMA)
    except sqlite3.DatabaseError as exc:  # its schema does not read: no table can be found in it
        raise CliError(f"{home.store_path} does not read at all ({exc}); `hum up` keeps it aside and begins a new store") from exc
    finally:
        lock.release()
    if args.json:
        print_json(result)
    else:
        kept, lost = result["kept"], result["lost"]
        console.print(f"rebuilt {home.store_path}: kept {kept['hums']} hums and {kept['petals']} petals", markup=False)
        if any(lost.values()):
            console.print(f"lost what did not read: {lost}", markup=False)
        console.print(f"the damaged file is kept as {result['old']}", markup=False)
    return 0
