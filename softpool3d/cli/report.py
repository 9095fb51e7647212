"""Accuracy-vs-cost report over repeated runs: results.json + profile JSONs -> per-dataset Markdown
(mean ± 95 % CI, paired differences to the published pools), CSV and PNG.

    python tools/report.py runs/demo --out runs/demo/report [--reference original]
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from softpool3d.report import REFERENCE, conclusion, load, to_markdown, write_report


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="results.json / profile JSON files or folders")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--reference", default=REFERENCE,
                   help="pool the paired differences are taken against (default: original)")
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)

    results, profiles = load(args.paths)
    if not results:
        print("error: found no results.json in " + " ".join(args.paths), file=sys.stderr)
        return 2
    tables = write_report(args.paths, args.out, not args.no_plot, args.reference)
    for dataset, rows in sorted(tables.items()):
        print(to_markdown(dataset, rows))
        print(conclusion(rows, args.reference) + "\n")
    print(f"wrote {args.out}/report.md and one .md/.csv/.png per dataset")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
