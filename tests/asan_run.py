"""Runs the CPU kernels and the device bodies of an AddressSanitizer build of the extension
(loaded by path; the softpool3d package is not imported, its _C would register the same ops;
the library holds the test-only ops of softpool3d._C_testing too).
Usage: LD_PRELOAD=libasan.so python asan_run.py LIB.so. ASan aborts on the first bad access;
otherwise exits 1 if the kernel and the device bodies disagree (float64), else 0."""
import sys

import torch

from _pool_cases import CASES, exhaustive_cases  # found beside this script


def triple(v, default=None):
    v = default if v is None else v
    return [v] * 3 if isinstance(v, int) else list(v)


def run(case, channels_last, dtype, gen):
    shape, k, s, p, ceil = case
    k, s, p = triple(k), triple(s, k), triple(p)
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    ops, test_ops = torch.ops.softpool3d, torch.ops.softpool3d_testing
    y, lse = ops.soft_pool_forward(x, k, s, p, ceil, False)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(dtype)
    gx = ops.soft_pool_backward(g, x, y, lse, k, s, p, False)
    yb, lseb = test_ops.device_body_forward(x, k, s, p, ceil, 32, 2, 3)
    gxb = test_ops.device_body_backward(g, x, yb, lseb, k, s, p, False, 64, 2, 3)
    tol = 1e-10 if dtype == torch.float64 else 1e-2
    return torch.allclose(y.double(), yb.double(), rtol=tol, atol=tol) and \
        torch.allclose(gx.double(), gxb.double(), rtol=tol, atol=tol)


def main(lib):
    torch.ops.load_library(lib)
    torch.set_num_threads(2)  # parallel_for chunks too
    gen = torch.Generator().manual_seed(0)
    bad, count = [], 0
    for channels_last in (False, True):
        for axis in range(3):
            for case in exhaustive_cases(axis):
                count += 1
                if not run(case, channels_last, torch.float64, gen):
                    bad.append(case)
        for case in CASES:
            for dtype in (torch.float32, torch.bfloat16, torch.float64):
                count += 1
                if not run(case, channels_last, dtype, gen):
                    bad.append((case, dtype))
    print(f"{count} cases, {len(bad)} disagree: {bad[:5]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
