"""FLOP and parameter counting with fvcore, under named conventions (``CONVENTIONS``).

Like fvcore, **one multiply-add counts as one FLOP** (a convolution or linear layer costs its number
of multiply-accumulates); every other elementary operation (add, compare, exp, divide, ...) counts
1.

``paper``
    The pytorchvideo model-zoo convention: convolutions and matrix products (conv, linear, addmm,
    matmul, bmm, einsum) only. Batch-norm, pooling and element-wise ops cost 0. At the models'
    published test view (400 classes; Slow R50 8x256x256, SlowFast R50 8+32x256x256) this gives
    the zoo's Kinetics-400 rows for Slow R50 8x8 (54.52) and SlowFast R50 8x8 (65.71) exactly.
    fvcore itself now counts batch-norm, and its ``set_op_handle(op, None)`` does not remove a
    default handle, so this module builds each handle table from scratch.

``paper_bn``
    ``paper`` plus every batch-norm at fvcore's *training-mode* cost (5 per element with affine).
    The zoo's other Kinetics-400 rows (C2D, I3D, SlowFast R101, CSN, R(2+1)D, X3D XS/S/M/L) and
    its SSv2/Charades Slow (55.10) and SlowFast (66.60) rows were measured this way (by PySlowFast
    with the model in training mode); this convention reproduces all of them to 2 decimals (see
    docs/profile_check.md).

``full``
    ``paper`` plus everything else that computes, per output element unless stated:

    ==========================================  ===============================================
    batch_norm / group / layer / instance norm  fvcore's handles (eval BN: 2 per input element
                                                with affine, 1 without; others 5 or 4)
    add, sub, mul, div, relu, exp, clamp, ...   1 (in-place variants too; 0-dim operands are
                                                size arithmetic and cost 0)
    sigmoid / hardsigmoid                       3
    silu / hardswish                            4
    gelu                                        8 (tanh form)
    softmax, log_softmax                        5 per element (max, subtract, exp, sum, divide)
    sum, mean, amax, norm reductions            1 per *input* element
    max/avg pool (1/2/3d), K = window cells     K (one compare or add per cell; avg's divide
                                                replaces the first add)
    adaptive avg/max pool                       1 per *input* element (fvcore's rule)
    softpool3d::soft_pool_forward (compiled     5K + 1: per cell max, subtract, exp, add to the
    SoftPool)                                   denominator, multiply-add to the numerator;
                                                one final divide
    softpool3d::ada_pool_forward (AdaPool,      28K + 15: per cell 3 for the mean, max and
    both halves)                                min, 10 for the dsc (2 abs, compare, 2
                                                divides, 5 multiply(-add)s), 5 for d dsc / d m
                                                (saved for backward), 6 for eDSCW's exp, sum,
                                                numerator and the two sums of its mean term,
                                                4 for eM's (as SoftPool); 12 per window to
                                                finish, 3 for the beta mix (a lerp)
    Swish (pytorchvideo's autograd Function)    4, like silu
    ==========================================  ===============================================

    The zoo's other methods (lp, stochastic, mixed, gated, lip; softpool3d.pools) trace to the
    ops above. Without the compiled extension SoftPool runs as aten ops (unfold, softmax, mul, sum)
    and costs 5K + K + K = 7K per output under the same table; ``softpool3d.HAS_EXTENSION`` tells
    which one you measured.

Shape-only ops (view, pad, unfold, cat, ...) cost 0 in every convention. Anything else shows up in
the returned ``unsupported`` counter (and costs 0), so a new pooling method cannot silently be free.
"""
from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
from torch import nn

from .model_inputs import fresh_input

__all__ = ["CONVENTIONS", "CONVENTION_HELP", "count_flops", "count_params", "flop_handles",
           "softpool_flops", "adapool_flops", "import_fvcore"]

CONVENTIONS = ("paper", "paper_bn", "full")

# one line per convention (the tools' --convention help; the module docstring has the details)
CONVENTION_HELP = {
    "paper": "convolutions and matrix products only (1 multiply-add = 1 FLOP); the "
             "pytorchvideo zoo's Slow R50 and SlowFast R50 8x8 Kinetics rows",
    "paper_bn": "paper + every BatchNorm at training-mode cost; the zoo's other rows (C2D, I3D, "
                "CSN, R(2+1)D, SlowFast R101, X3D): x3d_xs is 0.84 GFLOPs under paper and 0.91, "
                "the zoo's figure, under paper_bn",
    "full": "paper + everything else that computes (norms, activations, pooling windows, "
            "SoftPool's exp and divide): the one to compare pooling methods with",
}

_JIT_SCRIPT_DEPRECATED = r"`torch\.jit\.script` is deprecated"


def import_fvcore():
    """Import ``fvcore.nn`` without its import-time FutureWarning: its focal_loss module decorates
    a function with the deprecated ``torch.jit.script``, a function this package never calls.
    Only that warning is silenced, and only during the import (pytorchvideo's models import fvcore
    too: calling this first keeps their import quiet as well)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_SCRIPT_DEPRECATED, category=FutureWarning)
        import fvcore.nn
    return fvcore.nn

Handle = Callable[[List[Any], List[Any]], float]


# ---------------------------------------------------------------------------------------------
# helpers on jit values

def _shape(value) -> Optional[List[int]]:
    try:
        return list(value.type().sizes()) if value.isCompleteTensor() else None
    except RuntimeError:
        return None


def _numel(value) -> int:
    shape = _shape(value)
    return math.prod(shape) if shape is not None else 0


def _ints(value) -> Optional[List[int]]:
    """The constant int or int list behind a jit value (a ``prim::ListConstruct`` of constants
    too)."""
    node = value.node()
    if node.kind() == "prim::ListConstruct":
        items = [v.toIValue() for v in node.inputs()]
        return items if all(isinstance(i, int) for i in items) else None
    ivalue = value.toIValue()
    if isinstance(ivalue, int):
        return [ivalue]
    if isinstance(ivalue, (list, tuple)) and all(isinstance(i, int) for i in ivalue):
        return list(ivalue)
    return None


def _window(value, dims: int) -> int:
    """Number of cells of a pooling window given as an int or a list (an int means a cube)."""
    kernel = _ints(value)
    if not kernel:
        raise ValueError("pooling kernel size is not a trace-time constant")
    if len(kernel) == 1:
        kernel = kernel * dims
    return math.prod(kernel)


# ---------------------------------------------------------------------------------------------
# handles

def _per_output(cost: float) -> Handle:
    def handle(inputs, outputs):
        shape = _shape(outputs[0])
        return cost * math.prod(shape) if shape else 0  # 0-dim: size arithmetic of the trace
    return handle


def _per_input(cost: float) -> Handle:
    def handle(inputs, outputs):
        return cost * _numel(inputs[0])
    return handle


def _named(name: str, cost: float) -> Handle:
    """``cost`` per output element, reported under ``name``."""
    per_output = _per_output(cost)

    def handle(inputs, outputs):
        return Counter({name: per_output(inputs, outputs)})
    return handle


def _zero(inputs, outputs):
    return 0


def _pool(dims: int) -> Handle:
    """``aten::{max,avg}_pool{dims}d``: window cells per output element."""
    def handle(inputs, outputs):
        return _window(inputs[1], dims) * _numel(outputs[0])
    return handle


def softpool_flops(window: int, outputs: int) -> int:
    """FLOPs of the compiled SoftPool: ``(5 * window + 1)`` per output element (see module doc)."""
    return (5 * window + 1) * outputs


def _softpool_handle(inputs, outputs):
    return Counter({"softpool3d": softpool_flops(_window(inputs[1], 3), _numel(outputs[0]))})


def adapool_flops(window: int, outputs: int) -> int:
    """FLOPs of the compiled AdaPool forward (both halves and their mix): ``(28 * window + 15)``
    per output element (see the module doc)."""
    return (28 * window + 15) * outputs


def _adapool_handle(inputs, outputs):
    return Counter({"adapool": adapool_flops(_window(inputs[2], 3), _numel(outputs[0]))})


def _batchnorm_as_training(inputs, outputs):
    """fvcore's count for a batch-norm in training mode (5 per element with affine, else 4),
    whatever mode the model is in: what the zoo's newer rows were measured with."""
    from fvcore.nn.jit_handles import norm_flop_counter
    return norm_flop_counter(1)(inputs, outputs)


_MATMUL_OPS = ("aten::_convolution", "aten::addmm", "aten::bmm", "aten::einsum", "aten::matmul",
               "aten::mm", "aten::linear")

_ELEMENTWISE = {
    1: ["add", "sub", "rsub", "mul", "div", "neg", "abs", "relu", "relu6", "leaky_relu", "elu",
        "clamp", "clamp_min", "clamp_max", "hardtanh", "maximum", "minimum", "exp", "log", "sqrt",
        "rsqrt", "reciprocal", "pow", "square", "sign", "tanh", "where", "lerp", "addcmul",
        "addcdiv", "threshold", "cumsum"],
    3: ["sigmoid", "hardsigmoid"],
    4: ["silu", "hardswish"],
    8: ["gelu"],
}
_REDUCTIONS = ["sum", "mean", "amax", "amin", "max", "min", "prod", "norm", "linalg_vector_norm",
               "var", "std", "logsumexp"]

# Ops that move, view, index, compare or draw random data: 0 FLOPs in every convention (fvcore
# ignores many more already).
_SHAPE_OPS = ["unfold", "pad", "expand_as", "view_as", "clone", "flatten", "reshape", "contiguous",
              "bitwise_not", "bitwise_and", "logical_not", "masked_fill", "masked_fill_", "lt",
              "le", "ne", "ones_like", "empty_like", "rand", "rand_like", "randn", "randn_like",
              "zero_", "fill_", "detach_", "alias", "unflatten", "movedim", "repeat",
              "index_select", "multinomial", "argmax", "topk", "sort", "scatter", "scatter_add",
              "type_as", "float", "dropout_", "feature_dropout", "identity", "lift_fresh",
              "numpy_T", "searchsorted"]


def _aten(names: Iterable[str], inplace: bool = True) -> List[str]:
    out = []
    for name in names:
        out.append(f"aten::{name}")
        if inplace:
            out.append(f"aten::{name}_")
    return out


def flop_handles(convention: str) -> Tuple[Dict[str, Handle], List[str]]:
    """``(handles, ignored)`` of a convention: fvcore op handles and the ops that cost 0 there."""
    import_fvcore()
    from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown FLOP convention {convention!r}; choose from {CONVENTIONS}")
    matmul = {op: _DEFAULT_SUPPORTED_OPS[op] for op in _MATMUL_OPS}
    full: Dict[str, Handle] = {op: h for op, h in _DEFAULT_SUPPORTED_OPS.items()
                               if op not in matmul}
    for cost, names in _ELEMENTWISE.items():
        full.update({op: _per_output(cost) for op in _aten(names)})
    full.update({op: _per_output(5) for op in _aten(["softmax", "log_softmax", "_softmax"], False)})
    full.update({op: _per_input(1) for op in _aten(_REDUCTIONS, False)})
    for dims in (1, 2, 3):
        for kind in ("max", "avg"):
            full[f"aten::{kind}_pool{dims}d"] = _pool(dims)
        full[f"aten::max_pool{dims}d_with_indices"] = _pool(dims)
        full[f"aten::adaptive_avg_pool{dims}d"] = _per_input(1)
        full[f"aten::adaptive_max_pool{dims}d"] = _per_input(1)
    full["softpool3d::soft_pool_forward"] = _softpool_handle
    full["softpool3d::ada_pool_forward"] = _adapool_handle
    full["prim::PythonOp.SwishFunction"] = _named("swish", 4)  # pytorchvideo's Swish (X3D)
    shape_ops = _aten(_SHAPE_OPS, False)
    if convention == "full":
        return {**matmul, **full}, shape_ops
    # fvcore matches its ignore list against ``prim::PythonOp`` without the Function's name, so
    # Python autograd Functions get a zero handle instead
    zero = {op: _zero for op in full if op.startswith("prim::")}
    ignored = shape_ops + sorted(op for op in full if op not in zero)
    if convention == "paper_bn":
        return {**matmul, **zero, "aten::batch_norm": _batchnorm_as_training}, ignored
    return {**matmul, **zero}, ignored


# ---------------------------------------------------------------------------------------------
# public API

def _as_args(inputs) -> tuple:
    """fvcore wants a tuple of forward arguments: a tensor or a list (SlowFast) is one argument, a
    tuple is the arguments; every list goes as a ``fresh_input`` copy (SlowFast writes into it)."""
    if isinstance(inputs, (torch.Tensor, list)):
        return (fresh_input(inputs),)
    return tuple(fresh_input(a) if isinstance(a, list) else a for a in inputs)


def count_flops(model: nn.Module, inputs, convention: str = "paper"
                ) -> Tuple[int, Dict[str, int], Dict[str, int]]:
    """Count the FLOPs of one forward pass (the model in eval mode, restored afterwards).

    Args:
        model: any module fvcore can trace.
        inputs: a tensor, a list of tensors (one list argument, e.g. SlowFast) or a tuple of
            forward arguments.
        convention: one of ``CONVENTIONS`` (see the module docstring).
    Returns:
        ``(total, by_operator, unsupported)``: total FLOPs (1 multiply-add = 1 FLOP), FLOPs per
        operator name, and the traced ops the convention does not know (counted as 0) with counts.
    """
    FlopCountAnalysis = import_fvcore().FlopCountAnalysis

    handles, ignored = flop_handles(convention)
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, _as_args(inputs))
        analysis.clear_op_handles()
        analysis.set_op_handle(**handles)
        analysis._ignored_ops.update(ignored)  # no public API to extend fvcore's ignore list
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total = analysis.total()
            by_op = dict(analysis.by_operator())
            unsupported = dict(analysis.unsupported_ops())
    finally:
        model.train(was_training)
    return int(total), {k: int(v) for k, v in by_op.items() if v}, unsupported


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (each shared tensor once), optionally only those requiring grad."""
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total
