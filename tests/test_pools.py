"""The pooling zoo (softpool3d.pools): shapes as max pooling, gradients, and each method's maths."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from softpool3d import reference
from softpool3d.pools import (POOLS, GatedPool, LipPool, MixedPool, build_adaptive_pool,
                              build_pool, adaptive_pool_names, pool_names)

warnings.filterwarnings("ignore", message="softpool3d: .*reference")

# (shape, kernel, stride, padding, ceil_mode)
CASES = [
    ((2, 3, 5, 6, 7), 2, None, 0, False),
    ((2, 3, 5, 6, 7), 3, 2, 1, True),
    ((1, 4, 7, 9, 11), (2, 3, 3), (1, 2, 1), (1, 1, 0), True),
    ((3, 5, 4, 6, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1), False),
    ((2, 5, 4, 6, 5), 2, 3, (1, 0, 1), True),
    ((2, 3, 8, 7, 7), (8, 7, 7), 1, 0, False),
    ((1, 1, 1, 1, 1), 1, None, 0, False),
]
IDS = [f"k{c[1]}-s{c[2]}-p{c[3]}-{'ceil' if c[4] else 'floor'}-{'x'.join(map(str, c[0]))}"
       for c in CASES]
ADAPTIVE = [n for n in POOLS if POOLS[n].adaptive is not None]


def make(name, case, **kw):
    shape, k, s, p, ceil = case
    return build_pool(name, k, s, p, ceil, channels=shape[1], **kw)


def test_registry_names():
    assert set(pool_names()) >= {"max", "avg", "lp", "soft", "soft_paper", "stochastic", "mixed",
                                 "gated", "lip"}
    assert set(adaptive_pool_names()) == set(ADAPTIVE) and "gated" not in ADAPTIVE
    for cls in POOLS.values():
        assert cls.__doc__ and cls.__doc__.strip(), cls


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("name", list(POOLS))
def test_shape_as_max_and_backward(name, case):
    torch.manual_seed(0)
    shape, k, s, p, ceil = case
    x = torch.randn(shape, requires_grad=True)
    pool = make(name, case)
    y = pool(x)
    assert y.shape == F.max_pool3d(x, k, s, p, ceil_mode=ceil).shape
    assert y.dtype == x.dtype and torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for param_name, param in pool.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize("name", list(POOLS))
def test_eval_mode_and_double(name):
    case = CASES[1]
    x = torch.randn(case[0], dtype=torch.float64)
    pool = make(name, case).double().eval()
    y = pool(x)
    assert y.dtype == torch.float64 and y.shape == F.max_pool3d(x, 3, 2, 1, ceil_mode=True).shape
    assert torch.equal(y, pool(x)), "eval mode must be deterministic"


def test_unknown_and_invalid_arguments():
    with pytest.raises(ValueError, match="valid names: max, avg"):
        build_pool("median", 2)
    with pytest.raises(ValueError, match="channels"):
        build_pool("lip", 2)
    with pytest.raises(ValueError, match="no adaptive/global form.*max"):
        build_adaptive_pool("gated", 1)
    with pytest.raises(ValueError, match="padding"):
        build_pool("lp", 2, padding=2)
    with pytest.raises(ValueError, match="p >= 1"):
        build_pool("lp", 2, p=0.5)
    with pytest.raises(ValueError, match="lam"):
        build_pool("mixed", 2, lam=1.0, learn=True)
    with pytest.raises(ValueError, match="5D"):
        build_pool("lp", 2)(torch.randn(3, 4, 4))


# ---------------------------------------------------------------------------------------------
# max / avg / sum

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_avg_sum(case):
    shape, k, s, p, ceil = case
    x = torch.randn(shape)
    assert torch.equal(make("max", case)(x), F.max_pool3d(x, k, s, p, ceil_mode=ceil))
    torch.testing.assert_close(make("avg", case)(x),
                               F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False))
    kernel = k if isinstance(k, tuple) else (k,) * 3
    torch.testing.assert_close(make("sum", case)(x),
                               F.avg_pool3d(x, k, s, p, ceil, count_include_pad=True,
                                            divisor_override=1))
    # sum is a plain sum of the window: check one interior window by hand
    if p == 0 and not ceil:
        kt, kh, kw = kernel
        torch.testing.assert_close(make("sum", case)(x)[..., 0, 0, 0],
                                   x[:, :, :kt, :kh, :kw].sum((2, 3, 4)))


# ---------------------------------------------------------------------------------------------
# lp

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lp_p1_is_avg_for_nonnegative_input(case):
    shape, k, s, p, ceil = case
    x = torch.rand(shape, dtype=torch.float64)
    torch.testing.assert_close(make("lp", case, p=1)(x),
                               F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lp_large_p_approaches_max(case):
    shape, k, s, p, ceil = case
    x = torch.rand(shape, dtype=torch.float64) + 0.1
    y_max = F.max_pool3d(x, k, s, p, ceil_mode=ceil)
    y_64 = make("lp", case, p=64)(x)
    y_4096 = make("lp", case, p=4096)(x)
    assert (y_64 <= y_max + 1e-12).all() and (y_64 > 0.9 * y_max).all()
    torch.testing.assert_close(y_4096, y_max, rtol=2e-3, atol=0)


def test_lp_formula_and_p2_by_hand():
    x = torch.tensor([3.0, -4.0, 0.0, 12.0]).view(1, 1, 1, 1, 4)
    y = build_pool("lp", (1, 1, 4), p=2)(x)
    assert y.item() == pytest.approx(math.sqrt((9 + 16 + 0 + 144) / 4))
    y3 = build_pool("lp", (1, 1, 2), p=3)(x)
    assert y3.flatten().tolist() == pytest.approx([((27 + 64) / 2) ** (1 / 3),
                                                   (1728 / 2) ** (1 / 3)])


def test_lp_numerically_safe():
    pool = build_pool("lp", 2, p=8)
    for scale in (1e30, 1e-30, 0.0):
        x = (torch.rand(1, 2, 4, 4, 4) * scale).requires_grad_()
        y = pool(x)
        assert torch.isfinite(y).all()
        y.sum().backward()
        assert torch.isfinite(x.grad).all()
    big = torch.full((1, 1, 2, 2, 2), 1e30)
    assert pool(big).item() == pytest.approx(1e30, rel=1e-5)
    x = torch.zeros(1, 1, 2, 2, 2, requires_grad=True)
    pool(x).sum().backward()
    assert pool(x).item() == 0 and torch.equal(x.grad, torch.zeros_like(x))


def test_lp_gradcheck():
    x = (torch.rand(1, 2, 3, 4, 4, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(build_pool("lp", 2, 1, 1, p=3), (x,))


# ---------------------------------------------------------------------------------------------
# soft

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_soft_equals_reference(case):
    shape, k, s, p, ceil = case
    x = (torch.randn(shape, dtype=torch.float64) * 3).requires_grad_()
    g = torch.randn_like(reference.soft_pool3d(x, k, s, p, ceil))
    for name, grad in (("soft", "exact"), ("soft_paper", "paper")):
        y = make(name, case)(x)
        (gx,) = torch.autograd.grad((y * g).sum(), x)
        y_ref = reference.soft_pool3d(x, k, s, p, ceil, grad=grad)
        (gx_ref,) = torch.autograd.grad((y_ref * g).sum(), x)
        torch.testing.assert_close(y, y_ref)
        torch.testing.assert_close(gx, gx_ref)


# ---------------------------------------------------------------------------------------------
# stochastic

def test_stochastic_deterministic_under_seed_and_samples_window_values():
    case = CASES[1]
    x = torch.randn(case[0])
    pool = make("stochastic", case).train()
    torch.manual_seed(3)
    a = pool(x)
    torch.manual_seed(3)
    b = pool(x)
    assert torch.equal(a, b)
    torch.manual_seed(4)
    assert not torch.equal(a, pool(x)), "another seed should draw other cells"
    # every output is one cell of its window, never a negative one next to a positive one
    x1 = torch.tensor([[1.0, 3.0, -2.0, 5.0, 0.5, 0.25]]).view(1, 1, 1, 1, 6)
    pool1 = build_pool("stochastic", (1, 1, 2)).train()
    for seed in range(20):
        torch.manual_seed(seed)
        y = pool1(x1).flatten().tolist()
        assert y[0] in (1.0, 3.0) and y[1] == 5.0 and y[2] in (0.5, 0.25)


def test_stochastic_sampling_frequencies():
    # window [1, 3]: P(3) = 3/4; window [-1, 2]: negatives never drawn
    x = torch.tensor([1.0, 3.0, -1.0, 2.0]).view(1, 1, 1, 1, 4).expand(1, 20000, 1, 1, 4)
    pool = build_pool("stochastic", (1, 1, 2)).train()
    torch.manual_seed(0)
    y = pool(x.contiguous())
    frac = (y[:, :, 0, 0, 0] == 3.0).float().mean().item()
    assert abs(frac - 0.75) < 0.02
    assert (y[:, :, 0, 0, 1] == 2.0).all()


def test_stochastic_nonpositive_window_is_uniform_over_real_cells():
    # all-negative input with padding: padded cells (value 0) must never be drawn
    x = -torch.rand(2, 3, 4, 5, 5) - 0.1
    pool = build_pool("stochastic", 3, 2, 1, ceil_mode=True).train()
    torch.manual_seed(0)
    assert (pool(x) < 0).all()
    y_eval = pool.eval()(x.double())
    torch.testing.assert_close(y_eval, F.avg_pool3d(x.double(), 3, 2, 1, True,
                                                    count_include_pad=False))


def test_stochastic_eval_expectation_by_hand():
    x = torch.tensor([1.0, 3.0, -1.0, 2.0, -1.0, -3.0, 0.0, 0.0]).view(1, 1, 1, 1, 8)
    y = build_pool("stochastic", (1, 1, 2)).eval()(x).flatten().tolist()
    # [1,3]: (1*1 + 3*3)/4; [-1,2]: p = (0, 1); [-1,-3]: uniform; [0,0]: uniform
    assert y == pytest.approx([10 / 4, 2.0, -2.0, 0.0])
    # with padding: window [pad, 2, 4] -> (4 + 16) / 6
    x2 = torch.tensor([2.0, 4.0]).view(1, 1, 1, 1, 2)
    y2 = build_pool("stochastic", (1, 1, 3), 1, (0, 0, 1)).eval()(x2).flatten().tolist()
    assert y2 == pytest.approx([20 / 6, 20 / 6])


def test_stochastic_gradient_goes_to_the_drawn_cell():
    x = torch.tensor([1.0, 3.0, 2.0, 6.0]).view(1, 1, 1, 1, 4).requires_grad_()
    pool = build_pool("stochastic", (1, 1, 2)).train()
    torch.manual_seed(1)
    y = pool(x)
    y.sum().backward()
    drawn = [0 if y.flatten()[0] == 1.0 else 1, 2 if y.flatten()[1] == 2.0 else 3]
    expected = torch.zeros(4)
    expected[drawn] = 1
    assert torch.equal(x.grad.flatten(), expected)


# ---------------------------------------------------------------------------------------------
# mixed / gated / lip

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_mixed_endpoints(case):
    shape, k, s, p, ceil = case
    x = torch.randn(shape)
    assert torch.equal(make("mixed", case, lam=1.0, learn=False)(x),
                       F.max_pool3d(x, k, s, p, ceil_mode=ceil))
    torch.testing.assert_close(make("mixed", case, lam=0.0, learn=False)(x),
                               F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False))
    learned = make("mixed", case, lam=0.25)
    assert [n for n, _ in learned.named_parameters()] == ["mix.theta"]
    torch.testing.assert_close(learned(x), 0.25 * F.max_pool3d(x, k, s, p, ceil_mode=ceil)
                               + 0.75 * F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False))


def test_gated_gate_by_hand():
    case = CASES[1]
    shape, k, s, p, ceil = case
    x = torch.randn(shape, dtype=torch.float64)
    pool = GatedPool(k, s, p, ceil).double()
    mx = F.max_pool3d(x, k, s, p, ceil_mode=ceil)
    av = F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False)
    torch.testing.assert_close(pool(x), 0.5 * (mx + av))       # w = 0: s = 1/2
    with torch.no_grad():
        pool.gate.normal_()
    # gate of output (0, 0, 1, 1, 1) by hand: window starts at 2*1 - 1 = 1 in each dim
    window = x[0, 0, 1:4, 1:4, 1:4]
    gate = torch.sigmoid((pool.gate[0, 0] * window).sum())
    expected = gate * mx[0, 0, 1, 1, 1] + (1 - gate) * av[0, 0, 1, 1, 1]
    torch.testing.assert_close(pool(x)[0, 0, 1, 1, 1], expected)
    assert pool.gate.shape == (1, 1, 3, 3, 3)  # one gate vector per layer, shared by channels


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lip_uniform_logits_is_avg_and_weights_by_hand(case):
    shape, k, s, p, ceil = case
    x = torch.randn(shape, dtype=torch.float64)
    pool = LipPool(k, s, p, ceil, channels=shape[1]).double()
    with torch.no_grad():
        pool.logit.conv.weight.zero_()
    torch.testing.assert_close(pool(x), F.avg_pool3d(x, k, s, p, ceil, count_include_pad=False))
    torch.nn.init.normal_(pool.logit.conv.weight)
    w = torch.exp(12 * torch.sigmoid(pool.logit.conv(x)))
    num = F.avg_pool3d(x * w, k, s, p, ceil, count_include_pad=True)
    den = F.avg_pool3d(w, k, s, p, ceil, count_include_pad=True)
    torch.testing.assert_close(pool(x), num / den)
    y = pool(x)
    assert (y <= F.max_pool3d(x, k, s, p, ceil_mode=ceil) + 1e-12).all()
    assert (y >= -F.max_pool3d(-x, k, s, p, ceil_mode=ceil) - 1e-12).all()


@pytest.mark.parametrize("name", ["gated", "lip", "mixed", "lp"])
def test_gradcheck_learned_and_composite(name):
    torch.manual_seed(0)
    x = torch.randn(1, 2, 2, 3, 3, dtype=torch.float64).requires_grad_()
    pool = build_pool(name, 2, 1, 1, True, channels=2).double()
    if name == "lp":
        x = (x.detach().abs() + 0.1).requires_grad_()
    params = [t for t in pool.parameters()]
    assert torch.autograd.gradcheck(lambda inp, *ps: pool(inp), (x, *params))


def test_half_precision_inputs():
    # the methods that compute in float32 inside (torch's CPU avg_pool3d has no bfloat16)
    x = torch.randn(1, 2, 4, 6, 6).to(torch.bfloat16)
    for name in ("max", "lp", "soft", "soft_paper", "stochastic", "lip"):
        pool = build_pool(name, 3, 2, 1, channels=2)
        pool = pool.to(torch.bfloat16)
        y = pool(x)
        assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all(), name


# ---------------------------------------------------------------------------------------------
# global / adaptive forms

@pytest.mark.parametrize("name", ADAPTIVE)
@pytest.mark.parametrize("out", [1, (2, 3, 4), (1, None, 2)])
def test_adaptive_shapes_and_backward(name, out):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7, 6, requires_grad=True)
    pool = build_adaptive_pool(name, out, channels=3)
    y = pool(x)
    assert y.shape == F.adaptive_max_pool3d(x, out).shape
    y.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for param in pool.parameters():
        assert param.grad is not None


@pytest.mark.parametrize("out", [1, (2, 3, 4), (5, 7, 6)])
def test_adaptive_values(out):
    x = torch.rand(2, 3, 5, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(build_adaptive_pool("max", out)(x), F.adaptive_max_pool3d(x, out))
    torch.testing.assert_close(build_adaptive_pool("avg", out)(x), F.adaptive_avg_pool3d(x, out))
    torch.testing.assert_close(build_adaptive_pool("lp", out, p=1)(x),
                               F.adaptive_avg_pool3d(x, out))
    torch.testing.assert_close(build_adaptive_pool("soft", out)(x),
                               reference.adaptive_soft_pool3d(x, out))
    torch.testing.assert_close(build_adaptive_pool("soft_paper", out)(x),
                               reference.adaptive_soft_pool3d(x, out, grad="paper"))
    torch.testing.assert_close(build_adaptive_pool("mixed", out, lam=1.0, learn=False)(x),
                               F.adaptive_max_pool3d(x, out))
    # sum of each bin, bins computed by hand with PyTorch's floor/ceil rule
    sizes = (out,) * 3 if isinstance(out, int) else out
    y = build_adaptive_pool("sum", out)(x)
    for idx in [(0, 0, 0), tuple(o - 1 for o in sizes)]:
        bounds = [(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(idx, x.shape[2:], sizes)]
        block = x[:, :, bounds[0][0]:bounds[0][1], bounds[1][0]:bounds[1][1],
                  bounds[2][0]:bounds[2][1]]
        torch.testing.assert_close(y[(..., *idx)], block.sum((2, 3, 4)))


def test_global_forms_by_hand():
    x = torch.rand(2, 3, 4, 5, 6, dtype=torch.float64) + 0.05
    flat = x.flatten(2)
    g = lambda name, **kw: build_adaptive_pool(name, 1, **kw).double()(x).flatten(2)[..., 0]  # noqa
    torch.testing.assert_close(g("lp", p=3), flat.pow(3).mean(-1).pow(1 / 3))
    torch.testing.assert_close(g("sum"), flat.sum(-1))
    torch.testing.assert_close(g("soft"), (torch.softmax(flat, -1) * flat).sum(-1))
    pool = build_adaptive_pool("stochastic", 1).double().eval()
    torch.testing.assert_close(pool(x).flatten(2)[..., 0], (flat * flat).sum(-1) / flat.sum(-1))
    lip = build_adaptive_pool("lip", 1, channels=3).double()
    with torch.no_grad():
        lip.logit.conv.weight.zero_()
    torch.testing.assert_close(lip(x).flatten(2)[..., 0], flat.mean(-1))
    torch.manual_seed(0)
    drawn = build_adaptive_pool("stochastic", 1).train()(x).flatten(2)
    assert ((drawn == flat).sum(-1) >= 1).all(), "a global draw is one of the cells"


def test_learned_pools_state_dict_round_trip():
    for name in ("mixed", "gated", "lip"):
        a = build_pool(name, 3, 2, 1, channels=4)
        torch.manual_seed(1)
        for t in a.parameters():
            torch.nn.init.normal_(t)
        b = build_pool(name, 3, 2, 1, channels=4)
        b.load_state_dict(a.state_dict())
        x = torch.randn(1, 4, 3, 6, 6)
        torch.testing.assert_close(a(x), b(x))
    assert isinstance(build_pool("mixed", 2), MixedPool)
