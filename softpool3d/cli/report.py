"""Accuracy-vs-cost report: results.json + profile JSON files -> per-dataset Markdown, CSV and PNG.

    python tools/report.py runs/demo --out runs/demo/report
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Optional, Sequence

from softpool3d.report import NO_RESULTS, build_tables, load, plot, to_markdown, write_csv

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "dataset"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="results.json / profile JSON files or folders")
    p.add_argument("--out", default="report", help="output folder (default: report/)")
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)

    results, profiles = load(args.paths)
    if not results and not profiles:
        print("error: found no results.json or profile JSON files in " + " ".join(args.paths),
              file=sys.stderr)
        return 2
    tables = build_tables(results, profiles)
    os.makedirs(args.out, exist_ok=True)
    sections = []
    for dataset in sorted(tables, key=lambda d: (d == NO_RESULTS, d)):
        rows, stem = tables[dataset], os.path.join(args.out, _safe(dataset))
        md = to_markdown(dataset, rows)
        sections.append(md)
        with open(stem + ".md", "w") as f:
            f.write(md)
        write_csv(stem + ".csv", rows)
        if not args.no_plot and dataset != NO_RESULTS:
            plot(stem + ".png", dataset, rows)
    text = "# Accuracy vs cost\n\n" + "\n".join(sections)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {args.out}/report.md and one .md/.csv/.png per dataset")
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
