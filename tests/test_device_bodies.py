"""The CUDA kernels' per-element bodies (csrc/softpool_device_body.h), run on the CPU by the
test-only ops softpool3d_testing::device_body_forward/_backward (_testing_ops.py) in a host loop
that emulates a launch, against the float64 reference: every small geometry, the shared cases in
every dtype, both index widths and layouts, extreme magnitudes. Also the 64-bit grid-stride loop
near 2^31."""
import pytest
import torch

from softpool3d import reference
from _pool_cases import (CASES, assert_close_to, assert_grad_close_to, case_input, each_case,
                         exhaustive_cases, single_thread)
from _testing_ops import ops, require

one_thread = pytest.fixture(autouse=True)(single_thread)
needs_test_ops = pytest.fixture(autouse=True)(require)


def triple(v, default=None):
    v = default if v is None else v
    return [v] * 3 if isinstance(v, int) else list(v)


def launch(numel, kind):
    """(grid, block): the kernels' own launch shape, or a small grid that needs several passes."""
    if kind == "kernel":
        return ops.launch_blocks(numel), ops.launch_threads()
    return 2, 3


def body_run(x, k, s, p, ceil, paper, bits, kind, g):
    """Device-body forward and backward: (y, lse, grad_input)."""
    k, s, p = triple(k), triple(s, k), triple(p)
    y, lse = ops.device_body_forward(x, k, s, p, ceil, bits, *launch(x.numel(), kind))
    gx = ops.device_body_backward(g.to(x.dtype).contiguous(memory_format=_fmt(x)), x, y, lse,
                                  k, s, p, paper, bits, *launch(x.numel(), kind))
    return y, lse, gx


def _fmt(x):
    cl = x.dim() == 5 and not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last_3d)
    return torch.channels_last_3d if cl else torch.contiguous_format


def reference_run(x, k, s, p, ceil, paper, gen):
    """Float64 reference output, a random grad_output and the reference gradient."""
    xr = x.detach().double().requires_grad_()
    y = reference.soft_pool3d(xr, k, s, p, ceil, "paper" if paper else "exact")
    g = torch.randn(y.shape, dtype=torch.float64, generator=gen)
    y.backward(g)
    return y.detach(), g, xr.grad


def exact(actual, expected, tol=1e-12):
    scale = expected[torch.isfinite(expected)].abs().max().item() if expected.numel() else 0.0
    same = (actual == expected) | (torch.isnan(actual) & torch.isnan(expected))
    return bool((same | ((actual - expected).abs() <= tol * (expected.abs() + scale))).all())


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["D", "H", "W"])
def test_every_small_geometry(axis, channels_last, bits):
    gen = torch.Generator().manual_seed(axis)
    bad = []
    for i, (shape, k, s, p, ceil) in enumerate(exhaustive_cases(axis)):
        x = torch.randn(shape, dtype=torch.float64, generator=gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        y_ref, g, gx_ref = reference_run(x, k, s, p, ceil, False, gen)
        y, lse, gx = body_run(x, k, s, p, ceil, False, bits, ("kernel", "passes")[i % 2], g)
        if not (exact(y, y_ref) and exact(gx, gx_ref)):
            bad.append((shape, k, s, p, ceil))
    assert not bad, f"{len(bad)} cases differ, e.g. {bad[:5]}"


@pytest.mark.parametrize("bits", [32, 64])
@each_case(CASES)
def test_shared_cases_every_dtype(case, channels_last, dtype, bits):
    shape, k, s, p, ceil = case
    gen = torch.Generator().manual_seed(1)
    x = case_input(shape, dtype, channels_last, gen)
    for paper in (False, True):
        y_ref, g, gx_ref = reference_run(x, k, s, p, ceil, paper, gen)
        y, lse, gx = body_run(x, k, s, p, ceil, paper, bits, "kernel", g)
        assert y.dtype == dtype and lse.dtype == (torch.float64 if dtype == torch.float64
                                                  else torch.float32)
        assert_close_to(y, y_ref, dtype)
        assert_close_to(gx, gx_ref, dtype)
        if channels_last and shape[1] > 1:
            assert y.is_contiguous(memory_format=torch.channels_last_3d)


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("dtype,magnitude", [(torch.float32, 1e4), (torch.float32, 1e30),
                                             (torch.float32, 3e38), (torch.float16, 6e4),
                                             (torch.bfloat16, 3e38), (torch.float64, 1e300)])
def test_extreme_magnitudes(dtype, magnitude, bits):
    gen = torch.Generator().manual_seed(0)
    x = ((torch.rand(2, 3, 4, 6, 6, generator=gen) * 2 - 1).double() * magnitude).to(dtype)
    y_ref, g, gx_ref = reference_run(x, 3, 2, 1, True, False, gen)
    y, lse, gx = body_run(x, 3, 2, 1, True, False, bits, "kernel", g)
    assert torch.isfinite(y).all() and torch.isfinite(gx).all()
    assert_close_to(y, y_ref, dtype)
    assert_grad_close_to(gx, gx_ref, x, dtype)


def test_every_index_is_visited_once_by_a_multi_pass_launch():
    x = torch.randn(2, 3, 5, 6, 7, dtype=torch.float64)
    for grid, block in [(1, 1), (2, 3), (5, 7), (1000, 256)]:
        y, _ = ops.device_body_forward(x, [2, 2, 2], [2, 2, 2], [0, 0, 0], True, 32, grid, block)
        assert not torch.isnan(y).any()  # outputs start as NaN: a missed index would stay NaN
        seen = torch.cat([ops.grid_stride_visits(x.numel(), grid, block, b, t, 10**6)
                          for b in range(grid) for t in range(block)])
        assert torch.equal(seen.sort().values, torch.arange(x.numel()))


@pytest.mark.parametrize("total", [2**30 + 1, 2**31 - 1, 2**31 + 5, 3 * 2**31])
def test_grid_stride_loop_near_2_31(total):
    """The kernels' own launch shape for numel near 2^31: every thread's indices are exactly
    range(first, total, step) (a 32-bit counter would wrap negative past 2^31 and keep going)."""
    block = ops.launch_threads()
    grid = ops.launch_blocks(total)
    step = grid * block
    assert step >= min(total, 2**30 * block) and step <= 2**40
    for b, t in [(grid - 1, block - 1), (grid - 1, 0), (grid // 2, 17), (0, 0)]:
        first = b * block + t
        want = list(range(first, total, step))[:1000]
        got = ops.grid_stride_visits(total, grid, block, b, t, 1000).tolist()
        assert got == want, (b, t)


def test_grid_stride_loop_with_a_small_grid_near_2_31():
    """A grid capped well below the size (e.g. SM count x occupancy) makes many passes; the last
    ones run past 2^31 for 2^30 < total < 2^31."""
    total, grid, block = 2**31 - 3, 132 * 8, 256
    for b, t in [(grid - 1, block - 1), (0, 0), (77, 5)]:
        first = b * block + t
        got = ops.grid_stride_visits(total, grid, block, b, t, 10**6)
        want = torch.arange(first, total, grid * block)
        assert torch.equal(got, want)
        assert got[-1] + grid * block >= total and got[-1] + grid * block > 2**31 - 1


def test_32_bit_indexing_refuses_tensors_too_large_for_it():
    x = torch.empty(1, 1, 1, 1, 2**31, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="32-bit"):
        ops.device_body_forward(x, [1, 1, 2], [1, 1, 2], [0, 0, 0], False, 32, 1, 1)
