"""Windows with many cells: a legal kernel far larger than the input (with ceil_mode, as max
pooling allows), and windows holding more cells than the CPU kernel keeps at once. The compiled
kernel must match the float64 reference, and its memory must not grow with the window's volume
(a kernel of 160 on a 3x3x3 input once asked for 4 GB, one of 400 for 64 GB: std::bad_alloc)."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

import softpool3d
from softpool3d import reference

pytestmark = pytest.mark.skipif(not softpool3d.ops.has_kernel("cpu"),
                                reason="the compiled extension is required for these tests")

TOL = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 2e-2}


def layouts(x):
    yield "contiguous", x.contiguous()
    yield "channels_last_3d", x.contiguous(memory_format=torch.channels_last_3d)


def forward_backward(fn, x, *args, **kwargs):
    x = x.detach().clone().requires_grad_()
    y = fn(x, *args, **kwargs)
    g = torch.linspace(-1, 1, y.numel(), dtype=torch.float64).reshape(y.shape).to(y.dtype)
    (y * g).sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize("kernel", [160, 400, (3, 160, 7), (10 ** 7, 1, 10 ** 7)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_a_kernel_larger_than_the_input_gives_max_pools_shape_and_the_reference_value(kernel,
                                                                                      dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 3, 3, 3, dtype=torch.float64, generator=gen).to(dtype)
    want_shape = F.max_pool3d(x.float(), kernel, ceil_mode=True).shape
    # every window is clamped to the input: along a dimension where the kernel exceeds the input
    # the window is the whole input, so the reference with that kernel clamped is the same pool
    k = (kernel,) * 3 if isinstance(kernel, int) else kernel
    clamped = tuple(min(kk, 3) for kk in k)
    want_y, want_g = forward_backward(reference.soft_pool3d, x.double(), clamped, k,
                                      ceil_mode=True)
    for name, xl in layouts(x):
        y, g = forward_backward(softpool3d.soft_pool3d, xl, kernel, ceil_mode=True)
        assert y.shape == want_shape, name
        torch.testing.assert_close(y.double(), want_y, rtol=TOL[dtype], atol=TOL[dtype])
        torch.testing.assert_close(g.double(), want_g, rtol=TOL[dtype], atol=TOL[dtype])


def test_the_reference_itself_agrees_on_a_huge_kernel():
    """The float64 reference unfolds the whole (padded) window: it can run a kernel of 160 on a
    small input directly, and the compiled kernel matches it."""
    x = torch.randn(1, 2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    want_y, want_g = forward_backward(reference.soft_pool3d, x, 160, ceil_mode=True)
    for name, xl in layouts(x):
        y, g = forward_backward(softpool3d.soft_pool3d, xl, 160, ceil_mode=True)
        torch.testing.assert_close(y, want_y, rtol=1e-12, atol=1e-12, msg=name)
        torch.testing.assert_close(g, want_g, rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.parametrize("case", [
    ((1, 2, 12, 12, 12), 11, 1, 0),     # 1331 cells per window: loaded in two chunks
    ((1, 3, 13, 14, 15), (13, 9, 9), (2, 3, 4), (6, 4, 4)),  # 1053, clamped at the borders
    ((2, 2, 16, 16, 16), 16, 16, 0),    # a global pool, 4096 cells (4 chunks), W whole rows
    ((1, 300, 8, 12, 12), (8, 12, 11), 1, 0),  # more channels than one lane chunk
])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_windows_with_more_cells_than_one_chunk_match_the_reference(case, dtype):
    shape, k, s, p = case
    gen = torch.Generator().manual_seed(2)
    x = (3 * torch.randn(shape, dtype=torch.float64, generator=gen)).to(dtype)
    want_y, want_g = forward_backward(reference.soft_pool3d, x.double(), k, s, p)
    for name, xl in layouts(x):
        y, g = forward_backward(softpool3d.soft_pool3d, xl, k, s, p)
        torch.testing.assert_close(y.double(), want_y, rtol=TOL[dtype], atol=TOL[dtype],
                                   msg=name)
        torch.testing.assert_close(g.double(), want_g, rtol=TOL[dtype], atol=TOL[dtype],
                                   msg=name)


def test_infinities_and_nan_in_a_later_chunk_still_decide_the_window():
    """The max pass runs over every chunk before the sums: a +inf or NaN among the last cells of a
    1331-cell window (past the first chunk) decides it, as in a window that fits in one chunk."""
    x = torch.randn(1, 3, 11, 11, 12, generator=torch.Generator().manual_seed(3))
    x[0, 0, 10, 10, 10] = float("inf")
    x[0, 1, 10, 10, 9] = float("nan")
    x[0, 2, 10, 10, 10] = 80.0  # dominates: the result is that value
    want = reference.soft_pool3d(x.double(), 11, 1)
    for name, xl in layouts(x):
        y = softpool3d.soft_pool3d(xl, 11, 1)
        assert torch.isinf(y[0, 0]).all() and torch.isnan(y[0, 1]).all(), name
        torch.testing.assert_close(y[0, 2].double(), want[0, 2], rtol=1e-6, atol=1e-6, msg=name)


def test_memory_does_not_grow_with_the_window_volume(tmp_path):
    """Under an address-space limit of 1.5 GB above what the process already maps, kernels of 160
    and 400 on a 3x3x3 input (4 GB and 64 GB of scratch before) and a global pool of a larger
    input run in both layouts. A subprocess, so the limit binds nothing else."""
    code = textwrap.dedent("""
        import resource, torch, softpool3d
        torch.set_num_threads(1)
        x = torch.randn(1, 2, 3, 3, 3)
        big = torch.randn(1, 4, 32, 64, 64)
        with open("/proc/self/status") as f:
            vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        limit = vm + 1536 * 2 ** 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        for t in (x, x.contiguous(memory_format=torch.channels_last_3d)):
            for k in (160, 400, (3, 3, 10 ** 9)):
                t = t.detach().requires_grad_()
                y = softpool3d.soft_pool3d(t, k, ceil_mode=True)
                assert y.shape == (1, 2, 1, 1, 1), y.shape
                y.sum().backward()
                assert t.grad.shape == t.shape
        for t in (big, big.contiguous(memory_format=torch.channels_last_3d)):
            assert softpool3d.soft_pool3d(t, (32, 64, 64)).shape == (1, 4, 1, 1, 1)
        print("ok")
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
