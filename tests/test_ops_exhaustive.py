"""Every legal small geometry along every dimension, both layouts, forward and backward against
softpool3d.reference in float64 (sizes 1-4, kernels 1-5, strides 1-3, padding 0..k//2, ceil_mode),
and in float32/bfloat16 at their tolerances. Small W with padding once read and wrote outside the
buffers."""
import pytest
import torch

import softpool3d
from softpool3d import reference
from _pool_cases import single_thread, exhaustive_cases, legal_1d

pytestmark = pytest.mark.skipif(not softpool3d.ops.has_kernel("cpu"),
                                reason="the compiled extension is required for these tests")


one_thread = pytest.fixture(autouse=True)(single_thread)


def close(actual, expected, tol=1e-12):
    """Elementwise |a - e| <= tol (|e| + max|e|), NaN where expected is NaN, same infinities."""
    scale = expected[torch.isfinite(expected)].abs().max().item() if expected.numel() else 0.0
    same = (actual == expected) | (torch.isnan(actual) & torch.isnan(expected))
    err = (actual - expected).abs()
    return bool((same | (err <= tol * (expected.abs() + scale))).all())


TOL = {torch.float64: 1e-12, torch.float32: 1e-6, torch.bfloat16: 1.6e-2}


def mismatches(cases, channels_last, seed=0, dtype=torch.float64):
    """The cases whose output or gradient differs from the float64 reference (on the same,
    already rounded, input values)."""
    bad = []
    gen = torch.Generator().manual_seed(seed)
    for case in cases:
        shape, k, s, p, ceil = case
        x = torch.randn(shape, dtype=torch.float64, generator=gen).to(dtype)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        xk, xr = x.clone().requires_grad_(), x.double().requires_grad_()
        y = softpool3d.soft_pool3d(xk, k, s, p, ceil)
        y_ref = reference.soft_pool3d(xr, k, s, p, ceil)
        g = torch.randn(y_ref.shape, dtype=torch.float64, generator=gen)
        y.backward(g.to(dtype))
        y_ref.backward(g)
        tol = TOL[dtype]
        if y.shape != y_ref.shape or not close(y.double(), y_ref, tol) or \
                not close(xk.grad.double(), xr.grad, tol):
            bad.append(case)
    return bad


def test_legal_1d_is_exhaustive():
    cases = list(legal_1d())
    assert len(cases) == len(set(cases))
    assert (1, 3, 2, 1, False) in cases and (1, 5, 1, 2, True) in cases  # geometries that once read out of bounds
    assert all(p <= k // 2 for size, k, s, p, ceil in cases)
    # kernels larger than the padded input, legal (as in max pooling) only through ceil_mode
    assert (1, 2, 2, 0, True) in cases and (1, 2, 2, 0, False) not in cases
    assert {c[1] for c in cases} == {1, 2, 3, 4, 5} and {c[2] for c in cases} == {1, 2, 3}


@pytest.mark.parametrize("dtype", list(TOL), ids=str)
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
@pytest.mark.parametrize("axis", [0, 1, 2], ids=["D", "H", "W"])
def test_every_small_geometry_matches_reference(axis, channels_last, dtype):
    cases = exhaustive_cases(axis)
    bad = mismatches(cases, channels_last, dtype=dtype)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:5]}"


@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels_last"])
def test_random_small_geometries_in_all_dimensions_at_once(channels_last):
    """Legal geometries drawn independently per dimension (one shared ceil_mode)."""
    per_ceil = {c: [d for d in legal_1d() if d[4] == c] for c in (False, True)}
    gen = torch.Generator().manual_seed(7)
    cases = []
    for i in range(150):
        ceil = bool(i % 2)
        per_dim = per_ceil[ceil]
        picks = [per_dim[j] for j in torch.randint(len(per_dim), (3,), generator=gen).tolist()]
        cases.append(((1, 2) + tuple(d[0] for d in picks), tuple(d[1] for d in picks),
                      tuple(d[2] for d in picks), tuple(d[3] for d in picks), ceil))
    bad = mismatches(cases, channels_last, seed=1)
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. {bad[:5]}"


def test_a_width_of_one_with_padding_stays_in_bounds():
    """W = 1, kernel 3, padding 1: the geometry whose padded cells were once read and written
    outside the buffers."""
    x = torch.randn(1, 2, 3, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert not mismatches([(tuple(x.shape), (1, 1, 3), (1, 1, 2), (0, 0, 1), False)], False)
