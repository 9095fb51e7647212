#!/usr/bin/env python
"""Information retention of pooling methods (the SoftPool paper's SSIM/PSNR experiment, on video).

The logic is in softpool3d/cli/bench_retention.py (also installed as the `softpool3d-bench-retention` command).
"""
from softpool3d.cli.bench_retention import main

if __name__ == "__main__":
    raise SystemExit(main())
