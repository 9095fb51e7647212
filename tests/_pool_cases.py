"""Shared by the operator tests (CPU, CUDA, device bodies, AdaPool): the pooling cases (shape, kernel,
stride, padding, ceil) and their random inputs, the dtypes under test, the tolerance against the
float64 reference and the run of an operator and its reference on the same values."""
import pytest
import torch
import torch.nn.functional as F

CASES = [
    ((2, 3, 5, 6, 7), 2, None, 0, False),                       # cubic, stride = kernel
    ((2, 3, 5, 6, 7), 3, 2, 1, True),                           # overlap, padding, ceil_mode
    ((1, 4, 7, 9, 11), (2, 3, 3), (1, 2, 1), (1, 1, 0), True),  # non-cubic, stride 1 (overlap)
    ((3, 5, 4, 6, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1), False),  # the ResNet stem pool
    ((2, 5, 4, 6, 5), 2, 3, (1, 0, 1), True),                   # stride > kernel
    ((2, 300, 4, 6, 5), 2, 2, 0, False),                        # many channels (several lane chunks)
    ((1, 2, 3, 5, 300), (3, 3, 3), (1, 1, 2), 1, True),         # long rows
    ((2, 3, 8, 7, 7), (8, 7, 7), 1, 0, False),                  # a head pool: one window
    ((1, 1, 1, 1, 1), 1, None, 0, False),                       # batch 1, a single cell
    ((1, 2, 3, 40, 30), (1, 3, 3), 1, (0, 1, 1), False),        # row blocks in several passes
    ((1, 2, 2, 3, 600), (1, 2, 2), 1, 0, True),                 # runs longer than a lane chunk
    ((2, 3, 2, 4, 40), (2, 4, 40), 1, 0, False),                # global: reduced along the window
    ((1, 2, 4, 9, 37), (2, 3, 37), (1, 2, 1), (1, 1, 0), True),  # whole rows, clamped in D and H
]


# (rtol, atol relative to the reference's largest magnitude) per dtype
TOL = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def assert_close_to(actual, expected, dtype, cells=1):
    """|actual - expected| <= tol * (|expected| + max|expected|), elementwise. ``cells``: the
    largest window; sums in float32/float64 over more than 64 cells get a tolerance that grows as
    sqrt(cells) (the typical rounding of a long sum), lower precisions are bounded by their storage."""
    actual, expected = actual.double(), expected.double()
    tol = TOL[dtype]
    if dtype in (torch.float32, torch.float64):
        tol *= max(1.0, (cells / 64) ** 0.5)
    scale = expected.abs().max().item() if expected.numel() else 0.0
    err = (actual - expected).abs()
    bound = tol * (expected.abs() + scale)
    worst = (err - bound).max().item() if err.numel() else -1
    assert worst <= 0, f"max error {err.max().item():.3e} exceeds tolerance {tol} ({dtype})"


def assert_grad_close_to(gx, gx_ref, x, dtype):
    """``assert_close_to`` for an input gradient, plus what its (1 + a - y) factor inherits from y's
    rounding: an absolute error of about eps * |a| * |g|, the conditioning of the problem rather
    than a defect of the kernel."""
    eps = torch.finfo(dtype).eps
    g_scale = gx_ref.abs().max().item()
    bound = TOL[dtype] * (gx_ref.abs() + g_scale) + 2 * eps * float(x.abs().max()) * g_scale
    assert ((gx.double() - gx_ref).abs() <= bound).all()


def case_input(shape, dtype, channels_last, generator):
    """A random input of ``shape`` in ``dtype`` (drawn in float32 from ``generator``), in the
    channels-last layout when ``channels_last``."""
    x = torch.randn(shape, generator=generator).to(dtype)
    return x.contiguous(memory_format=torch.channels_last_3d) if channels_last else x


OPCHECK_DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def opcheck_input(dtype, channels_last):
    """The input of the opcheck tests of both operators: (2, 3, 5, 6, 7) from the global generator,
    in the channels-last layout when ``channels_last``, requiring grad except in bfloat16."""
    x = torch.randn(2, 3, 5, 6, 7, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return x.requires_grad_(dtype != torch.bfloat16)


def ada_case_inputs(shape, dtype, channels_last, seed=1):
    """``(x, beta, generator)`` of an AdaPool case: ``case_input`` and a per-channel beta in [0, 1)
    (float64 for a float64 input, else float32), both drawn from one generator seeded ``seed``,
    which is returned for the draws that follow."""
    gen = torch.Generator().manual_seed(seed)
    x = case_input(shape, dtype, channels_last, gen)
    beta_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    beta = torch.rand(shape[1], 1, 1, 1, generator=gen).to(beta_dtype)
    return x, beta, gen


def against_reference(op, ref, tensors, *args, seed=0):
    """``op`` on copies of ``tensors`` and ``ref`` on float64 copies (leaves that require grad),
    the same float64 output gradient (drawn with ``seed``) sent back through both. Returns
    ``(y, y_ref, grads, grads_ref)``, the gradients in the order of ``tensors``."""
    mine = [t.detach().clone().requires_grad_() for t in tensors]
    ref_in = [t.detach().double().requires_grad_() for t in tensors]
    y = op(*mine, *args)
    y_ref = ref(*ref_in, *args)
    g = torch.randn(y_ref.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y.backward(g.to(tensors[0].dtype))
    y_ref.backward(g)
    return y, y_ref, [t.grad for t in mine], [t.grad for t in ref_in]


def case_id(case):
    shape, k, s, p, ceil = case
    return f"{'x'.join(map(str, shape))}-k{k}-s{s}-p{p}-{'ceil' if ceil else 'floor'}"


def each_case(cases, **params):
    """Parametrize a test by ``case`` (of ``cases``), each ``name=values`` of ``params``, both
    layouts (``channels_last``) and DTYPES (``dtype``), its ids in that order."""
    def parametrize(test):
        test = pytest.mark.parametrize("case", cases, ids=case_id)(test)
        for name, values in params.items():
            test = pytest.mark.parametrize(name, values)(test)
        test = pytest.mark.parametrize("channels_last", [False, True],
                                       ids=["contiguous", "channels_last"])(test)
        return pytest.mark.parametrize("dtype", DTYPES, ids=str)(test)
    return parametrize


def legal_1d(sizes=range(1, 5), kernels=range(1, 6), strides=range(1, 4)):
    """Every legal (size, kernel, stride, padding, ceil_mode) along one dimension: padding 0..k//2
    and, as torch's max pooling decides (the independent oracle of legality), a non-empty output --
    which ceil_mode gives for some kernels larger than the padded input."""
    for size in sizes:
        for k in kernels:
            for s in strides:
                for p in range(k // 2 + 1):
                    for ceil in (False, True):
                        if _max_pool_output(size, k, s, p, ceil) > 0:
                            yield size, k, s, p, ceil


def _max_pool_output(size, k, s, p, ceil):
    try:
        return F.max_pool1d(torch.zeros(1, 1, size), k, s, p, ceil_mode=ceil).shape[-1]
    except RuntimeError:
        return 0


# Geometries (size, kernel, stride, padding) the two other dimensions cycle through, so each case
# also has overlap, padding or a trivial window elsewhere.
_OTHER = [(3, 2, 1, 1), (1, 1, 1, 0), (4, 3, 2, 1), (2, 2, 2, 0)]


def exhaustive_cases(axis: int, batch=(2, 3)):
    """(shape, kernel, stride, padding, ceil) with every legal_1d geometry along spatial ``axis``
    (0 = D, 1 = H, 2 = W) and cycling geometries along the others."""
    cases = []
    for i, (size, k, s, p, ceil) in enumerate(legal_1d()):
        dims = [_OTHER[(i + j) % len(_OTHER)] for j in range(3)]
        dims[axis] = (size, k, s, p)
        shape = batch + tuple(d[0] for d in dims)
        cases.append((shape, tuple(d[1] for d in dims), tuple(d[2] for d in dims),
                      tuple(d[3] for d in dims), ceil))
    return cases


def single_thread():
    """One intra-op thread for the duration (a generator for a pytest fixture): thousands of tiny
    calls, where waking the thread pool costs ~10x the work on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
