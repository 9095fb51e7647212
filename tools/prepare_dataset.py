#!/usr/bin/env python
"""Prepare Kinetics / UCF-101 / HMDB-51: check the copy against its annotations, re-encode every

The logic is in softpool3d/cli/prepare_dataset.py (also installed as the `softpool3d-prepare-dataset` command).
"""
from softpool3d.cli.prepare_dataset import main

if __name__ == "__main__":
    raise SystemExit(main())
