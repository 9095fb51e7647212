"""The test-only ops: ``softpool3d._C_testing`` (csrc/testing/), which runs the CUDA kernels'
per-element bodies on the CPU in an emulated launch. Built only with ``SOFTPOOL_BUILD_TEST_OPS=1``
(tools/setup_env.sh sets it; users' builds leave it out). Tests that run them call ``require()``
(or take it as an autouse fixture): without the module they skip, unless
``SOFTPOOL_EXPECT_TEST_OPS=1`` (CI) says it must be there, and then they fail."""
import os

import pytest
import torch

try:
    from softpool3d import _C_testing  # noqa: F401  (loading the library registers the ops)
    IMPORT_ERROR = None
except ImportError as err:
    IMPORT_ERROR = err

ops = torch.ops.softpool3d_testing


def require():
    """Skip the calling test when the test-only ops are not built; fail it where they must be."""
    if IMPORT_ERROR is None:
        return
    why = f"softpool3d._C_testing is not built (build with SOFTPOOL_BUILD_TEST_OPS=1): {IMPORT_ERROR}"
    if os.environ.get("SOFTPOOL_EXPECT_TEST_OPS") == "1":
        pytest.fail(f"{why}; SOFTPOOL_EXPECT_TEST_OPS=1 says it must be", pytrace=False)
    pytest.skip(why)
