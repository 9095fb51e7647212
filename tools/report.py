#!/usr/bin/env python
"""Collect training results and profiles into one accuracy-vs-cost table per dataset.

The logic is in softpool3d/cli/report.py (also installed as the `softpool3d-report` command).
"""
from softpool3d.cli.report import main

if __name__ == "__main__":
    raise SystemExit(main())
