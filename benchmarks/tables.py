"""Refresh the tables of docs/benchmarks.md ("All results") from the stored rows in benchmarks/results/*.json.

The benchmark scripts only store their rows; run this after one (or several) to regenerate the tables:

    python -m benchmarks.tables            # rewrite the tables between the markers
    python -m benchmarks.tables --check    # exit 1 if they differ from the stored rows, change nothing
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.lib.results import TABLES, refresh_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only say whether the tables are up to date (exit 1 if not)")
    args = parser.parse_args()
    changed = refresh_tables(write=not args.check)
    if args.check:
        print(f"{TABLES}: tables {'out of date (run python -m benchmarks.tables)' if changed else 'up to date'}")
        sys.exit(1 if changed else 0)
    print(f"{TABLES}: tables {'refreshed' if changed else 'already up to date'}")


if __name__ == "__main__":
    main()
