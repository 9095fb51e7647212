#!/usr/bin/env python
"""Profile a model: parameters, GFLOPs (per view and x views), peak memory of inference and of one

The logic is in softpool3d/cli/profile_model.py (also installed as the `softpool3d-profile-model` command).
"""
from softpool3d.cli.profile_model import main

if __name__ == "__main__":
    raise SystemExit(main())
