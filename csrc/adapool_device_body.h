// Per-element bodies of the AdaPool kernels, as __host__ __device__ functions: the CUDA kernels
// (cuda/adapool_cuda.cu) launch them, the CPU kernel (cpu/adapool_cpu.cpp) runs them in a parallel
// loop, and testing/adapool_device_bodies.cpp runs them in an emulated launch (test-only ops).
//
// Over a window R (padded / out-of-range cells excluded), n = |R|, m = mean_R x:
//   dsc_i = 2 |x_i m| / (x_i^2 + m^2) in [0, 1] (1 where x_i = m = 0), w^D = softmax_R(dsc),
//   y^D = sum_R w^D_i x_i (eDSCW); w^M = softmax_R(x), y^M = sum_R w^M_i x_i (eM = SoftPool).
// Gradients (one window; the backward gathers over every window containing an input):
//   d y^M / d x_j = w^M_j (1 + x_j - y^M)
//   d y^D / d x_j = w^D_j (1 + (x_j - y^D) A_j) + Q,  A_j = d dsc_j / d x_j,
//   Q = (1/n) sum_k w^D_k (x_k - y^D) B_k,  B_k = d dsc_k / d m  (through the window mean).
// At the kink x m = 0 of |x m| the derivative of |.| is taken as 0 (torch.abs's choice).
// AdaPool mixes the halves, y = b y^D + (1 - b) y^M with b per output (broadcast: step 0), and
// the upstream gradient g of y reaches them as g b and g (1 - b); d y / d b = y^D - y^M is the
// caller's (from the saved halves).
// Forward: one pass for m and max, one for everything else (dsc <= 1, so exp(dsc - 1) never
// overflows; the eM exponentials are max-shifted). Backward: a deterministic gather, no atomics.
#pragma once

#include <ATen/OpMathType.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "adapool.h"
#include "device_body_common.h"

namespace softpool {
namespace ada {

using body::Dims;
using body::Window;

template <typename acc_t>
struct DscParts {
  acc_t dsc;   // 2|x m| / (x^2 + m^2)
  acc_t dx;    // d dsc / d x
  acc_t dm;    // d dsc / d m
  acc_t x_dm;  // x * d dsc / d m (bounded by 2 whatever the magnitudes)
};

// Powers of two that bring max(|x|, |m|) into [2^-60, 2^60] before the two divisions below
// (exact scalings: neither 1 / (s den) nor s den overflows, subnormals included).
template <typename acc_t>
struct DscScale {
  static constexpr acc_t lo = acc_t(8.673617379884035e-19);  // 2^-60
  static constexpr acc_t hi = acc_t(1.152921504606847e18);   // 2^60
};

// dsc and its partial derivatives. dsc is scale-invariant, so it is computed from
// r = min(|x|, |m|) / max(|x|, |m|) in [0, 1] (u, v = (x, m) / max are +-1 and +-r), with two
// divisions and no square of x or m: no overflow or underflow at any finite magnitude. NaN
// reaches it through m (the window mean is NaN wherever a cell of the window is). Branch-free
// (selects only), so the CPU kernel's lane loops vectorise it as it is.
template <typename acc_t>
SOFTPOOL_HD DscParts<acc_t> dsc_parts(acc_t x, acc_t m) {
  DscParts<acc_t> r;
  const acc_t ax = x < 0 ? -x : x, am = m < 0 ? -m : m;
  const bool x_big = ax > am;
  const acc_t s = x_big ? ax : am, t = x_big ? am : ax;  // NaN m: s = NaN
  const bool zero = s == acc_t(0);  // x = m = 0: identical values, dsc = 1 (a constant)
  const acc_t sc = s < DscScale<acc_t>::lo ? DscScale<acc_t>::hi
                                           : (s > DscScale<acc_t>::hi ? DscScale<acc_t>::lo : acc_t(1));
  const acc_t ss = zero ? acc_t(1) : s * sc;
  const acc_t ratio = (t * sc) / ss;                // min / max, in [0, 1]
  const acc_t den = acc_t(1) + ratio * ratio;       // u^2 + v^2, in [1, 2]
  const acc_t q = acc_t(1) / (ss * den);            // 1 / (s den), scaled
  const acc_t inv_den = q * ss, inv_s = q * den;    // 1 / den; 1 / s, scaled by 1 / sc
  const acc_t sx = x < 0 ? acc_t(-1) : acc_t(1), sm = m < 0 ? acc_t(-1) : acc_t(1);
  const acc_t u = x_big ? sx : sx * ratio, v = x_big ? sm * ratio : sm;
  const acc_t uv = u * v, u2 = u * u, v2 = v * v;
  const acc_t sg = uv > 0 ? acc_t(1) : (uv < 0 ? acc_t(-1) : acc_t(0));  // |.|' = 0 at 0
  const acc_t k = acc_t(2) * sg * inv_den * inv_den;
  const acc_t au = k * v * (v2 - u2);  // s * d dsc / d x
  const acc_t bu = k * u * (u2 - v2);  // s * d dsc / d m
  r.dsc = zero ? acc_t(1) : acc_t(2) * ratio * inv_den;
  r.dx = (au * inv_s) * sc;
  r.dm = (bu * inv_s) * sc;
  r.x_dm = u * bu;
  return r;
}

// AdaPool's mix of the halves: lerp(em, ed, b) as torch.lerp computes it, and exactly em at b = 0
// and ed at b = 1 even where ed - em is not finite (the eDSCW pool alone runs with b = 1).
template <typename acc_t>
SOFTPOOL_HD acc_t mix(acc_t em, acc_t ed, acc_t b) {
  const acc_t d = ed - em;
  const bool small = (b < 0 ? -b : b) < acc_t(0.5);
  const acc_t y = small ? em + b * d : ed - d * (acc_t(1) - b);
  return b == acc_t(1) ? ed : (b == acc_t(0) ? em : y);
}

template <typename scalar_t, typename index_t>
struct ForwardArgs {
  const scalar_t* x;
  Dims<index_t> in;
  const at::opmath_type<scalar_t>* b;  // the mix weight of output i at b[i * b_step]
  index_t b_step;                      // 0 (one weight) or 1 (one per output, memory order)
  scalar_t* y;
  at::opmath_type<scalar_t>* stats;  // kAdaStats planes of `plane` elements
  int64_t plane;
  Dims<index_t> out;
  Window win;
};

template <typename scalar_t, typename index_t>
struct BackwardArgs {
  const at::opmath_type<scalar_t>* g;  // the gradient of y, in the accumulation type
  const at::opmath_type<scalar_t>* b;
  index_t b_step;
  const scalar_t* x;
  const at::opmath_type<scalar_t>* stats;
  int64_t plane;
  Dims<index_t> in, out;
  Window win;
  scalar_t* gx;
};

// Output i (linear, memory order): y, and y^D, y^M and the other saved statistics (adapool.h).
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void forward_element(index_t i, const ForwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  const body::WindowCells<index_t> cells = body::window_cells<channels_last>(i, A.in, A.out, A.win);
  const scalar_t* base = A.x + cells.plane;
  const acc_t count = static_cast<acc_t>(cells.count());
  const acc_t inv_n = acc_t(1) / count;
  // Pass 1: the mean (terms scaled by 1/n first: no overflow near the largest finite values),
  // the max and the min (NaN skipped here, caught by the mean).
  acc_t mean = 0, mx = -std::numeric_limits<acc_t>::infinity();
  acc_t mn = std::numeric_limits<acc_t>::infinity();
  cells.for_each(A.in, [&](index_t o) {
    const acc_t a = static_cast<acc_t>(base[o]);
    mean += a * inv_n;
    mx = a > mx ? a : mx;
    mn = a < mn ? a : mn;
  });
  if (mx == mn && mean == mean) mean = mx;  // a constant window: its mean exactly
  // Pass 2: both softmaxes and the sums Q needs. eDSCW's numerator is taken relative to the
  // mean, halved (x/2 - m/2 cannot overflow), so a constant window returns the constant.
  acc_t sd = 0, td = 0, p1 = 0, p2 = 0, sm = 0, tm = 0;
  const acc_t half_mean = mean * acc_t(0.5);
  cells.for_each(A.in, [&](index_t o) {
    const acc_t a = static_cast<acc_t>(base[o]);
    const DscParts<acc_t> q = dsc_parts<acc_t>(a, mean);
    const acc_t ed = body::acc_exp(q.dsc - acc_t(1));
    sd += ed;
    td += ed * (a * acc_t(0.5) - half_mean);
    p1 += ed * q.x_dm;
    p2 += ed * q.dm;
    const acc_t diff = shifted<acc_t>(a, mx);
    const acc_t e = body::acc_exp(diff);
    sm += e;
    tm += e * diff;
  });
  const acc_t r = td / sd;  // (y^D - m) / 2
  const acc_t yd = (mean + r) + r;
  const acc_t ym = mx + tm / sm;
  A.stats[i] = tie_diff<acc_t>(mx, ym) + body::acc_log(sm);
  A.stats[A.plane + i] = acc_t(1) / sd;
  A.stats[2 * A.plane + i] = mean;
  A.stats[3 * A.plane + i] = (p1 - yd * p2) / (count * sd);
  A.stats[kAdaEm * A.plane + i] = ym;
  A.stats[kAdaEdscw * A.plane + i] = yd;
  A.y[i] = static_cast<scalar_t>(mix(ym, yd, A.b[i * A.b_step]));
}

// Input i (linear, memory order): the gradient gathered from every window that contains it.
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void backward_element(index_t i, const BackwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  const acc_t a = static_cast<acc_t>(A.x[i]);
  const acc_t* em = A.stats + kAdaEm * A.plane;
  const acc_t* edscw = A.stats + kAdaEdscw * A.plane;
  acc_t acc = 0;
  body::containing_windows<channels_last>(i, A.in, A.out, A.win).for_each(A.out, [&](index_t o) {
    const DscParts<acc_t> q = dsc_parts<acc_t>(a, A.stats[2 * A.plane + o]);
    const acc_t wd = body::acc_exp(q.dsc - acc_t(1)) * A.stats[A.plane + o];
    const acc_t b = A.b[o * A.b_step];
    acc += (A.g[o] * b) * (wd * (acc_t(1) + (a - edscw[o]) * q.dx) + A.stats[3 * A.plane + o]);
    const acc_t diff = shifted<acc_t>(a, em[o]);
    acc += (A.g[o] * (acc_t(1) - b)) * body::acc_exp(diff - A.stats[o]) * (acc_t(1) + diff);
  });
  A.gx[i] = static_cast<scalar_t>(acc);
}

// ---- host side: the arguments of a call (tensors in memory_format_of(input)) ----

// `b` has one element or the output's shape and layout (ada_mix_weight).
template <typename scalar_t, typename index_t>
ForwardArgs<scalar_t, index_t> forward_args(const at::Tensor& input, const at::Tensor& b,
                                            const PoolGeometry& g, at::Tensor& output,
                                            at::Tensor& stats) {
  using acc_t = at::opmath_type<scalar_t>;
  return {input.const_data_ptr<scalar_t>(), body::dims_of<index_t>(input),
          b.const_data_ptr<acc_t>(), static_cast<index_t>(ada_mix_step(b)),
          output.mutable_data_ptr<scalar_t>(), stats.mutable_data_ptr<acc_t>(), output.numel(),
          body::dims_of<index_t>(output), body::window_of(g)};
}

// `grad` in the accumulation type with the output's shape and layout, `b` as forward_args's.
template <typename scalar_t, typename index_t>
BackwardArgs<scalar_t, index_t> backward_args(const at::Tensor& grad, const at::Tensor& b,
                                              const at::Tensor& input, const at::Tensor& stats,
                                              const PoolGeometry& g, at::Tensor& grad_input) {
  using acc_t = at::opmath_type<scalar_t>;
  return {grad.const_data_ptr<acc_t>(), b.const_data_ptr<acc_t>(),
          static_cast<index_t>(ada_mix_step(b)), input.const_data_ptr<scalar_t>(),
          stats.const_data_ptr<acc_t>(), grad.numel(), body::dims_of<index_t>(input),
          body::dims_of<index_t>(grad), body::window_of(g),
          grad_input.mutable_data_ptr<scalar_t>()};
}

}  // namespace ada
}  // namespace softpool
