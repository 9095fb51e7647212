import os
import sys

# Shared helpers in tests/ (e.g. _pool_cases.py) import as plain modules under --import-mode=importlib.
sys.path.insert(0, os.path.dirname(__file__))
