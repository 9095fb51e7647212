#!/usr/bin/env python
"""Evaluate a checkpoint with the multi-view protocol (clips x crops per video, scores averaged):

The logic is in softpool3d/cli/test.py (also installed as the `softpool3d-test` command).
"""
from softpool3d.cli.test import main

if __name__ == "__main__":
    raise SystemExit(main())
