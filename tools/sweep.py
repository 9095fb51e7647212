#!/usr/bin/env python
"""Train and test a grid of models x pools x pool sites x seeds, skipping finished runs.

The logic is in softpool3d/cli/sweep.py (also installed as the `softpool3d-sweep` command).
"""
from softpool3d.cli.sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
