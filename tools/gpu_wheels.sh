#!/usr/bin/env bash
# Collect the pure-Python wheels the device image lacks into .whl/ (carried by the device tool;
# .whl/ is git-ignored). Run here, before a device call.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
.venv/bin/python -m pip wheel -q --no-deps -w .whl pytorchvideo==0.1.5 fvcore==0.1.5.post20221221 \
  iopath yacs tabulate termcolor portalocker parameterized
ls -la .whl
