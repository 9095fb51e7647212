#!/usr/bin/env python
"""Benchmark SoftPool against torch's pools and the composite formula users copy.

The logic is in softpool3d/cli/bench_pool.py (also installed as the `softpool3d-bench-pool` command).
"""
from softpool3d.cli.bench_pool import main

if __name__ == "__main__":
    raise SystemExit(main())
