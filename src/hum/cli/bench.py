"""`hum bench`: the hot path and growth measures of real humds, each beside its baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from hum.cli.common import CliError, console, print_json


def cmd_bench(args: argparse.Namespace) -> int:
    from hum.demo.bench.run import lines, report

    profile = Path(args.profile).resolve() if args.profile else None
    if profile is not None and not profile.parent.is_dir():
        raise CliError(f"--profile {args.profile}: no folder {profile.parent} to write it in")
    try:
        result = report(quick=args.quick, profile=profile)
    except (RuntimeError, TimeoutError, ConnectionError, OSError) as exc:
        raise CliError(f"the bench could not finish: {exc}") from exc
    if args.json:
        print_json(result)
    else:
        for line in lines(result):
            console.print(line, markup=False)
    return 0 if result["ok"] else 1
