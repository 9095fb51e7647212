// CPU AdaPool kernels. Work is split into tasks by at::parallel_for (OpenMP); inside a task the
// maths runs over contiguous "lanes" in `#pragma omp simd` loops, compiled for AVX-512, AVX2 and
// the baseline ISA (float; double has one version). Two forms of the per-cell maths:
//   fast (every |x| and window mean |m| is 0 or in [2^-60, 2^60], checked per chunk of lanes):
//     the dsc and its derivatives from the unscaled values with one division, exp(dsc - 1) by a
//     polynomial (dsc is in [0, 1]), no ties or clamps (everything is finite);
//   generic (any magnitude, NaN, infinities): the device bodies' dsc_parts
//     (adapool_device_body.h) and the exp/log of cpu/lanes.h.
// Three paths:
//   contiguous, >= kMinLanes interior output columns: forward tasks are output rows (n, c, od, oh),
//     lanes the output columns of a run sharing one clamped window along W (runs_along_w), the
//     lanes of several rows side by side where H does not clip, padded to whole vectors;
//     backward tasks are input rows, accumulating every window row containing them, one kernel
//     column k at a time, with the row split by phase (column mod stride) so that lanes are
//     contiguous (a fixed order: deterministic, no atomics);
//   otherwise, >= kMinLanes channels: lanes are the channels of channels_last_3d (a contiguous
//     input, e.g. under a global pool, is computed in that layout and copied back); a task is one
//     output (forward) or input (backward, a gather over the windows containing it) position;
//   otherwise (few channels and columns): the per-element bodies in a parallel loop.
// Window passes keep their sums in registers over the cells (lanes in blocks of kBlock). Each
// forward task writes its outputs' halves into the saved statistics and their mix y (mix_store);
// the backward splits the output's gradient between the halves (grad_halves: g b and g (1 - b),
// b one weight or one per output) once per visited output row or position.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "adapool.h"
#include "adapool_device_body.h"
#include "cpu/lanes.h"

namespace softpool {
namespace cpu_ada {

// Lane loops are inlined into their per-ISA clones (a call left out of line would run the
// baseline ISA's code).
#if defined(__GNUC__)
#define ADA_LANES inline __attribute__((always_inline))
#else
#define ADA_LANES inline
#endif

constexpr int64_t kMinLanes = 8;
constexpr int64_t kMaxBatch = 64;  // cells per call of the window passes (callers split larger)
constexpr int64_t kChunk = 256;  // lanes per pass: every per-lane buffer stays in L1

// ---- lane loops (acc_t = float or double); n lanes, every pointer to n contiguous values ----

// Lane loops over the cells of windows run lanes in blocks of kBlock: per cell one vector loop
// over the block, the block's sums in arrays of kBlock (kept in registers over the cells).
constexpr int64_t kBlock = 16;

// Pass 1 over the cells v[0..cells) of the windows (v[c][l]: cell c of lane l's window): the mean
// (scaled terms), max and min, added to those of earlier cells.
template <typename acc_t, int64_t B>
ADA_LANES void stats1_block(const acc_t* const* __restrict v, int64_t cells, acc_t inv_n,
                            acc_t* __restrict mean, acc_t* __restrict mx, acc_t* __restrict mn,
                            int64_t nb) {
  const int64_t n = B > 0 ? B : nb;
  acc_t s[kBlock], hi[kBlock], lo[kBlock];
  for (int64_t j = 0; j < n; ++j) s[j] = mean[j], hi[j] = mx[j], lo[j] = mn[j];
  for (int64_t c = 0; c < cells; ++c) {
    const acc_t* __restrict x = v[c];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const acc_t a = x[j];
      s[j] += a * inv_n;
      hi[j] = a > hi[j] ? a : hi[j];
      lo[j] = a < lo[j] ? a : lo[j];
    }
  }
  for (int64_t j = 0; j < n; ++j) mean[j] = s[j], mx[j] = hi[j], mn[j] = lo[j];
}
// Lanes [0, n) in blocks of kBlock: block(w, l0, nb, B) with w[c] = v[c] + l0 and the block's
// size B a compile-time kBlock for full blocks (unrolled), 0 (nb lanes) for the last one.
template <typename acc_t, typename Block>
ADA_LANES void in_blocks(const acc_t* const* v, int64_t cells, int64_t n, const Block& block) {
  const acc_t* w[kMaxBatch];
  for (int64_t l0 = 0; l0 < n; l0 += kBlock) {
    const int64_t nb = std::min(kBlock, n - l0);
    for (int64_t c = 0; c < cells; ++c) w[c] = v[c] + l0;
    if (nb == kBlock) block(w, l0, nb, std::integral_constant<int64_t, kBlock>{});
    else block(w, l0, nb, std::integral_constant<int64_t, 0>{});
  }
}
// A lambda called inside a per-ISA clone must be inlined there too (see ADA_LANES).
#if defined(__GNUC__)
#define ADA_LAMBDA __attribute__((always_inline))
#else
#define ADA_LAMBDA
#endif

template <typename acc_t>
ADA_LANES void stats1(const acc_t* const* __restrict v, int64_t cells, acc_t inv_n,
                      acc_t* __restrict mean, acc_t* __restrict mx, acc_t* __restrict mn,
                      int64_t n) {
  in_blocks(v, cells, n, [&](const acc_t* const* w, int64_t l0, int64_t nb, auto B) ADA_LAMBDA {
    stats1_block<acc_t, decltype(B)::value>(w, cells, inv_n, mean + l0, mx + l0, mn + l0, nb);
  });
}

// A constant window's mean exactly (as the device body), and half of it.
template <typename acc_t>
inline void fix_mean(const acc_t* __restrict mx, const acc_t* __restrict mn,
                     acc_t* __restrict mean, acc_t* __restrict half_mean, int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t m = (mx[l] == mn[l] && mean[l] == mean[l]) ? mx[l] : mean[l];
    mean[l] = m;
    half_mean[l] = m * acc_t(0.5);
  }
}

// Pass 2 over cells v[0..cells): both softmaxes and the sums of Q, added to those of earlier cells.
// The two forms differ only in the per-cell eDSCW terms, `form.cell(a, j, ed, w1, w2)` (the
// exponential and its q1, q2 terms), and in the eM shift `form.shift(a, mx)`.
template <typename acc_t, int64_t B, typename Form>
ADA_LANES void stats2_block(const acc_t* const* __restrict v, int64_t cells, const Form& form,
                            const acc_t* __restrict half_mean, const acc_t* __restrict mx,
                            acc_t* __restrict sd, acc_t* __restrict td, acc_t* __restrict p1,
                            acc_t* __restrict p2, acc_t* __restrict sm, acc_t* __restrict tm,
                            int64_t nb) {
  const int64_t n = B > 0 ? B : nb;
  acc_t s_d[kBlock], t_d[kBlock], q1[kBlock], q2[kBlock], s_m[kBlock], t_m[kBlock];
  for (int64_t j = 0; j < n; ++j)
    s_d[j] = sd[j], t_d[j] = td[j], q1[j] = p1[j], q2[j] = p2[j], s_m[j] = sm[j], t_m[j] = tm[j];
  for (int64_t c = 0; c < cells; ++c) {
    const acc_t* __restrict x = v[c];
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const acc_t a = x[j];
      acc_t ed, w1, w2;
      form.cell(a, j, ed, w1, w2);
      s_d[j] += ed;
      t_d[j] += ed * (a * acc_t(0.5) - half_mean[j]);
      q1[j] += w1;
      q2[j] += w2;
      const acc_t diff = Form::shift(a, mx[j]);
      const acc_t e = cpu::exp_vec(diff);
      s_m[j] += e;
      t_m[j] += e * diff;
    }
  }
  for (int64_t j = 0; j < n; ++j)
    sd[j] = s_d[j], td[j] = t_d[j], p1[j] = q1[j], p2[j] = q2[j], sm[j] = s_m[j], tm[j] = t_m[j];
}
template <typename acc_t, typename Form>
ADA_LANES void stats2(const acc_t* const* __restrict v, int64_t cells, const Form& form,
                      const acc_t* __restrict half_mean, const acc_t* __restrict mx,
                      acc_t* __restrict sd, acc_t* __restrict td, acc_t* __restrict p1,
                      acc_t* __restrict p2, acc_t* __restrict sm, acc_t* __restrict tm,
                      int64_t n) {
  in_blocks(v, cells, n, [&](const acc_t* const* w, int64_t l0, int64_t nb, auto B) ADA_LAMBDA {
    stats2_block<acc_t, decltype(B)::value>(w, cells, form.from(l0), half_mean + l0, mx + l0,
                                            sd + l0, td + l0, p1 + l0, p2 + l0, sm + l0, tm + l0,
                                            nb);
  });
}

// The generic form (any magnitude): the device bodies' dsc_parts, ties and clamps for the eM shift.
template <typename acc_t>
struct GenericForm {
  const acc_t* __restrict mean;
  GenericForm from(int64_t l0) const { return {mean + l0}; }
  ADA_LANES void cell(acc_t a, int64_t j, acc_t& ed, acc_t& w1, acc_t& w2) const {
    const ada::DscParts<acc_t> q = ada::dsc_parts<acc_t>(a, mean[j]);
    ed = cpu::exp_vec(q.dsc - acc_t(1));
    w1 = ed * q.x_dm;
    w2 = ed * q.dm;
  }
  static ADA_LANES acc_t shift(acc_t a, acc_t mx) { return shifted<acc_t>(a, mx); }
};

template <typename acc_t>
inline void finish(const acc_t* __restrict mean, const acc_t* __restrict mx,
                   const acc_t* __restrict sd, const acc_t* __restrict td,
                   const acc_t* __restrict p1, const acc_t* __restrict p2,
                   const acc_t* __restrict sm, const acc_t* __restrict tm, acc_t count,
                   acc_t* __restrict yd_out, acc_t* __restrict ym_out, acc_t* __restrict st0,
                   acc_t* __restrict st1, acc_t* __restrict st2, acc_t* __restrict st3,
                   int64_t n) {
  const acc_t inv_count = acc_t(1) / count;
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t inv_sd = acc_t(1) / sd[l];  // one division for the eDSCW terms
    const acc_t r = td[l] * inv_sd;
    const acc_t yd = (mean[l] + r) + r;
    const acc_t ym = mx[l] + tm[l] / sm[l];
    yd_out[l] = yd;
    ym_out[l] = ym;
    st0[l] = tie_diff<acc_t>(mx[l], ym) + cpu::log_vec(sm[l]);
    st1[l] = inv_sd;
    st2[l] = mean[l];
    st3[l] = ((p1[l] - yd * p2[l]) * inv_sd) * inv_count;
  }
}

// ---- fast lane loops: |x| and |m| in {0} or [2^-60, 2^60] ----
// There x^2 + m^2 neither overflows nor leaves the normal range (except x = m = 0), so the dsc and
// its derivatives are computed from the unscaled values with one division, no scaling and no sign
// selects; dsc in [0, 1] lets exp(dsc - 1) be a polynomial without range reduction. The generic
// loops above (dsc_parts, any magnitude, NaN, infinities) run wherever a chunk of lanes is not in
// that range. Gradients of the two forms agree to rounding.
//   dsc = 2|x||m| / d, d = x^2 + m^2;  c = (x^2 - m^2) / d^2;
//   d dsc / d x = -2 sgn(x) |m| c;  d dsc / d m = 2 sgn(m) |x| c  (0 at the kinks x m = 0).

template <typename acc_t>
constexpr acc_t kFastLo = ada::DscScale<acc_t>::lo;  // 2^-60
template <typename acc_t>
constexpr acc_t kFastHi = ada::DscScale<acc_t>::hi;  // 2^60

// exp(dsc - 1) for dsc in [0, 1]: float32 by a degree-7 fit of exp(t - 1/2) on |t| <= 1/2
// (t = dsc - 1/2; within 1.5 ulp, as exp_vec), float64 by std::exp.
template <typename acc_t>
inline acc_t exp_dsc(acc_t dsc) {
  if constexpr (std::is_same_v<acc_t, float>) {
    return cpu::horner(dsc - 0.5f, {1.1951033229706809e-04f, 8.4985024295747280e-04f,
                                    5.0550182349979877e-03f, 2.5270968675613403e-02f,
                                    1.0108835995197296e-01f, 3.0326539278030396e-01f,
                                    6.0653066635131836e-01f, 6.0653066635131836e-01f});
  } else {
    return std::exp(dsc - acc_t(1));
  }
}

// Whether every |v| is 0 or in [2^-60, 2^60] (NaN is not): max and min-nonzero reductions.
template <typename acc_t>
ADA_LANES bool in_fast_range_impl(const acc_t* __restrict v, int64_t n) {
  constexpr acc_t inf = std::numeric_limits<acc_t>::infinity();
  acc_t big = 0, small = inf;
#pragma omp simd reduction(max : big) reduction(min : small)
  for (int64_t l = 0; l < n; ++l) {
    const acc_t a = v[l] < 0 ? -v[l] : v[l];
    const acc_t t = a != a ? inf : a;  // NaN counts as too big
    big = t > big ? t : big;
    const acc_t z = a == acc_t(0) ? inf : t;
    small = z < small ? z : small;
  }
  return big <= kFastHi<acc_t> && small >= kFastLo<acc_t>;
}

// Forward, after pass 1: whether every window of the n lanes takes the fast pass 2 (|m| in {0} or
// [2^-60, 2^60], max |x| <= 2^60); its per-window terms, with m = 0 computed as m = 1 and the
// results fixed (dsc = [x = 0], d dsc / d m = 0): am = |m|, am2 = 2|m'|, m2 = m'^2, zm = [m != 0].
template <typename acc_t>
ADA_LANES bool prep_fast_impl(const acc_t* __restrict mean, const acc_t* __restrict mx,
                      const acc_t* __restrict mn, acc_t* __restrict am, acc_t* __restrict am2,
                      acc_t* __restrict m2, acc_t* __restrict zm, int64_t n) {
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t l = 0; l < n; ++l) {
    const acc_t m = mean[l];
    const acc_t a = m < 0 ? -m : m;
    const acc_t big = mx[l] > -mn[l] ? mx[l] : -mn[l];
    bad |= !(a <= kFastHi<acc_t> && (a >= kFastLo<acc_t> || a == acc_t(0)) &&
             big <= kFastHi<acc_t>);
    const bool z = a == acc_t(0);
    const acc_t me = z ? acc_t(1) : a;
    am[l] = a;
    am2[l] = me + me;
    m2[l] = me * me;
    zm[l] = z ? acc_t(0) : acc_t(1);
  }
  return !bad;
}

// The fast form (every |x| and |m| in range; the means' terms from fast_means): p1, p2 without
// their factor 2 sgn(m), which scale_p applies once per window; no tie or clamp for the eM shift.
template <typename acc_t>
struct FastForm {
  const acc_t* __restrict am;
  const acc_t* __restrict am2;
  const acc_t* __restrict m2;
  const acc_t* __restrict zm;
  FastForm from(int64_t l0) const { return {am + l0, am2 + l0, m2 + l0, zm + l0}; }
  ADA_LANES void cell(acc_t a, int64_t j, acc_t& ed, acc_t& w1, acc_t& w2) const {
    const acc_t ax = a < 0 ? -a : a;
    const acc_t x2 = a * a;
    const acc_t inv = acc_t(1) / (x2 + m2[j]);
    const acc_t dsc = ax == am[j] ? acc_t(1) : ((ax * am2[j]) * inv) * zm[j];
    ed = exp_dsc(dsc);
    const acc_t w = (ed * ax) * (((x2 - m2[j]) * inv) * inv);
    w2 = w;
    w1 = w * a;
  }
  static ADA_LANES acc_t shift(acc_t a, acc_t mx) { return a - mx; }  // finite: no tie or clamp
};

// p1, p2 *= 2 sgn(m) (the fast pass 2's factor; 0 for m = 0).
template <typename acc_t>
inline void scale_p(const acc_t* __restrict mean, acc_t* __restrict p1, acc_t* __restrict p2,
                    int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t f = mean[l] > 0 ? acc_t(2) : (mean[l] < 0 ? acc_t(-2) : acc_t(0));
    p1[l] *= f;
    p2[l] *= f;
  }
}

// The gradient reaching input lanes x[j] from one window each, added to out[j]. Fast form where
// `fast` (every |x| and |m| in range), else the generic one (dsc_parts).
template <typename acc_t>
ADA_LANES void grad_impl(bool fast, const acc_t* __restrict x,
                                 const acc_t* __restrict gd, const acc_t* __restrict gm,
                                 const acc_t* __restrict yd, const acc_t* __restrict ym,
                                 const acc_t* __restrict st0, const acc_t* __restrict st1,
                                 const acc_t* __restrict st2, const acc_t* __restrict st3,
                                 acc_t* __restrict out, int64_t n) {
  if (fast) {
    constexpr acc_t tiny = kFastLo<acc_t> * kFastLo<acc_t>;  // d for x = m = 0 (terms are 0)
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const acc_t a = x[j], m = st2[j];
      const acc_t ax = a < 0 ? -a : a, am = m < 0 ? -m : m;
      const acc_t x2 = a * a, m2 = m * m;
      const acc_t den = x2 + m2;
      const acc_t inv = acc_t(1) / (den < tiny ? tiny : den);
      const acc_t am2 = am + am;
      const acc_t dsc = ax == am ? acc_t(1) : ((ax * am2) * inv);
      const acc_t wd = exp_dsc(dsc) * st1[j];
      const acc_t c = ((x2 - m2) * inv) * inv;
      const acc_t sx = a > 0 ? acc_t(-1) : (a < 0 ? acc_t(1) : acc_t(0));  // -sgn(x)
      const acc_t dx = (am2 * c) * sx;
      const acc_t diff = a - ym[j];  // finite (a window mean in range has no infinity)
      const acc_t wm = cpu::exp_vec(diff - st0[j]);
      const acc_t v = gd[j] * (wd * (acc_t(1) + (a - yd[j]) * dx) + st3[j]) +
                      gm[j] * wm * (acc_t(1) + diff);
      out[j] += v;
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const acc_t a = x[j];
      const ada::DscParts<acc_t> q = ada::dsc_parts<acc_t>(a, st2[j]);
      const acc_t wd = cpu::exp_vec(q.dsc - acc_t(1)) * st1[j];
      const acc_t diff = shifted<acc_t>(a, ym[j]);
      const acc_t wm = cpu::exp_vec(diff - st0[j]);
      const acc_t v = gd[j] * (wd * (acc_t(1) + (a - yd[j]) * q.dx) + st3[j]) +
                      gm[j] * wm * (acc_t(1) + diff);
      out[j] += v;
    }
  }
}

// The output gradient g of n lanes split between the halves: gd = g b (eDSCW), gm = g (1 - b)
// (eM), b = b[l * b_step] (b_step 0: one weight). Done once per visited output row or position,
// not per window cell.
template <typename acc_t>
ADA_LANES void grad_halves_impl(const acc_t* __restrict g, const acc_t* __restrict b,
                                int64_t b_step, int64_t n, acc_t* __restrict gd,
                                acc_t* __restrict gm) {
  if (b_step == 0) {
    const acc_t w = b[0];
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) gd[l] = g[l] * w, gm[l] = g[l] * (acc_t(1) - w);
  } else {
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) gd[l] = g[l] * b[l], gm[l] = g[l] * (acc_t(1) - b[l]);
  }
}

// float entry points, one clone per ISA
SOFTPOOL_CLONES void stats1_f(const float* const* v, int64_t cells, float inv_n, float* mean,
                              float* mx, float* mn, int64_t n) {
  stats1(v, cells, inv_n, mean, mx, mn, n);
}
SOFTPOOL_CLONES void stats2_f(const float* const* v, int64_t cells, const float* mean,
                              const float* half_mean, const float* mx, float* sd, float* td,
                              float* p1, float* p2, float* sm, float* tm, int64_t n) {
  stats2(v, cells, GenericForm<float>{mean}, half_mean, mx, sd, td, p1, p2, sm, tm, n);
}
SOFTPOOL_CLONES void finish_f(const float* mean, const float* mx, const float* sd, const float* td,
                              const float* p1, const float* p2, const float* sm, const float* tm,
                              float count, float* yd, float* ym, float* st0, float* st1,
                              float* st2, float* st3, int64_t n) {
  finish(mean, mx, sd, td, p1, p2, sm, tm, count, yd, ym, st0, st1, st2, st3, n);
}
SOFTPOOL_CLONES void stats2_fast_f(const float* const* v, int64_t cells, const float* am,
                                   const float* am2, const float* m2, const float* zm,
                                   const float* half_mean, const float* mx, float* sd, float* td,
                                   float* p1, float* p2, float* sm, float* tm, int64_t n) {
  stats2(v, cells, FastForm<float>{am, am2, m2, zm}, half_mean, mx, sd, td, p1, p2, sm, tm, n);
}
SOFTPOOL_CLONES void grad_f(bool fast, const float* x, const float* gd, const float* gm,
                            const float* yd, const float* ym, const float* st0, const float* st1,
                            const float* st2, const float* st3, float* out, int64_t n) {
  grad_impl(fast, x, gd, gm, yd, ym, st0, st1, st2, st3, out, n);
}
SOFTPOOL_CLONES void grad_halves_f(const float* g, const float* b, int64_t b_step, int64_t n,
                                   float* gd, float* gm) {
  grad_halves_impl(g, b, b_step, n, gd, gm);
}

// y[l] = ada::mix(em[l], ed[l], b[l * b_step]) for n lanes, b_step 0 or 1.
template <typename acc_t>
ADA_LANES void mix_impl(const acc_t* __restrict em, const acc_t* __restrict ed,
                        const acc_t* __restrict b, int64_t b_step, int64_t n,
                        acc_t* __restrict y) {
  if (b_step == 0) {
    const acc_t w = b[0];
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) y[l] = ada::mix(em[l], ed[l], w);
  } else {
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) y[l] = ada::mix(em[l], ed[l], b[l]);
  }
}
SOFTPOOL_CLONES void mix_f(const float* em, const float* ed, const float* b, int64_t b_step,
                           int64_t n, float* y) {
  mix_impl(em, ed, b, b_step, n, y);
}

SOFTPOOL_CLONES bool in_fast_range_f(const float* v, int64_t n) { return in_fast_range_impl(v, n); }
SOFTPOOL_CLONES bool prep_fast_f(const float* mean, const float* mx, const float* mn, float* am,
                                 float* am2, float* m2, float* zm, int64_t n) {
  return prep_fast_impl(mean, mx, mn, am, am2, m2, zm, n);
}
inline bool in_fast_range(const float* v, int64_t n) { return in_fast_range_f(v, n); }
inline bool in_fast_range(const double* v, int64_t n) { return in_fast_range_impl(v, n); }
inline bool prep_fast(const float* mean, const float* mx, const float* mn, float* am, float* am2,
                      float* m2, float* zm, int64_t n) {
  return prep_fast_f(mean, mx, mn, am, am2, m2, zm, n);
}
inline bool prep_fast(const double* mean, const double* mx, const double* mn, double* am,
                      double* am2, double* m2, double* zm, int64_t n) {
  return prep_fast_impl(mean, mx, mn, am, am2, m2, zm, n);
}

template <typename acc_t>
inline void stats2_fast_any(const acc_t* const* v, int64_t cells, const acc_t* am,
                            const acc_t* am2, const acc_t* m2, const acc_t* zm,
                            const acc_t* half_mean, const acc_t* mx, acc_t* sd, acc_t* td,
                            acc_t* p1, acc_t* p2, acc_t* sm, acc_t* tm, int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>)
    stats2_fast_f(v, cells, am, am2, m2, zm, half_mean, mx, sd, td, p1, p2, sm, tm, n);
  else
    stats2(v, cells, FastForm<acc_t>{am, am2, m2, zm}, half_mean, mx, sd, td, p1, p2, sm, tm, n);
}
template <typename acc_t>
inline void grad_any(bool fast, const acc_t* x, const acc_t* gd, const acc_t* gm, const acc_t* yd,
                     const acc_t* ym, const acc_t* st0, const acc_t* st1, const acc_t* st2,
                     const acc_t* st3, acc_t* out, int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>) grad_f(fast, x, gd, gm, yd, ym, st0, st1, st2, st3, out, n);
  else grad_impl(fast, x, gd, gm, yd, ym, st0, st1, st2, st3, out, n);
}

template <typename acc_t>
inline void grad_halves(const acc_t* g, const acc_t* b, int64_t b_step, int64_t n, acc_t* gd,
                        acc_t* gm) {
  if constexpr (std::is_same_v<acc_t, float>) grad_halves_f(g, b, b_step, n, gd, gm);
  else grad_halves_impl(g, b, b_step, n, gd, gm);
}

// out[j] += the gradient of lanes j < n (grad_impl): full vectors of 16 lanes in place, the
// rest by recomputing the last 16 lanes into a buffer (windows are independent, so the lanes
// computed twice give the same values) and adding those not yet added. Rows of a few dozen
// columns thus need no scalar remainder, which would cost as much as the vectors.
template <typename acc_t>
inline void grad_lanes(bool fast, const acc_t* x, const acc_t* gd, const acc_t* gm,
                       const acc_t* yd, const acc_t* ym, const acc_t* st0, const acc_t* st1,
                       const acc_t* st2, const acc_t* st3, acc_t* out, int64_t n) {
  constexpr int64_t V = 16;
  if (n < V || n % V == 0) {
    grad_any(fast, x, gd, gm, yd, ym, st0, st1, st2, st3, out, n);
    return;
  }
  const int64_t full = n / V * V, t = n - V;
  grad_any(fast, x, gd, gm, yd, ym, st0, st1, st2, st3, out, full);
  acc_t tail[V] = {};
  grad_any(fast, x + t, gd + t, gm + t, yd + t, ym + t, st0 + t, st1 + t, st2 + t, st3 + t, tail,
           V);
  for (int64_t j = full; j < n; ++j) out[j] += tail[j - t];
}

inline void stats1_any(const float* const* v, int64_t cells, float inv_n, float* mean, float* mx,
                       float* mn, int64_t n) {
  stats1_f(v, cells, inv_n, mean, mx, mn, n);
}
inline void stats1_any(const double* const* v, int64_t cells, double inv_n, double* mean,
                       double* mx, double* mn, int64_t n) {
  stats1(v, cells, inv_n, mean, mx, mn, n);
}
template <typename acc_t>
inline void stats2_any(const acc_t* const* v, int64_t cells, const acc_t* mean,
                       const acc_t* half_mean, const acc_t* mx, acc_t* sd, acc_t* td, acc_t* p1,
                       acc_t* p2, acc_t* sm, acc_t* tm, int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>)
    stats2_f(v, cells, mean, half_mean, mx, sd, td, p1, p2, sm, tm, n);
  else stats2(v, cells, GenericForm<acc_t>{mean}, half_mean, mx, sd, td, p1, p2, sm, tm, n);
}
template <typename acc_t>
inline void finish_any(const acc_t* mean, const acc_t* mx, const acc_t* sd, const acc_t* td,
                       const acc_t* p1, const acc_t* p2, const acc_t* sm, const acc_t* tm,
                       acc_t count, acc_t* yd, acc_t* ym, acc_t* st0, acc_t* st1, acc_t* st2,
                       acc_t* st3, int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>)
    finish_f(mean, mx, sd, td, p1, p2, sm, tm, count, yd, ym, st0, st1, st2, st3, n);
  else finish(mean, mx, sd, td, p1, p2, sm, tm, count, yd, ym, st0, st1, st2, st3, n);
}
// float of n 16-bit values (bit operations, which vectorise; this file's own clones: the target
// clones of another file are not callable from here)
template <typename half_t>
inline void widen(const half_t* __restrict p, int64_t n, float* __restrict buf) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<float>(p[l]);
}
SOFTPOOL_CLONES void widen_bf16(const c10::BFloat16* p, int64_t n, float* buf) { widen(p, n, buf); }
SOFTPOOL_CLONES void widen_half(const c10::Half* p, int64_t n, float* buf) { widen(p, n, buf); }

// out[l] = bfloat16(v[l]): c10's rounding (to nearest even, NaN to 0x7FC0) on the bits, which
// vectorises (c10::BFloat16's constructor does not).
SOFTPOOL_CLONES void narrow_bf16(const float* __restrict v, int64_t n, uint16_t* __restrict out) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    uint32_t u;
    std::memcpy(&u, v + l, 4);
    const uint32_t r = (u + (((u >> 16) & 1u) + 0x7FFFu)) >> 16;
    out[l] = v[l] != v[l] ? uint16_t(0x7FC0) : static_cast<uint16_t>(r);
  }
}
template <typename acc_t, typename scalar_t>
inline void store_as(const acc_t* v, int64_t n, scalar_t* out) {
  static_assert(sizeof(c10::BFloat16) == 2, "bfloat16 is its 16 bits");
  if constexpr (std::is_same_v<scalar_t, c10::BFloat16>)
    narrow_bf16(v, n, reinterpret_cast<uint16_t*>(out));
  else
    for (int64_t l = 0; l < n; ++l) out[l] = static_cast<scalar_t>(v[l]);
}

template <typename acc_t>
inline void mix_any(const acc_t* em, const acc_t* ed, const acc_t* b, int64_t b_step, int64_t n,
                    acc_t* y) {
  if constexpr (std::is_same_v<acc_t, float>) mix_f(em, ed, b, b_step, n, y);
  else mix_impl(em, ed, b, b_step, n, y);
}

// y[l] = ada::mix(em[l], ed[l], b[l * b_step]) rounded once to scalar_t, for n lanes.
template <typename acc_t, typename scalar_t>
inline void mix_store(const acc_t* em, const acc_t* ed, const acc_t* b, int64_t b_step, int64_t n,
                      scalar_t* y) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    mix_any(em, ed, b, b_step, n, y);
  } else {
    acc_t buf[kChunk];
    for (int64_t l0 = 0; l0 < n; l0 += kChunk) {
      const int64_t m = std::min(kChunk, n - l0);
      mix_any(em + l0, ed + l0, b + l0 * b_step, b_step, m, buf);
      store_as(buf, m, y + l0);
    }
  }
}

// n lanes of p as acc_t: the memory itself when it already is acc_t, else converted into buf.
template <typename acc_t, typename scalar_t>
inline const acc_t* as_acc(const scalar_t* p, int64_t n, acc_t* buf) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    return p;
  } else {
    if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) widen_bf16(p, n, buf);
    else if constexpr (std::is_same_v<scalar_t, c10::Half>) widen_half(p, n, buf);
    else for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<acc_t>(p[l]);
    return buf;
  }
}

inline void clamp_window(int64_t o, int64_t k, int64_t s, int64_t p, int64_t size, int64_t& lo,
                         int64_t& hi) {
  const int64_t start = o * s - p;
  lo = std::max<int64_t>(start, 0);
  hi = std::min<int64_t>(start + k, size);
}

// ---- channels_last_3d kernels (offsets of dense channels_last tensors) ----

// b: per output (b_step 1, the outputs' layout) or one weight (b_step 0).
template <typename scalar_t>
void forward_lanes(const scalar_t* x, const at::opmath_type<scalar_t>* b, int64_t b_step,
                   const PoolGeometry& g, int64_t N, int64_t C, scalar_t* y,
                   at::opmath_type<scalar_t>* st) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t positions = N * OD * OH * OW, plane = positions * C;
  const int64_t cells = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, cells * C));
  at::parallel_for(0, positions, grain, [&](int64_t begin, int64_t end) {
    acc_t mean[kChunk], mx[kChunk], mn[kChunk], hm[kChunk], sd[kChunk], td[kChunk], p1[kChunk],
        p2[kChunk], sm[kChunk], tm[kChunk], am[kChunk], am2[kChunk], m2[kChunk], zm[kChunk];
    // Cells are read in batches of up to kBatch (the lane loops keep their sums in registers
    // over a batch): pointers into the input, or for float16/bfloat16 converted copies in `buf`,
    // once per pass: the memory stays O(kBatch kChunk) whatever the window (a global pool has
    // thousands of cells)
    constexpr int64_t kBatch = 32;
    std::vector<acc_t> buf(std::is_same_v<acc_t, scalar_t> ? 0 : kBatch * kChunk);
    std::vector<const acc_t*> ptr(std::min(cells, kBatch));
    std::vector<int64_t> offs(cells);
    int64_t ow = begin % OW, oh = (begin / OW) % OH, od = (begin / (OW * OH)) % OD;
    int64_t n = begin / (OW * OH * OD);
    for (int64_t pos = begin; pos < end; ++pos) {
      if (pos > begin && ++ow == OW) {  // (n, od, oh, ow) of pos, stepped along with it
        ow = 0;
        if (++oh == OH) {
          oh = 0;
          if (++od == OD) od = 0, ++n;
        }
      }
      int64_t d0, d1, h0, h1, w0, w1;
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, g.kernel[1], g.stride[1], g.padding[1], H, h0, h1);
      clamp_window(ow, g.kernel[2], g.stride[2], g.padding[2], W, w0, w1);
      int64_t cnt = 0;
      for (int64_t d = d0; d < d1; ++d)
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) offs[cnt++] = (((n * D + d) * H + h) * W + w) * C;
      const acc_t count = static_cast<acc_t>(cnt), inv_n = acc_t(1) / count;
      for (int64_t c0 = 0; c0 < C; c0 += kChunk) {
        const int64_t L = std::min(kChunk, C - c0);
        // f(cell pointers, number) for each batch of cells (converted once for both passes where
        // all cells fit in one batch)
        const bool one_batch = cnt <= kBatch;
        if (one_batch)
          for (int64_t k = 0; k < cnt; ++k)
            ptr[k] = as_acc<acc_t>(x + offs[k] + c0, L, buf.data() + k * kChunk);
        auto batches = [&](auto&& f) {
          if (one_batch) return f(ptr.data(), cnt);
          for (int64_t k0 = 0; k0 < cnt; k0 += kBatch) {
            const int64_t nb = std::min(kBatch, cnt - k0);
            for (int64_t k = 0; k < nb; ++k)
              ptr[k] = as_acc<acc_t>(x + offs[k0 + k] + c0, L, buf.data() + k * kChunk);
            f(ptr.data(), nb);
          }
        };
        std::fill(mean, mean + L, acc_t(0));
        std::fill(mx, mx + L, -std::numeric_limits<acc_t>::infinity());
        std::fill(mn, mn + L, std::numeric_limits<acc_t>::infinity());
        batches([&](const acc_t* const* v, int64_t nb) {
          stats1_any(v, nb, inv_n, mean, mx, mn, L);
        });
        fix_mean(mx, mn, mean, hm, L);
        for (acc_t* a : {sd, td, p1, p2, sm, tm}) std::fill(a, a + L, acc_t(0));
        if (prep_fast(mean, mx, mn, am, am2, m2, zm, L)) {
          batches([&](const acc_t* const* v, int64_t nb) {
            stats2_fast_any(v, nb, am, am2, m2, zm, hm, mx, sd, td, p1, p2, sm, tm, L);
          });
          scale_p(mean, p1, p2, L);
        } else {
          batches([&](const acc_t* const* v, int64_t nb) {
            stats2_any(v, nb, mean, hm, mx, sd, td, p1, p2, sm, tm, L);
          });
        }
        const int64_t o = pos * C + c0;
        acc_t* ym = st + kAdaEm * plane + o;
        acc_t* yd = st + kAdaEdscw * plane + o;
        finish_any(mean, mx, sd, td, p1, p2, sm, tm, count, yd, ym, st + o, st + plane + o,
                   st + 2 * plane + o, st + 3 * plane + o, L);
        mix_store(ym, yd, b + o * b_step, b_step, L, y + o);
      }
    }
  });
}

// gy: the output's gradient; b as forward_lanes's.
template <typename scalar_t>
void backward_lanes(const at::opmath_type<scalar_t>* gy, const at::opmath_type<scalar_t>* b,
                    int64_t b_step, const scalar_t* x, const at::opmath_type<scalar_t>* st,
                    const PoolGeometry& g, int64_t N, int64_t C, scalar_t* gx) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t positions = N * D * H * W, plane = N * OD * OH * OW * C;
  const acc_t* ym = st + kAdaEm * plane;
  const acc_t* yd = st + kAdaEdscw * plane;
  int64_t visits = 1;
  for (int d = 0; d < 3; ++d) visits *= (g.kernel[d] + g.stride[d] - 1) / g.stride[d];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, visits * C));
  // windows containing each input index, per dimension (no divisions per position)
  std::vector<int64_t> wt[3][2];
  for (int d = 0; d < 3; ++d) {
    wt[d][0].resize(g.in[d]);
    wt[d][1].resize(g.in[d]);
    for (int64_t i = 0; i < g.in[d]; ++i)
      windows_containing(i, g.kernel[d], g.stride[d], g.padding[d], g.out[d], wt[d][0][i],
                         wt[d][1][i]);
  }
  // whether each output position's window means are all in the fast range (computed by the first
  // task that needs it; tasks may race to store the same value)
  const int64_t out_positions = N * OD * OH * OW;
  std::unique_ptr<std::atomic<int8_t>[]> pos_fast(new std::atomic<int8_t>[out_positions]);
  for (int64_t r = 0; r < out_positions; ++r) pos_fast[r].store(-1, std::memory_order_relaxed);
  at::parallel_for(0, positions, grain, [&](int64_t begin, int64_t end) {
    acc_t acc[kChunk], buf[kChunk], gd[kChunk], gm[kChunk];
    // (n, id, ih, iw) of `pos`, stepped along with it
    int64_t iw = begin % W, ih = (begin / W) % H, id = (begin / (W * H)) % D;
    int64_t n = begin / (W * H * D);
    for (int64_t pos = begin; pos < end; ++pos) {
      const int64_t a0 = wt[0][0][id], a1 = wt[0][1][id], b0 = wt[1][0][ih], b1 = wt[1][1][ih];
      const int64_t c0_ = wt[2][0][iw], c1_ = wt[2][1][iw];
      for (int64_t c0 = 0; c0 < C; c0 += kChunk) {
        const int64_t L = std::min(kChunk, C - c0);
        const acc_t* xv = as_acc<acc_t>(x + pos * C + c0, L, buf);
        const bool x_fast = in_fast_range(xv, L);
        std::fill(acc, acc + L, acc_t(0));
        for (int64_t od = a0; od <= a1; ++od)
          for (int64_t oh = b0; oh <= b1; ++oh)
            for (int64_t ow = c0_; ow <= c1_; ++ow) {
              const int64_t op = ((n * OD + od) * OH + oh) * OW + ow, o = op * C + c0;
              const acc_t* m = st + 2 * plane + o;
              bool fast = x_fast;
              if (fast && C <= kChunk) {
                int8_t f = pos_fast[op].load(std::memory_order_relaxed);
                if (f < 0) {
                  f = in_fast_range(m, L) ? 1 : 0;
                  pos_fast[op].store(f, std::memory_order_relaxed);
                }
                fast = f == 1;
              } else if (fast) {
                fast = in_fast_range(m, L);
              }
              grad_halves(gy + o, b + o * b_step, b_step, L, gd, gm);
              grad_lanes(fast, xv, gd, gm, yd + o, ym + o, st + o, st + plane + o, m,
                         st + 3 * plane + o, acc, L);
            }
        scalar_t* out = gx + pos * C + c0;
        store_as(acc, L, out);
      }
      if (++iw == W) {
        iw = 0;
        if (++ih == H) {
          ih = 0;
          if (++id == D) id = 0, ++n;
        }
      }
    }
  });
}

// ---- contiguous kernels: lanes along W ----

// Output columns [lo, hi) whose windows lie inside [0, W).
inline void interior(int64_t k, int64_t s, int64_t p, int64_t W, int64_t OW, int64_t& lo,
                     int64_t& hi) {
  lo = std::min<int64_t>(OW, (p + s - 1) / s);
  hi = W - k + p >= 0 ? std::min<int64_t>(OW, (W - k + p) / s + 1) : 0;
  hi = std::max(hi, lo);
}

inline int64_t interior_columns(const PoolGeometry& g) {
  int64_t lo, hi;
  interior(g.kernel[2], g.stride[2], g.padding[2], g.in[2], g.out[2], lo, hi);
  return hi - lo;
}

// Output columns [o0, o1) whose windows, clamped to [0, W), hold kernel columns [k0, k1).
struct Run {
  int64_t o0, o1, k0, k1;
};
inline std::vector<Run> runs_along_w(int64_t k, int64_t s, int64_t p, int64_t W, int64_t OW) {
  std::vector<Run> runs;
  for (int64_t ow = 0; ow < OW; ++ow) {
    const int64_t start = ow * s - p;
    const int64_t k0 = std::max<int64_t>(0, -start), k1 = std::min<int64_t>(k, W - start);
    if (!runs.empty() && runs.back().k0 == k0 && runs.back().k1 == k1) ++runs.back().o1;
    else runs.push_back({ow, ow + 1, k0, k1});
  }
  return runs;
}

// Lane counts are rounded up to kVec (padding lanes hold zeros, their results are dropped): a
// loop of full vectors instead of a scalar remainder, which on rows of a few dozen columns would
// cost as much as the vectors.
constexpr int64_t kVec = 16;
inline int64_t padded(int64_t n) { return (n + kVec - 1) / kVec * kVec; }

// buf[l] = p[l * stride] as acc_t (stride 1 and 2 as constants, which vectorise).
template <typename acc_t, typename scalar_t>
ADA_LANES void gather_impl(const scalar_t* __restrict p, int64_t stride, int64_t n,
                           acc_t* __restrict buf) {
  if (stride == 1) {
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<acc_t>(p[l]);
  } else if (stride == 2) {
#pragma omp simd
    for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<acc_t>(p[2 * l]);
  } else {
    for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<acc_t>(p[l * stride]);
  }
}
SOFTPOOL_CLONES void gather_f(const float* p, int64_t stride, int64_t n, float* buf) {
  gather_impl(p, stride, n, buf);
}
SOFTPOOL_CLONES void gather_bf16(const c10::BFloat16* p, int64_t stride, int64_t n, float* buf) {
  gather_impl(p, stride, n, buf);
}
SOFTPOOL_CLONES void gather_half(const c10::Half* p, int64_t stride, int64_t n, float* buf) {
  gather_impl(p, stride, n, buf);
}
template <typename acc_t, typename scalar_t>
inline void gather(const scalar_t* p, int64_t stride, int64_t n, acc_t* buf) {
  if constexpr (std::is_same_v<scalar_t, float>) gather_f(p, stride, n, buf);
  else if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) gather_bf16(p, stride, n, buf);
  else if constexpr (std::is_same_v<scalar_t, c10::Half>) gather_half(p, stride, n, buf);
  else gather_impl(p, stride, n, buf);
}

template <typename scalar_t>
void forward_rows(const ada::ForwardArgs<scalar_t, int64_t>& args, const PoolGeometry& g,
                  int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* x = args.x;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t kh = g.kernel[1], sh = g.stride[1], ph = g.padding[1];
  const int64_t kw = g.kernel[2], sw = g.stride[2], pw = g.padding[2];
  const std::vector<Run> runs = runs_along_w(kw, sw, pw, W, OW);
  // Rows oh in [oh_lo, oh_hi) have H windows inside [0, H): consecutive ones (same n, c, od)
  // share the cell pattern, so a pass takes the lanes of several rows side by side (the short
  // runs of border columns, and rows of a few dozen columns, then fill whole vectors).
  const int64_t oh_lo = std::min<int64_t>(OH, (ph + sh - 1) / sh);
  const int64_t oh_hi =
      std::max(oh_lo, H - kh + ph >= 0 ? std::min<int64_t>(OH, (H - kh + ph) / sh + 1) : 0);
  const int64_t rows = planes * OD * OH, plane = args.plane, b_step = args.b_step;
  acc_t* ym = args.stats + kAdaEm * plane;
  acc_t* yd = args.stats + kAdaEdscw * plane;
  const int64_t cells = g.kernel[0] * kh * kw;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, cells * OW));
  // lanes of a pass: up to kChunk, fewer for large windows (the cell copies stay ~1 MiB)
  int64_t longest = 0;
  for (const Run& r : runs) longest = std::max(longest, r.o1 - r.o0);
  const int64_t cap = std::min(
      kChunk, std::max(padded(longest), (int64_t(1) << 18) / std::max<int64_t>(1, cells) / kVec * kVec));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t mean[kChunk], mx[kChunk], mn[kChunk], hm[kChunk], sd[kChunk], td[kChunk], p1[kChunk],
        p2[kChunk], sm[kChunk], tm[kChunk], am[kChunk], am2[kChunk], m2[kChunk], zm[kChunk];
    acc_t out[6][kChunk];  // a pass's results, copied to the rows they belong to
    std::vector<acc_t> buf(cells * cap);
    std::vector<const acc_t*> ptr(cells);
    for (int64_t c = 0; c < cells; ++c) ptr[c] = buf.data() + c * cap;
    for (int64_t row = begin, G = 1; row < end; row += G) {
      const int64_t oh = row % OH, od = (row / OH) % OD, nc = row / (OH * OD);
      const bool inner = oh >= oh_lo && oh < oh_hi;
      G = inner ? std::min(end - row, oh_hi - oh) : 1;  // rows in this block
      int64_t d0, d1, h0, h1;  // the window of the block's first row, clamped
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, kh, sh, ph, H, h0, h1);
      for (const Run& run : runs) {
        if (run.k1 <= run.k0) {  // no cell in range (not produced by legal geometries)
          for (int64_t r = 0; r < G; ++r)
            for (int64_t ow = run.o0; ow < run.o1; ++ow)
              ada::forward_element<false>((row + r) * OW + ow, args);
          continue;
        }
        const int64_t cnt = (d1 - d0) * (h1 - h0) * (run.k1 - run.k0);
        const acc_t count = static_cast<acc_t>(cnt), inv_n = acc_t(1) / count;
        const int64_t len = run.o1 - run.o0;
        const int64_t width = std::min(cap, len);                    // columns of a pass
        const int64_t per_pass = std::max<int64_t>(1, cap / width);  // rows of a pass
        for (int64_t rb = 0; rb < G; rb += per_pass) {
          const int64_t R = std::min(per_pass, G - rb);
          for (int64_t l0 = run.o0; l0 < run.o1; l0 += width) {
            const int64_t n = std::min(width, run.o1 - l0), L = R * n, Lp = padded(L);
            int64_t c = 0;
            for (int64_t d = d0; d < d1; ++d)
              for (int64_t h = h0; h < h1; ++h) {
                const scalar_t* line = x + ((nc * D + d) * H + h + rb * sh) * W + l0 * sw - pw;
                for (int64_t k = run.k0; k < run.k1; ++k, ++c) {
                  acc_t* cell = buf.data() + c * cap;
                  for (int64_t r = 0; r < R; ++r) gather(line + r * sh * W + k, sw, n, cell + r * n);
                  std::fill(cell + L, cell + Lp, acc_t(0));
                }
              }
            std::fill(mean, mean + Lp, acc_t(0));
            std::fill(mx, mx + Lp, -std::numeric_limits<acc_t>::infinity());
            std::fill(mn, mn + Lp, std::numeric_limits<acc_t>::infinity());
            for (int64_t k = 0; k < cnt; k += kMaxBatch)
              stats1_any(ptr.data() + k, std::min(kMaxBatch, cnt - k), inv_n, mean, mx, mn, Lp);
            fix_mean(mx, mn, mean, hm, Lp);
            for (acc_t* a : {sd, td, p1, p2, sm, tm}) std::fill(a, a + Lp, acc_t(0));
            if (prep_fast(mean, mx, mn, am, am2, m2, zm, Lp)) {
              for (int64_t k = 0; k < cnt; k += kMaxBatch)
                stats2_fast_any(ptr.data() + k, std::min(kMaxBatch, cnt - k), am, am2, m2, zm, hm,
                                mx, sd, td, p1, p2, sm, tm, Lp);
              scale_p(mean, p1, p2, Lp);
            } else {
              for (int64_t k = 0; k < cnt; k += kMaxBatch)
                stats2_any(ptr.data() + k, std::min(kMaxBatch, cnt - k), mean, hm, mx, sd, td, p1,
                           p2, sm, tm, Lp);
            }
            if (R == 1) {
              const int64_t o = (row + rb) * OW + l0;
              finish_any(mean, mx, sd, td, p1, p2, sm, tm, count, yd + o, ym + o, args.stats + o,
                         args.stats + plane + o, args.stats + 2 * plane + o,
                         args.stats + 3 * plane + o, L);
              mix_store(ym + o, yd + o, args.b + o * b_step, b_step, L, args.y + o);
              continue;
            }
            finish_any(mean, mx, sd, td, p1, p2, sm, tm, count, out[0], out[1], out[2], out[3],
                       out[4], out[5], Lp);
            acc_t* dst[6] = {yd, ym, args.stats, args.stats + plane, args.stats + 2 * plane,
                             args.stats + 3 * plane};
            for (int64_t r = 0; r < R; ++r) {
              const int64_t o = (row + rb + r) * OW + l0;
              for (int a = 0; a < 6; ++a) std::copy(out[a] + r * n, out[a] + (r + 1) * n, dst[a] + o);
              mix_store(ym + o, yd + o, args.b + o * b_step, b_step, n, args.y + o);
            }
          }
        }
      }
    }
  });
}

// xp[r * PW + j] = float(x[j * sw + r]) for the W columns of a row, 0 past them.
template <typename acc_t, typename scalar_t>
ADA_LANES void split_impl(const scalar_t* __restrict x, int64_t W, int64_t sw, int64_t PW,
                          acc_t* __restrict xp) {
  if (sw == 1) {
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) xp[w] = static_cast<acc_t>(x[w]);
  } else if (sw == 2) {
    acc_t* __restrict e = xp;
    acc_t* __restrict o = xp + PW;
    for (int64_t j = 0; j < W / 2; ++j) {
      e[j] = static_cast<acc_t>(x[2 * j]);
      o[j] = static_cast<acc_t>(x[2 * j + 1]);
    }
    if (W % 2) e[W / 2] = static_cast<acc_t>(x[W - 1]);
  } else {
    for (int64_t r = 0; r < sw; ++r)
      for (int64_t j = 0, w = r; w < W; ++j, w += sw) xp[r * PW + j] = static_cast<acc_t>(x[w]);
  }
  for (int64_t r = 0; r < sw; ++r)
    for (int64_t j = (W - r + sw - 1) / sw; j < PW; ++j) xp[r * PW + j] = acc_t(0);
}
SOFTPOOL_CLONES void split_f(const float* x, int64_t W, int64_t sw, int64_t PW, float* xp) {
  split_impl(x, W, sw, PW, xp);
}
SOFTPOOL_CLONES void split_bf16(const c10::BFloat16* x, int64_t W, int64_t sw, int64_t PW,
                                float* xp) {
  split_impl(x, W, sw, PW, xp);
}
SOFTPOOL_CLONES void split_half(const c10::Half* x, int64_t W, int64_t sw, int64_t PW, float* xp) {
  split_impl(x, W, sw, PW, xp);
}
// The inverse of split_impl: row[w] = acc[(w % sw) * PW + w / sw].
template <typename acc_t>
ADA_LANES void merge_impl(const acc_t* __restrict acc, int64_t W, int64_t sw, int64_t PW,
                          acc_t* __restrict row) {
  if (sw == 2) {
    const acc_t* __restrict e = acc;
    const acc_t* __restrict o = acc + PW;
    for (int64_t j = 0; j < W / 2; ++j) {
      row[2 * j] = e[j];
      row[2 * j + 1] = o[j];
    }
    if (W % 2) row[W - 1] = e[W / 2];
  } else {
    for (int64_t r = 0; r < sw; ++r)
      for (int64_t j = 0, w = r; w < W; ++j, w += sw) row[w] = acc[r * PW + j];
  }
}
SOFTPOOL_CLONES void merge_f(const float* acc, int64_t W, int64_t sw, int64_t PW, float* row) {
  merge_impl(acc, W, sw, PW, row);
}
inline void merge_phases(const float* acc, int64_t W, int64_t sw, int64_t PW, float* row) {
  merge_f(acc, W, sw, PW, row);
}
inline void merge_phases(const double* acc, int64_t W, int64_t sw, int64_t PW, double* row) {
  merge_impl(acc, W, sw, PW, row);
}
template <typename acc_t, typename scalar_t>
inline void split_phases(const scalar_t* x, int64_t W, int64_t sw, int64_t PW, acc_t* xp) {
  if constexpr (std::is_same_v<scalar_t, float>) split_f(x, W, sw, PW, xp);
  else if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) split_bf16(x, W, sw, PW, xp);
  else if constexpr (std::is_same_v<scalar_t, c10::Half>) split_half(x, W, sw, PW, xp);
  else split_impl(x, W, sw, PW, xp);
}

template <typename scalar_t>
void backward_rows(const ada::BackwardArgs<scalar_t, int64_t>& args, const PoolGeometry& g,
                   int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t kw = g.kernel[2], sw = g.stride[2], pw = g.padding[2];
  const int64_t rows = planes * D * H, plane = args.plane;
  int64_t visits = 1;
  for (int d = 0; d < 3; ++d) visits *= (g.kernel[d] + g.stride[d] - 1) / g.stride[d];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, visits * W));
  const acc_t* st = args.stats;
  const acc_t* ym = st + kAdaEm * plane;
  const acc_t* yd = st + kAdaEdscw * plane;
  const int64_t b_step = args.b_step;
  // Whether each output row's window means are all in the fast range: computed by the first task
  // that needs it (tasks may race to store the same value).
  const int64_t out_rows = planes * OD * OH, PW = (W + sw - 1) / sw;
  std::unique_ptr<std::atomic<int8_t>[]> row_fast(new std::atomic<int8_t>[out_rows]);
  for (int64_t r = 0; r < out_rows; ++r) row_fast[r].store(-1, std::memory_order_relaxed);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    // acc holds the row by phase: column iw = j * sw + r at acc[r * PW + j], so the lanes of one
    // kernel column k (columns iw0, iw0 + sw, ...) accumulate contiguously
    std::vector<acc_t> acc(sw * PW), xp(sw * PW), gd(OW), gm(OW);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ih = row % H, id = (row / H) % D, nc = row / (H * D);
      int64_t a0, a1, b0, b1;
      windows_containing(id, g.kernel[0], g.stride[0], g.padding[0], OD, a0, a1);
      windows_containing(ih, g.kernel[1], g.stride[1], g.padding[1], OH, b0, b1);
      std::fill(acc.begin(), acc.end(), acc_t(0));
      // the input row as acc_t, by phase as acc (zeros past W)
      split_phases(args.x + row * W, W, sw, PW, xp.data());
      const bool x_fast = in_fast_range(xp.data(), sw * PW);
      for (int64_t od = a0; od <= a1; ++od)
        for (int64_t oh = b0; oh <= b1; ++oh) {
          const int64_t orow = (nc * OD + od) * OH + oh, base = orow * OW;
          const acc_t* mrow = st + 2 * plane + base;
          grad_halves(args.g + base, args.b + base * b_step, b_step, OW, gd.data(), gm.data());
          bool fast = x_fast;
          if (fast) {
            int8_t f = row_fast[orow].load(std::memory_order_relaxed);
            if (f < 0) {
              f = in_fast_range(mrow, OW) ? 1 : 0;
              row_fast[orow].store(f, std::memory_order_relaxed);
            }
            fast = f == 1;
          }
          for (int64_t k = 0; k < kw; ++k) {
            // output columns whose window holds input column ow * sw - pw + k
            const int64_t first = k >= pw ? 0 : (pw - k + sw - 1) / sw;
            const int64_t top = W - 1 + pw - k;
            const int64_t last = top < 0 ? -1 : std::min<int64_t>(OW - 1, top / sw);
            if (last < first) continue;
            const int64_t iw0 = first * sw - pw + k, o = base + first;
            const int64_t at = (iw0 % sw) * PW + iw0 / sw;  // column iw0 in the phase layout
            grad_lanes(fast, xp.data() + at, gd.data() + first, gm.data() + first, yd + o,
                       ym + o, st + o, st + plane + o, mrow + first, st + 3 * plane + o,
                       acc.data() + at, last + 1 - first);
          }
        }
      scalar_t* out = args.gx + row * W;
      if (sw == 1) {
        store_as(acc.data(), W, out);
      } else {  // back from the phase layout (into xp, free now), then one rounding
        merge_phases(acc.data(), W, sw, PW, xp.data());
        store_as(xp.data(), W, out);
      }
    }
  });
}

// ---- few channels: the per-element bodies in a parallel loop ----

template <typename F>
void with_layout(bool channels_last, F&& f) {
  if (channels_last) f(std::true_type{});
  else f(std::false_type{});
}

int64_t body_grain(int64_t work) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, work)); }

}  // namespace cpu_ada

namespace {

constexpr auto kCL = c10::MemoryFormat::ChannelsLast3d;

bool use_lanes(const at::Tensor& input) { return input.size(1) >= cpu_ada::kMinLanes; }

}  // namespace

// Whether the contiguous kernels with lanes along W apply.
bool use_rows(const at::Tensor& input, const PoolGeometry& g) {
  return memory_format_of(input) != kCL && cpu_ada::interior_columns(g) >= cpu_ada::kMinLanes;
}

void ada_forward_cpu(const at::Tensor& input, const at::Tensor& b, const PoolGeometry& g,
                     at::Tensor& output, at::Tensor& stats) {
  if (use_rows(input, g)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_forward_cpu", [&] {
      const auto args = ada::forward_args<scalar_t, int64_t>(input, b, g, output, stats);
      cpu_ada::forward_rows<scalar_t>(args, g, input.size(0) * input.size(1));
    });
    return;
  }
  if (use_lanes(input)) {
    // channels_last_3d; a contiguous input is computed in it and the results copied back
    const bool cl = memory_format_of(input) == kCL;
    const at::Tensor x = cl ? input : input.contiguous(kCL);
    const at::Tensor bl = cl || b.numel() == 1 ? b : b.contiguous(kCL);
    at::Tensor y = cl ? output : at::empty(output.sizes(), output.options().memory_format(kCL));
    at::Tensor st = cl ? stats : at::empty(stats.sizes(), stats.options().memory_format(kCL));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_forward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      cpu_ada::forward_lanes<scalar_t>(x.const_data_ptr<scalar_t>(), bl.const_data_ptr<acc_t>(),
                                       ada_mix_step(bl), g, x.size(0), x.size(1),
                                       y.mutable_data_ptr<scalar_t>(),
                                       st.mutable_data_ptr<acc_t>());
    });
    if (!cl) {
      output.copy_(y);
      stats.copy_(st);
    }
    return;
  }
  const bool cl = memory_format_of(input) == kCL;
  const int64_t total = output.numel();
  const int64_t cells = g.kernel[0] * g.kernel[1] * g.kernel[2];
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_forward_cpu", [&] {
    const auto args = ada::forward_args<scalar_t, int64_t>(input, b, g, output, stats);
    cpu_ada::with_layout(cl, [&](auto cl_tag) {
      at::parallel_for(0, total, cpu_ada::body_grain(cells), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ada::forward_element<decltype(cl_tag)::value>(i, args);
      });
    });
  });
}

void ada_backward_cpu(const at::Tensor& grad, const at::Tensor& b, const at::Tensor& input,
                      const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input) {
  if (use_rows(input, g)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_backward_cpu", [&] {
      const auto args = ada::backward_args<scalar_t, int64_t>(grad, b, input, stats, g,
                                                              grad_input);
      cpu_ada::backward_rows<scalar_t>(args, g, input.size(0) * input.size(1));
    });
    return;
  }
  int64_t visits = 1;
  for (int d = 0; d < 3; ++d) visits *= (g.kernel[d] + g.stride[d] - 1) / g.stride[d];
  if (use_lanes(input)) {
    const bool cl = memory_format_of(input) == kCL;
    auto as_cl = [&](const at::Tensor& t) { return cl ? t : t.contiguous(kCL); };
    const at::Tensor x = as_cl(input), gy = as_cl(grad), st = as_cl(stats);
    const at::Tensor bl = b.numel() == 1 ? b : as_cl(b);
    at::Tensor gx = cl ? grad_input : at::empty(x.sizes(), x.options().memory_format(kCL));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_backward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      cpu_ada::backward_lanes<scalar_t>(
          gy.const_data_ptr<acc_t>(), bl.const_data_ptr<acc_t>(), ada_mix_step(bl),
          x.const_data_ptr<scalar_t>(), st.const_data_ptr<acc_t>(), g, x.size(0), x.size(1),
          gx.mutable_data_ptr<scalar_t>());
    });
    if (!cl) grad_input.copy_(gx);
    return;
  }
  const bool cl = memory_format_of(input) == kCL;
  const int64_t total = input.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_backward_cpu", [&] {
    const auto args = ada::backward_args<scalar_t, int64_t>(grad, b, input, stats, g, grad_input);
    cpu_ada::with_layout(cl, [&](auto cl_tag) {
      at::parallel_for(0, total, cpu_ada::body_grain(visits), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ada::backward_element<decltype(cl_tag)::value>(i, args);
      });
    });
  });
}

}  // namespace softpool
