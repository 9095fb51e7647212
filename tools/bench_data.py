#!/usr/bin/env python
"""Data-loading benchmark: the project's loader vs raw decord vs pytorchvideo, on real H.264 videos.

The logic is in softpool3d/cli/bench_data.py (also installed as the `softpool3d-bench-data` command).
"""
from softpool3d.cli.bench_data import main

if __name__ == "__main__":
    raise SystemExit(main())
