#!/usr/bin/env python
"""Train a video model from a config, then run the multi-view test and write results.json.

The logic is in softpool3d/cli/train.py (also installed as the `softpool3d-train` command).
"""
from softpool3d.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
