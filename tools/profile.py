#!/usr/bin/env python
"""Profile a model: parameters, GFLOPs, peak memory, latency (``--compile``, ``--compare``).

The logic is in softpool3d/cli/profile.py (also installed as the `softpool3d-profile` command).
"""
import os
import sys

# A script in tools/ has tools/ first on sys.path, where this file shadows the standard library's
# `profile` (imported by cProfile, and so by torch and torch.compile). Imported under that name, it
# loads the real module in its place; run as a script, it drops its own folder from sys.path.
if __name__ != "__main__":
    import importlib.util
    import sysconfig
    _spec = importlib.util.spec_from_file_location(
        __name__, os.path.join(sysconfig.get_paths()["stdlib"], "profile.py"))
    sys.modules[__name__] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[__name__])
else:
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    from softpool3d.cli.profile import main
    raise SystemExit(main())
