"""`hum bench`: the hot path and growth measures of real humds, each beside its baseline."""

from __future__ import annotations

import argparse
from pathlib import Path

from hum.cli.common import CliError, console, print_json


def cmd_bench(args: argparse.Namespace) -> int:
    from hum.demo.bench.run import lines, report

    try:
        result = report(quick=args.quick, profile=Path(args.profile).resolve() if args.profile else None)
    except (RuntimeError, TimeoutError, ConnectionError, OSError) as exc:
        raise CliError(f"the bench could not finish: {exc}") from exc
    if args.json:
        print_json(result)
    else:
        for line in lines(result):
            console.print(line, markup=False)
    return 0 if result["ok"] else 1
