"""Fixtures shared by the tests. Shared helpers are plain modules beside this file (importable
because pyproject.toml puts tests/ on the path):

- ``_tiny_run.py``: generated datasets, a tiny training through tools/train.py, the environment of
  tools run as subprocesses, snapshots and damaged checkpoints (the end-to-end tests);
- ``_pool_cases.py``: pooling cases, dtypes and tolerances of the operator tests;
- ``_infinity_cases.py``: the infinity/NaN windows and their scalar oracle.

Long tests (wheel, sdist, multi-node, running the docs) carry the ``slow`` marker; the README's
command runs them all, ``-m "not slow"`` leaves them out while iterating."""
import pytest

from _tiny_run import SMALL, make_data, soft_train


@pytest.fixture(scope="module")
def data_root(request, tmp_path_factory):
    """A real generated dataset, one per test module: ``SMALL`` unless the module sets
    ``SYNTHETIC`` (e.g. ``SYNTHETIC = MEDIUM`` from _tiny_run)."""
    size = getattr(request.module, "SYNTHETIC", SMALL)
    return make_data(tmp_path_factory.mktemp("synthetic"), size)


@pytest.fixture(scope="module")
def soft_run(data_root, tmp_path_factory):
    """A one-epoch SoftPool run of the tiny recipe (``model.pool=soft`` given on the command line,
    as the README does) on ``data_root``, one per test module."""
    out = tmp_path_factory.mktemp("runs") / "run01"
    assert soft_train(data_root, out) == 0
    return out
