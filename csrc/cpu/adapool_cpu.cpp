// CPU AdaPool kernels. Work is split into tasks by at::parallel_for (OpenMP); inside a task the
// maths runs over contiguous "lanes" in `#pragma omp simd` loops, using the device bodies'
// dsc_parts (adapool_device_body.h, branch-free) and the vectorisable exp/log of cpu/lanes.h.
// Float loops are compiled for AVX-512, AVX2 and the baseline ISA. Three paths:
//   contiguous, >= kMinLanes interior output columns: forward tasks are output rows (n, c, od, oh),
//     lanes the output columns whose windows lie inside the row (read with the stride), border
//     columns by the per-element body; backward tasks are input rows, accumulating in a row
//     buffer every window row containing them, one window offset kw at a time (a fixed order:
//     deterministic, no atomics);
//   otherwise, >= kMinLanes channels: lanes are the channels of channels_last_3d (a contiguous
//     input, e.g. under a global pool, is computed in that layout and copied back); a task is one
//     output (forward) or input (backward, a gather over the windows containing it) position;
//   otherwise (few channels and columns): the per-element bodies in a parallel loop.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "adapool.h"
#include "adapool_device_body.h"
#include "cpu/lanes.h"

namespace softpool {
namespace cpu_ada {

constexpr int64_t kMinLanes = 8;
constexpr int64_t kChunk = 256;  // lanes per pass: every per-lane buffer stays in L1

// ---- lane loops (acc_t = float or double); n lanes, every pointer to n contiguous values ----

// Pass 1 over one cell: the mean (scaled terms), max and min.
template <typename acc_t>
inline void stats1(const acc_t* __restrict x, acc_t inv_n, acc_t* __restrict mean,
                   acc_t* __restrict mx, acc_t* __restrict mn, int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t a = x[l];
    mean[l] += a * inv_n;
    mx[l] = a > mx[l] ? a : mx[l];
    mn[l] = a < mn[l] ? a : mn[l];
  }
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

// Pass 2 over one cell: both softmaxes and the sums of Q.
template <typename acc_t>
inline void stats2(const acc_t* __restrict x, const acc_t* __restrict mean,
                   const acc_t* __restrict half_mean, const acc_t* __restrict mx,
                   acc_t* __restrict sd, acc_t* __restrict td, acc_t* __restrict p1,
                   acc_t* __restrict p2, acc_t* __restrict sm, acc_t* __restrict tm, int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t a = x[l];
    const ada::DscParts<acc_t> q = ada::dsc_parts<acc_t>(a, mean[l]);
    const acc_t ed = cpu::exp_vec(q.dsc - acc_t(1));
    sd[l] += ed;
    td[l] += ed * (a * acc_t(0.5) - half_mean[l]);
    p1[l] += ed * q.x_dm;
    p2[l] += ed * q.dm;
    const acc_t diff = shifted<acc_t>(a, mx[l]);
    const acc_t e = cpu::exp_vec(diff);
    sm[l] += e;
    tm[l] += e * diff;
  }
}

template <typename acc_t>
inline void finish(const acc_t* __restrict mean, const acc_t* __restrict mx,
                   const acc_t* __restrict sd, const acc_t* __restrict td,
                   const acc_t* __restrict p1, const acc_t* __restrict p2,
                   const acc_t* __restrict sm, const acc_t* __restrict tm, acc_t count,
                   acc_t* __restrict yd_out, acc_t* __restrict ym_out, acc_t* __restrict st0,
                   acc_t* __restrict st1, acc_t* __restrict st2, acc_t* __restrict st3,
                   int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t r = td[l] / sd[l];
    const acc_t yd = (mean[l] + r) + r;
    const acc_t ym = mx[l] + tm[l] / sm[l];
    yd_out[l] = yd;
    ym_out[l] = ym;
    st0[l] = tie_diff<acc_t>(mx[l], ym) + cpu::log_vec(sm[l]);
    st1[l] = acc_t(1) / sd[l];
    st2[l] = mean[l];
    st3[l] = (p1[l] - yd * p2[l]) / (count * sd[l]);
  }
}

// The gradient reaching input lanes x from one window.
template <typename acc_t>
inline void grad(const acc_t* __restrict x, const acc_t* __restrict gd,
                 const acc_t* __restrict gm, const acc_t* __restrict yd,
                 const acc_t* __restrict ym, const acc_t* __restrict st0,
                 const acc_t* __restrict st1, const acc_t* __restrict st2,
                 const acc_t* __restrict st3, acc_t* __restrict acc, int64_t n) {
#pragma omp simd
  for (int64_t l = 0; l < n; ++l) {
    const acc_t a = x[l];
    const ada::DscParts<acc_t> q = ada::dsc_parts<acc_t>(a, st2[l]);
    const acc_t wd = cpu::exp_vec(q.dsc - acc_t(1)) * st1[l];
    const acc_t diff = shifted<acc_t>(a, ym[l]);
    const acc_t wm = cpu::exp_vec(diff - st0[l]);
    acc[l] += gd[l] * (wd * (acc_t(1) + (a - yd[l]) * q.dx) + st3[l]) +
              gm[l] * wm * (acc_t(1) + diff);
  }
}

// float entry points, one clone per ISA
SOFTPOOL_CLONES void stats1_f(const float* x, float inv_n, float* mean, float* mx, float* mn,
                              int64_t n) {
  stats1(x, inv_n, mean, mx, mn, n);
}
SOFTPOOL_CLONES void stats2_f(const float* x, const float* mean, const float* half_mean,
                              const float* mx, float* sd, float* td, float* p1, float* p2,
                              float* sm, float* tm, int64_t n) {
  stats2(x, mean, half_mean, mx, sd, td, p1, p2, sm, tm, n);
}
SOFTPOOL_CLONES void finish_f(const float* mean, const float* mx, const float* sd, const float* td,
                              const float* p1, const float* p2, const float* sm, const float* tm,
                              float count, float* yd, float* ym, float* st0, float* st1,
                              float* st2, float* st3, int64_t n) {
  finish(mean, mx, sd, td, p1, p2, sm, tm, count, yd, ym, st0, st1, st2, st3, n);
}
SOFTPOOL_CLONES void grad_f(const float* x, const float* gd, const float* gm, const float* yd,
                            const float* ym, const float* st0, const float* st1, const float* st2,
                            const float* st3, float* acc, int64_t n) {
  grad(x, gd, gm, yd, ym, st0, st1, st2, st3, acc, n);
}

inline void stats1_any(const float* x, float inv_n, float* mean, float* mx, float* mn, int64_t n) {
  stats1_f(x, inv_n, mean, mx, mn, n);
}
inline void stats1_any(const double* x, double inv_n, double* mean, double* mx, double* mn,
                       int64_t n) {
  stats1(x, inv_n, mean, mx, mn, n);
}
template <typename acc_t>
inline void stats2_any(const acc_t* x, const acc_t* mean, const acc_t* half_mean, const acc_t* mx,
                       acc_t* sd, acc_t* td, acc_t* p1, acc_t* p2, acc_t* sm, acc_t* tm,
                       int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>) stats2_f(x, mean, half_mean, mx, sd, td, p1, p2, sm, tm, n);
  else stats2(x, mean, half_mean, mx, sd, td, p1, p2, sm, tm, n);
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
template <typename acc_t>
inline void grad_any(const acc_t* x, const acc_t* gd, const acc_t* gm, const acc_t* yd,
                     const acc_t* ym, const acc_t* st0, const acc_t* st1, const acc_t* st2,
                     const acc_t* st3, acc_t* acc, int64_t n) {
  if constexpr (std::is_same_v<acc_t, float>) grad_f(x, gd, gm, yd, ym, st0, st1, st2, st3, acc, n);
  else grad(x, gd, gm, yd, ym, st0, st1, st2, st3, acc, n);
}

// n lanes of p as acc_t: the memory itself when it already is acc_t, else converted into buf.
template <typename acc_t, typename scalar_t>
inline const acc_t* as_acc(const scalar_t* p, int64_t n, acc_t* buf) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    return p;
  } else {
    for (int64_t l = 0; l < n; ++l) buf[l] = static_cast<acc_t>(p[l]);
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

template <typename scalar_t>
void forward_lanes(const scalar_t* x, const PoolGeometry& g, int64_t N, int64_t C,
                   at::opmath_type<scalar_t>* yd, at::opmath_type<scalar_t>* ym,
                   at::opmath_type<scalar_t>* st) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t positions = N * OD * OH * OW, plane = positions * C;
  const int64_t cells = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, cells * C));
  at::parallel_for(0, positions, grain, [&](int64_t begin, int64_t end) {
    acc_t mean[kChunk], mx[kChunk], mn[kChunk], hm[kChunk], sd[kChunk], td[kChunk], p1[kChunk],
        p2[kChunk], sm[kChunk], tm[kChunk];
    // float16/bfloat16 cells are converted into `buf` as they are read, once per pass: the
    // memory stays O(kChunk) whatever the window (a global pool has thousands of cells)
    acc_t buf[kChunk];
    std::vector<int64_t> offs(cells);
    for (int64_t pos = begin; pos < end; ++pos) {
      const int64_t ow = pos % OW, oh = (pos / OW) % OH, od = (pos / (OW * OH)) % OD;
      const int64_t n = pos / (OW * OH * OD);
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
        std::fill(mean, mean + L, acc_t(0));
        std::fill(mx, mx + L, -std::numeric_limits<acc_t>::infinity());
        std::fill(mn, mn + L, std::numeric_limits<acc_t>::infinity());
        for (int64_t k = 0; k < cnt; ++k)
          stats1_any(as_acc<acc_t>(x + offs[k] + c0, L, buf), inv_n, mean, mx, mn, L);
        fix_mean(mx, mn, mean, hm, L);
        for (acc_t* a : {sd, td, p1, p2, sm, tm}) std::fill(a, a + L, acc_t(0));
        for (int64_t k = 0; k < cnt; ++k)
          stats2_any(as_acc<acc_t>(x + offs[k] + c0, L, buf), mean, hm, mx, sd, td, p1, p2, sm,
                     tm, L);
        const int64_t o = pos * C + c0;
        finish_any(mean, mx, sd, td, p1, p2, sm, tm, count, yd + o, ym + o, st + o,
                   st + plane + o, st + 2 * plane + o, st + 3 * plane + o, L);
      }
    }
  });
}

template <typename scalar_t>
void backward_lanes(const at::opmath_type<scalar_t>* gd, const at::opmath_type<scalar_t>* gm,
                    const scalar_t* x, const at::opmath_type<scalar_t>* yd,
                    const at::opmath_type<scalar_t>* ym, const at::opmath_type<scalar_t>* st,
                    const PoolGeometry& g, int64_t N, int64_t C, scalar_t* gx) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t positions = N * D * H * W, plane = N * OD * OH * OW * C;
  int64_t visits = 1;
  for (int d = 0; d < 3; ++d) visits *= (g.kernel[d] + g.stride[d] - 1) / g.stride[d];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, visits * C));
  at::parallel_for(0, positions, grain, [&](int64_t begin, int64_t end) {
    acc_t acc[kChunk], buf[kChunk];
    for (int64_t pos = begin; pos < end; ++pos) {
      const int64_t iw = pos % W, ih = (pos / W) % H, id = (pos / (W * H)) % D;
      const int64_t n = pos / (W * H * D);
      int64_t a0, a1, b0, b1, c0_, c1_;
      windows_containing(id, g.kernel[0], g.stride[0], g.padding[0], OD, a0, a1);
      windows_containing(ih, g.kernel[1], g.stride[1], g.padding[1], OH, b0, b1);
      windows_containing(iw, g.kernel[2], g.stride[2], g.padding[2], OW, c0_, c1_);
      for (int64_t c0 = 0; c0 < C; c0 += kChunk) {
        const int64_t L = std::min(kChunk, C - c0);
        const acc_t* xv = as_acc<acc_t>(x + pos * C + c0, L, buf);
        std::fill(acc, acc + L, acc_t(0));
        for (int64_t od = a0; od <= a1; ++od)
          for (int64_t oh = b0; oh <= b1; ++oh)
            for (int64_t ow = c0_; ow <= c1_; ++ow) {
              const int64_t o = (((n * OD + od) * OH + oh) * OW + ow) * C + c0;
              grad_any(xv, gd + o, gm + o, yd + o, ym + o, st + o, st + plane + o,
                       st + 2 * plane + o, st + 3 * plane + o, acc, L);
            }
        scalar_t* out = gx + pos * C + c0;
        for (int64_t l = 0; l < L; ++l) out[l] = static_cast<scalar_t>(acc[l]);
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

// buf[l] = p[l * stride] as acc_t (stride 1 and 2 as constants, which vectorise).
template <typename acc_t, typename scalar_t>
inline void gather(const scalar_t* __restrict p, int64_t stride, int64_t n,
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

inline int64_t interior_columns(const PoolGeometry& g) {
  int64_t lo, hi;
  interior(g.kernel[2], g.stride[2], g.padding[2], g.in[2], g.out[2], lo, hi);
  return hi - lo;
}

template <typename scalar_t>
void forward_rows(const ada::ForwardArgs<scalar_t, int64_t>& args, const PoolGeometry& g,
                  int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* x = args.x;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t kw = g.kernel[2], sw = g.stride[2], pw = g.padding[2];
  int64_t lo, hi;
  interior(kw, sw, pw, W, OW, lo, hi);
  const int64_t rows = planes * OD * OH, plane = args.plane;
  const int64_t cells = g.kernel[0] * g.kernel[1] * kw;
  const int64_t width = std::min(kChunk, hi - lo);
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, cells * OW));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t mean[kChunk], mx[kChunk], mn[kChunk], hm[kChunk], sd[kChunk], td[kChunk], p1[kChunk],
        p2[kChunk], sm[kChunk], tm[kChunk];
    std::vector<acc_t> buf(cells * width);
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t ow = 0; ow < lo; ++ow) ada::forward_element<false>(row * OW + ow, args);
      for (int64_t ow = hi; ow < OW; ++ow) ada::forward_element<false>(row * OW + ow, args);
      const int64_t oh = row % OH, od = (row / OH) % OD, nc = row / (OH * OD);
      int64_t d0, d1, h0, h1;
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, g.kernel[1], g.stride[1], g.padding[1], H, h0, h1);
      const int64_t cnt = (d1 - d0) * (h1 - h0) * kw;
      const acc_t count = static_cast<acc_t>(cnt), inv_n = acc_t(1) / count;
      for (int64_t l0 = lo; l0 < hi; l0 += width) {
        const int64_t L = std::min(width, hi - l0);
        int64_t c = 0;
        for (int64_t d = d0; d < d1; ++d)
          for (int64_t h = h0; h < h1; ++h) {
            const scalar_t* line = x + ((nc * D + d) * H + h) * W + l0 * sw - pw;
            for (int64_t k = 0; k < kw; ++k, ++c) gather(line + k, sw, L, buf.data() + c * width);
          }
        std::fill(mean, mean + L, acc_t(0));
        std::fill(mx, mx + L, -std::numeric_limits<acc_t>::infinity());
        std::fill(mn, mn + L, std::numeric_limits<acc_t>::infinity());
        for (int64_t k = 0; k < cnt; ++k) stats1_any(buf.data() + k * width, inv_n, mean, mx, mn, L);
        fix_mean(mx, mn, mean, hm, L);
        for (acc_t* a : {sd, td, p1, p2, sm, tm}) std::fill(a, a + L, acc_t(0));
        for (int64_t k = 0; k < cnt; ++k)
          stats2_any(buf.data() + k * width, mean, hm, mx, sd, td, p1, p2, sm, tm, L);
        const int64_t o = row * OW + l0;
        finish_any(mean, mx, sd, td, p1, p2, sm, tm, count, args.edscw + o, args.em + o,
                   args.stats + o, args.stats + plane + o, args.stats + 2 * plane + o,
                   args.stats + 3 * plane + o, L);
      }
    }
  });
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
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t xg[kChunk], contrib[kChunk];
    std::vector<acc_t> acc(W);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ih = row % H, id = (row / H) % D, nc = row / (H * D);
      int64_t a0, a1, b0, b1;
      windows_containing(id, g.kernel[0], g.stride[0], g.padding[0], OD, a0, a1);
      windows_containing(ih, g.kernel[1], g.stride[1], g.padding[1], OH, b0, b1);
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const scalar_t* xrow = args.x + row * W;
      for (int64_t od = a0; od <= a1; ++od)
        for (int64_t oh = b0; oh <= b1; ++oh) {
          const int64_t base = ((nc * OD + od) * OH + oh) * OW;
          for (int64_t k = 0; k < kw; ++k) {
            // output columns whose window holds input column ow * sw - pw + k
            const int64_t first = k >= pw ? 0 : (pw - k + sw - 1) / sw;
            const int64_t top = W - 1 + pw - k;
            const int64_t last = top < 0 ? -1 : std::min<int64_t>(OW - 1, top / sw);
            for (int64_t l0 = first; l0 <= last; l0 += kChunk) {
              const int64_t L = std::min(kChunk, last + 1 - l0);
              const int64_t iw0 = l0 * sw - pw + k, o = base + l0;
              gather(xrow + iw0, sw, L, xg);
              std::fill(contrib, contrib + L, acc_t(0));
              grad_any(xg, args.g_edscw + o, args.g_em + o, args.edscw + o, args.em + o, st + o,
                       st + plane + o, st + 2 * plane + o, st + 3 * plane + o, contrib, L);
              for (int64_t l = 0; l < L; ++l) acc[iw0 + l * sw] += contrib[l];
            }
          }
        }
      scalar_t* out = args.gx + row * W;
      for (int64_t w = 0; w < W; ++w) out[w] = static_cast<scalar_t>(acc[w]);
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

void ada_forward_cpu(const at::Tensor& input, const PoolGeometry& g, at::Tensor& edscw,
                     at::Tensor& em, at::Tensor& stats) {
  if (use_rows(input, g)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_forward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const ada::ForwardArgs<scalar_t, int64_t> args{
          input.const_data_ptr<scalar_t>(), body::dims_of<int64_t>(input),
          edscw.mutable_data_ptr<acc_t>(), em.mutable_data_ptr<acc_t>(),
          stats.mutable_data_ptr<acc_t>(), edscw.numel(), body::dims_of<int64_t>(edscw),
          body::window_of(g)};
      cpu_ada::forward_rows<scalar_t>(args, g, input.size(0) * input.size(1));
    });
    return;
  }
  if (use_lanes(input)) {
    // channels_last_3d; a contiguous input is computed in it and the results copied back
    const bool cl = memory_format_of(input) == kCL;
    const at::Tensor x = cl ? input : input.contiguous(kCL);
    at::Tensor yd = cl ? edscw : at::empty(edscw.sizes(), edscw.options().memory_format(kCL));
    at::Tensor ym = cl ? em : at::empty(em.sizes(), em.options().memory_format(kCL));
    at::Tensor st = cl ? stats : at::empty(stats.sizes(), stats.options().memory_format(kCL));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_forward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      cpu_ada::forward_lanes<scalar_t>(x.const_data_ptr<scalar_t>(), g, x.size(0), x.size(1),
                                       yd.mutable_data_ptr<acc_t>(), ym.mutable_data_ptr<acc_t>(),
                                       st.mutable_data_ptr<acc_t>());
    });
    if (!cl) {
      edscw.copy_(yd);
      em.copy_(ym);
      stats.copy_(st);
    }
    return;
  }
  const bool cl = memory_format_of(input) == kCL;
  const int64_t total = edscw.numel();
  const int64_t cells = g.kernel[0] * g.kernel[1] * g.kernel[2];
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const ada::ForwardArgs<scalar_t, int64_t> args{
        input.const_data_ptr<scalar_t>(), body::dims_of<int64_t>(input),
        edscw.mutable_data_ptr<acc_t>(), em.mutable_data_ptr<acc_t>(),
        stats.mutable_data_ptr<acc_t>(), total, body::dims_of<int64_t>(edscw),
        body::window_of(g)};
    cpu_ada::with_layout(cl, [&](auto cl_tag) {
      at::parallel_for(0, total, cpu_ada::body_grain(cells), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ada::forward_element<decltype(cl_tag)::value>(i, args);
      });
    });
  });
}

void ada_backward_cpu(const at::Tensor& grad_edscw, const at::Tensor& grad_em,
                      const at::Tensor& input, const at::Tensor& edscw, const at::Tensor& em,
                      const at::Tensor& stats, const PoolGeometry& g, at::Tensor& grad_input) {
  if (use_rows(input, g)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_backward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const ada::BackwardArgs<scalar_t, int64_t> args{
          grad_edscw.const_data_ptr<acc_t>(), grad_em.const_data_ptr<acc_t>(),
          input.const_data_ptr<scalar_t>(), edscw.const_data_ptr<acc_t>(),
          em.const_data_ptr<acc_t>(), stats.const_data_ptr<acc_t>(), edscw.numel(),
          body::dims_of<int64_t>(input), body::dims_of<int64_t>(edscw), body::window_of(g),
          grad_input.mutable_data_ptr<scalar_t>()};
      cpu_ada::backward_rows<scalar_t>(args, g, input.size(0) * input.size(1));
    });
    return;
  }
  int64_t visits = 1;
  for (int d = 0; d < 3; ++d) visits *= (g.kernel[d] + g.stride[d] - 1) / g.stride[d];
  if (use_lanes(input)) {
    const bool cl = memory_format_of(input) == kCL;
    auto as_cl = [&](const at::Tensor& t) { return cl ? t : t.contiguous(kCL); };
    const at::Tensor x = as_cl(input), gd = as_cl(grad_edscw), gm = as_cl(grad_em);
    const at::Tensor yd = as_cl(edscw), ym = as_cl(em), st = as_cl(stats);
    at::Tensor gx = cl ? grad_input : at::empty(x.sizes(), x.options().memory_format(kCL));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                    "ada_pool_backward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      cpu_ada::backward_lanes<scalar_t>(
          gd.const_data_ptr<acc_t>(), gm.const_data_ptr<acc_t>(), x.const_data_ptr<scalar_t>(),
          yd.const_data_ptr<acc_t>(), ym.const_data_ptr<acc_t>(), st.const_data_ptr<acc_t>(), g,
          x.size(0), x.size(1), gx.mutable_data_ptr<scalar_t>());
    });
    if (!cl) grad_input.copy_(gx);
    return;
  }
  const bool cl = memory_format_of(input) == kCL;
  const int64_t total = input.numel();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "ada_pool_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const ada::BackwardArgs<scalar_t, int64_t> args{
        grad_edscw.const_data_ptr<acc_t>(), grad_em.const_data_ptr<acc_t>(),
        input.const_data_ptr<scalar_t>(), edscw.const_data_ptr<acc_t>(),
        em.const_data_ptr<acc_t>(), stats.const_data_ptr<acc_t>(), edscw.numel(),
        body::dims_of<int64_t>(input), body::dims_of<int64_t>(edscw), body::window_of(g),
        grad_input.mutable_data_ptr<scalar_t>()};
    cpu_ada::with_layout(cl, [&](auto cl_tag) {
      at::parallel_for(0, total, cpu_ada::body_grain(visits), [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          ada::backward_element<decltype(cl_tag)::value>(i, args);
      });
    });
  });
}

}  // namespace softpool
