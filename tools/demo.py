#!/usr/bin/env python
"""The benchmark on the embedded synthetic dataset, in one command (CPU, ~6 min on 2 free cores):

The logic is in softpool3d/cli/demo.py (also installed as the `softpool3d-demo` command).
"""
from softpool3d.cli.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
