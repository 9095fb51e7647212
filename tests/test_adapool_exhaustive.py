"""AdaPool on every small legal geometry (every legal_1d geometry along each axis, as for
SoftPool) against the float64 reference: the compiled CPU kernel, and the CUDA kernels'
per-element bodies (csrc/adapool_device_body.h) run on the CPU by the test-only ops
softpool3d_testing::ada_device_body_forward/_backward (_testing_ops.py) in an emulated launch
(both index widths, the kernels' own launch shape and a small grid that needs several passes). The
CPU kernel runs the bodies themselves for few channels and columns, lane loops over the channels or
along W otherwise."""
import pytest
import torch

import softpool3d
from softpool3d import adapool, reference
from _pool_cases import (CASES, DTYPES, TOL, assert_close_to, exhaustive_cases, legal_1d,
                         single_thread)
from _testing_ops import ops as test_ops
from _testing_ops import require

pytestmark = pytest.mark.skipif(not adapool.has_ada_kernel("cpu"),
                                reason="the compiled AdaPool kernel is required")
ops = torch.ops.softpool3d
one_thread = pytest.fixture(autouse=True)(single_thread)


def close(actual, expected, tol):
    """Elementwise |a - e| <= tol (|e| + max|e|); NaN where expected is NaN."""
    scale = expected[torch.isfinite(expected)].abs().max().item() if expected.numel() else 0.0
    same = (actual == expected) | (torch.isnan(actual) & torch.isnan(expected))
    return bool((same | ((actual - expected).abs() <= tol * (expected.abs() + scale))).all())


def triple(v, default=None):
    v = default if v is None else v
    return [v] * 3 if isinstance(v, int) else list(v)


def reference_run(x, k, s, p, ceil, gen, per_output):
    """Float64 reference halves (edscw, em), a mix weight b in [0, 1] (one, or one per output
    where ``per_output``), the mixed output, a random upstream gradient g of it and the
    reference input gradient."""
    xr = x.detach().double().requires_grad_()
    kk, ss, pp = triple(k), triple(s, k), triple(p)
    out = [softpool3d._frontend.pooled_size(i, a, b, c, ceil)
           for i, a, b, c in zip(x.shape[2:], kk, ss, pp)]
    yd, ym = reference.ada_dual5d(xr, kk, ss, pp, ceil, out)
    b = torch.rand(yd.shape if per_output else (), dtype=torch.float64, generator=gen)
    g = torch.randn(yd.shape, dtype=torch.float64, generator=gen)
    y = b * yd + (1 - b) * ym
    (gx,) = torch.autograd.grad((y * g).sum(), xr)
    return yd.detach(), ym.detach(), y.detach(), b, g, gx


def fmt_of(x):
    cl = x.dim() == 5 and not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last_3d)
    return torch.channels_last_3d if cl else torch.contiguous_format


def launch(numel, kind):
    return (test_ops.launch_blocks(numel), test_ops.launch_threads()) if kind == "kernel" \
        else (2, 3)


def kernel_run(x, k, s, p, ceil, b, g, runner):
    """(edscw, em, y, grad_input) of the compiled op (runner None) or the device bodies
    (runner = (bits, kind)) for mix weight b and upstream gradient g; the halves are the saved
    statistics' planes."""
    kk, ss, pp = triple(k), triple(s, k), triple(p)
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    b = b.to(acc)
    if runner is None:
        y, st = ops.ada_pool_forward(x, b, kk, ss, pp, ceil)
    else:
        require()
        bits, kind = runner
        y, st = test_ops.ada_device_body_forward(x, b, kk, ss, pp, ceil, bits,
                                                 *launch(x.numel(), kind))
    g = g.to(acc).contiguous(memory_format=fmt_of(x))
    if runner is None:
        gx = ops.ada_pool_backward(g, x, b, st, kk, ss, pp)
    else:
        gx = test_ops.ada_device_body_backward(g, x, b, st, kk, ss, pp, bits,
                                               *launch(x.numel(), kind))
    halves = st.unflatten(0, (adapool.N_STATS, -1))
    return halves[5], halves[4], y, gx


# float32 gradients: d dsc / d m grows as 1 / max(|x|, |m|), so windows whose mean is near 0 are
# ill-conditioned; their float32 rounding reaches a few 1e-6 of the largest gradient.
GRAD_TOL = {torch.float64: 1e-12, torch.float32: 5e-6}


def mismatches(cases, channels_last, dtype, runner_for, seed=0):
    bad = []
    gen = torch.Generator().manual_seed(seed)
    tol = TOL[dtype]
    for i, (shape, k, s, p, ceil) in enumerate(cases):
        x = torch.randn(shape, dtype=torch.float64, generator=gen).to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        yd_r, ym_r, y_r, b, g, gx_r = reference_run(x, k, s, p, ceil, gen, per_output=i % 2 == 1)
        yd, ym, y, gx = kernel_run(x, k, s, p, ceil, b, g, runner_for(i))
        if yd.shape != yd_r.shape or not (close(yd.double(), yd_r, tol) and
                                          close(ym.double(), ym_r, tol) and
                                          close(y.double(), y_r, tol) and
                                          close(gx.double(), gx_r, GRAD_TOL[dtype])):
            bad.append((shape, k, s, p, ceil))
    return bad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["D", "H", "W"])
def test_cpu_kernel_every_small_geometry(axis, channels_last, dtype):
    # 9 channels: the CPU kernel's lane loops (8 or more channels) with a remainder lane
    cases = exhaustive_cases(axis, batch=(1, 9))
    bad = mismatches(cases, channels_last, dtype, lambda i: None, seed=axis)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:5]}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_cpu_kernel_long_rows(dtype):
    """Contiguous rows long enough for the lanes along W (8 or more interior output columns),
    every legal geometry along W at two lengths, with the border columns and row blocks."""
    cases = []
    for i, (size, k, s, p, ceil) in enumerate(legal_1d(sizes=(19, 26))):
        other = [(3, 2, 1, 1), (2, 1, 1, 0), (4, 3, 2, 1)][i % 3]
        cases.append(((1, 2, other[0], 3, size), (other[1], 2, k), (other[2], 1, s),
                      (other[3], 1, p), ceil))
    bad = mismatches(cases, False, dtype, lambda i: None, seed=5)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:5]}"


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["D", "H", "W"])
def test_device_bodies_every_small_geometry(axis, channels_last, bits):
    cases = exhaustive_cases(axis)
    bad = mismatches(cases, channels_last, torch.float64,
                     lambda i: (bits, ("kernel", "passes")[i % 2]), seed=10 + axis)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:5]}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_device_bodies_shared_cases_every_dtype(channels_last, dtype):
    gen = torch.Generator().manual_seed(1)
    for j, (shape, k, s, p, ceil) in enumerate(CASES[:8]):
        x = torch.randn(shape, generator=gen).to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        yd_r, ym_r, y_r, b, g, gx_r = reference_run(x, k, s, p, ceil, gen, per_output=j % 3 == 0)
        yd, ym, y, gx = kernel_run(x, k, s, p, ceil, b, g, (32 if j % 2 else 64, "kernel"))
        assert gx.dtype == y.dtype == dtype and yd.dtype == (torch.float64 if dtype == torch.float64
                                                             else torch.float32)
        assert_close_to(yd, yd_r, dtype)
        assert_close_to(ym, ym_r, dtype)
        assert_close_to(y, y_r, dtype)
        assert_close_to(gx, gx_r, dtype)
        # the compiled CPU kernel: the same bodies (few channels and columns: identical bits)
        # or its lane loops
        ydk, ymk, yk, gxk = kernel_run(x, k, s, p, ceil, b, g, None)
        if shape[1] < 8 and (channels_last or shape[-1] < 8):
            assert all(torch.equal(a, c) for a, c in ((ydk, yd), (ymk, ym), (yk, y), (gxk, gx)))
        assert_close_to(yk, y_r, dtype)
        assert_close_to(gxk, gx_r, dtype)


def test_device_bodies_extreme_magnitudes():
    gen = torch.Generator().manual_seed(0)
    for dtype, magnitude in [(torch.float32, 1e30), (torch.float32, 3e37), (torch.float64, 1e300)]:
        x = ((torch.rand(2, 3, 4, 6, 6, generator=gen) * 2 - 1).double() * magnitude).to(dtype)
        yd_r, ym_r, y_r, b, g, gx_r = reference_run(x, 3, 2, 1, True, gen, per_output=True)
        for bits in (32, 64):
            yd, ym, y, gx = kernel_run(x, 3, 2, 1, True, b, g, (bits, "kernel"))
            assert torch.isfinite(y).all() and torch.isfinite(gx).all()
            assert_close_to(y, y_r, dtype)
            assert_close_to(yd, yd_r, dtype)
            assert_close_to(ym, ym_r, dtype)
