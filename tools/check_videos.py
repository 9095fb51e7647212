#!/usr/bin/env python
"""Find unreadable videos, in parallel, and write their list (``path<TAB>reason`` per line).

The logic is in softpool3d/cli/check_videos.py (also installed as the `softpool3d-check-videos` command).
"""
from softpool3d.cli.check_videos import main

if __name__ == "__main__":
    raise SystemExit(main())
