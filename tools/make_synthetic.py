#!/usr/bin/env python
"""Generate the synthetic motion-classification dataset (real H.264 videos, UCF-101 layout).

The logic is in softpool3d/cli/make_synthetic.py (also installed as the `softpool3d-make-synthetic` command).
"""
from softpool3d.cli.make_synthetic import main

if __name__ == "__main__":
    raise SystemExit(main())
