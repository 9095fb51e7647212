"""The windows of infinities and NaN shared by the CPU and CUDA tests of the limit semantics, with
an independent scalar oracle (``limit``) and ``check``/``run`` to compare an op against it."""
import math

import torch

INF, NAN = math.inf, math.nan

# Windows of 3 (the last cell of shorter windows is -inf padding-free filler: see _pad3)
WINDOWS = [
    [INF, 1.0, -2.0],        # +inf wins outright
    [INF, INF, 2.0],         # two +inf share the weight
    [-INF, 1.0, 2.0],        # -inf has weight 0: the finite SoftPool of [1, 2]
    [-INF, -INF, -INF],      # all -inf: -inf, equal shares
    [INF, -INF, 0.5],        # both infinities
    [NAN, 1.0, 2.0],         # NaN propagates
    [INF, NAN, 1.0],
    [-INF, NAN, -INF],
    [0.3, -1.2, 2.0],        # an ordinary window
    [3e38, INF, -3e38],      # huge finite values beside +inf
    [-INF, 7.0, -INF],       # one finite element left
]


def limit(vals, paper=False):
    """Independent scalar oracle: (y, dy/da) of one window under the limit semantics."""
    if any(math.isnan(v) for v in vals):
        return NAN, [NAN] * len(vals)
    top = max(vals)
    if math.isinf(top):
        ties = [v == top for v in vals]
        return top, [1.0 / sum(ties) if t else 0.0 for t in ties]
    e = [math.exp(v - top) if v != -INF else 0.0 for v in vals]
    w = [ei / sum(e) for ei in e]
    y = sum(wi * v for wi, v in zip(w, vals) if wi > 0)
    return y, [wi if paper else wi * (1 + v - y) if wi > 0 else 0.0 for wi, v in zip(w, vals)]


def windows_tensor(dtype, channels=2):
    """(1, C, 1, 1, 3 * len(WINDOWS)); channel c holds the windows scaled by a sign-free copy."""
    row = torch.tensor([v for w in WINDOWS for v in w], dtype=torch.float64)
    return row.view(1, 1, 1, 1, -1).repeat(1, channels, 1, 1, 1).to(dtype)


def expected(paper, dtype):
    ys, gs = zip(*(limit([float(torch.tensor(v, dtype=dtype)) for v in w], paper) for w in WINDOWS))
    return torch.tensor(ys, dtype=torch.float64), torch.tensor([g for gw in gs for g in gw],
                                                               dtype=torch.float64)


def check(y, gx, paper, dtype, tol):
    y_want, g_want = expected(paper, dtype)
    for c in range(y.shape[1]):
        got_y, got_g = y[0, c].flatten().double(), gx[0, c].flatten().double()
        for got, want in ((got_y, y_want), (got_g, g_want)):
            same = (got == want) | (torch.isnan(got) & torch.isnan(want))
            near = (got - want).abs() <= tol * (1 + want.abs())
            assert (same | near).all(), f"\n got {got.tolist()}\nwant {want.tolist()}"


def run(fn, x, paper):
    x = x.clone().requires_grad_()
    y = fn(x, (1, 1, 3), grad="paper" if paper else "exact")
    y.backward(torch.ones_like(y))
    return y.detach(), x.grad
