// Per-element bodies of the CUDA SoftPool kernels, as __host__ __device__ functions.
// cuda/softpool_cuda.cu launches them; testing/device_bodies.cpp runs the very same functions in a
// host loop (test-only ops), so the device maths and indexing are tested on a CPU. Only the launch
// itself (grid size, streams, the CUDA math library's ulp-level differences) is not.
//
// One thread per output (forward) or per input (backward, a gather over the windows containing it:
// deterministic, no atomics). A linear index walks the tensor in its memory order (W fastest for
// contiguous, C fastest for channels_last_3d).
#pragma once

#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "softpool.h"

namespace softpool {
namespace body {

template <typename index_t>
struct Dims {
  index_t n, c, d, h, w;       // sizes
  index_t sn, sc, sd, sh, sw;  // strides (elements)
};

struct Window {
  int k[3], s[3], p[3];
};

template <typename scalar_t, typename index_t>
struct ForwardArgs {
  const scalar_t* x;
  Dims<index_t> in;
  scalar_t* y;
  at::opmath_type<scalar_t>* lse;
  Dims<index_t> out;
  Window win;
};

template <typename scalar_t, typename index_t>
struct BackwardArgs {
  const scalar_t* gy;
  const scalar_t* x;
  const scalar_t* y;
  const at::opmath_type<scalar_t>* lse;
  Dims<index_t> in, out;
  Window win;
  bool paper;
  scalar_t* gx;
};

SOFTPOOL_HD float acc_exp(float x) { return expf(x); }
SOFTPOOL_HD double acc_exp(double x) { return exp(x); }
SOFTPOOL_HD float acc_log(float x) { return logf(x); }
SOFTPOOL_HD double acc_log(double x) { return log(x); }

template <typename T>
SOFTPOOL_HD T hd_min(T a, T b) { return b < a ? b : a; }
template <typename T>
SOFTPOOL_HD T hd_max(T a, T b) { return a < b ? b : a; }

// Splits a linear index (memory order of the layout) into n, c, d, h, w.
template <bool channels_last, typename index_t>
SOFTPOOL_HD void unravel(index_t i, const Dims<index_t>& t, index_t& n, index_t& c, index_t& d,
                         index_t& h, index_t& w) {
  if (channels_last) {
    c = i % t.c; i /= t.c;
    w = i % t.w; i /= t.w;
    h = i % t.h; i /= t.h;
    d = i % t.d; n = i / t.d;
  } else {
    w = i % t.w; i /= t.w;
    h = i % t.h; i /= t.h;
    d = i % t.d; i /= t.d;
    c = i % t.c; n = i / t.c;
  }
}

// Output i (linear, memory order): y[i] and lse[i] = log sum_j e^(a_j - y) (see softpool.h).
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void forward_element(index_t i, const ForwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  index_t n, c, od, oh, ow;
  unravel<channels_last>(i, A.out, n, c, od, oh, ow);
  // The window clamped to the input: [ds, d1) x [hs, h1) x [ws, w1), never empty.
  const index_t d0 = od * A.win.s[0] - A.win.p[0], h0 = oh * A.win.s[1] - A.win.p[1];
  const index_t w0 = ow * A.win.s[2] - A.win.p[2];
  const index_t d1 = hd_min<index_t>(d0 + A.win.k[0], A.in.d);
  const index_t h1 = hd_min<index_t>(h0 + A.win.k[1], A.in.h);
  const index_t w1 = hd_min<index_t>(w0 + A.win.k[2], A.in.w);
  const index_t ds = hd_max<index_t>(d0, 0), hs = hd_max<index_t>(h0, 0);
  const index_t ws = hd_max<index_t>(w0, 0);
  const scalar_t* base = A.x + n * A.in.sn + c * A.in.sc;
  acc_t m = -std::numeric_limits<acc_t>::infinity();  // NaN is skipped here, caught by the sum
  for (index_t d = ds; d < d1; ++d)
    for (index_t h = hs; h < h1; ++h)
      for (index_t w = ws; w < w1; ++w) {
        const acc_t a = static_cast<acc_t>(base[d * A.in.sd + h * A.in.sh + w * A.in.sw]);
        m = a > m ? a : m;
      }
  acc_t s = 0, t = 0;
  for (index_t d = ds; d < d1; ++d)
    for (index_t h = hs; h < h1; ++h)
      for (index_t w = ws; w < w1; ++w) {
        const acc_t a = static_cast<acc_t>(base[d * A.in.sd + h * A.in.sh + w * A.in.sw]);
        const acc_t diff = shifted<acc_t>(a, m);
        const acc_t e = acc_exp(diff);
        s += e;
        t += e * diff;
      }
  const scalar_t out = static_cast<scalar_t>(m + t / s);
  A.y[i] = out;
  A.lse[i] = tie_diff<acc_t>(m, static_cast<acc_t>(out)) + acc_log(s);
}

// Input i (linear, memory order): the gradient gathered from every window that contains it.
template <bool channels_last, typename scalar_t, typename index_t>
SOFTPOOL_HD void backward_element(index_t i, const BackwardArgs<scalar_t, index_t>& A) {
  using acc_t = at::opmath_type<scalar_t>;
  index_t n, c, id, ih, iw;
  unravel<channels_last>(i, A.in, n, c, id, ih, iw);
  int64_t d0, d1, h0, h1, w0, w1;
  windows_containing(id, A.win.k[0], A.win.s[0], A.win.p[0], A.out.d, d0, d1);
  windows_containing(ih, A.win.k[1], A.win.s[1], A.win.p[1], A.out.h, h0, h1);
  windows_containing(iw, A.win.k[2], A.win.s[2], A.win.p[2], A.out.w, w0, w1);
  const acc_t a = static_cast<acc_t>(A.x[i]);
  const index_t obase = n * A.out.sn + c * A.out.sc;
  acc_t acc = 0;
  for (index_t od = d0; od <= d1; ++od)
    for (index_t oh = h0; oh <= h1; ++oh)
      for (index_t ow = w0; ow <= w1; ++ow) {
        const index_t o = obase + od * A.out.sd + oh * A.out.sh + ow * A.out.sw;
        const acc_t diff = shifted<acc_t>(a, static_cast<acc_t>(A.y[o]));
        const acc_t gw = static_cast<acc_t>(A.gy[o]) * acc_exp(diff - A.lse[o]);
        acc += A.paper ? gw : gw * (acc_t(1) + diff);
      }
  A.gx[i] = static_cast<scalar_t>(acc);
}

// The grid-stride loop of every kernel. The counter and the step are 64-bit: with 32-bit indices
// (numel < 2^31) a grid that covers the tensor in one pass still makes i + step exceed 2^31.
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename F>
SOFTPOOL_HD void grid_stride_loop(int64_t total, uint32_t grid_dim, uint32_t block_dim,
                                  uint32_t block, uint32_t thread, F&& body) {
  const int64_t step = static_cast<int64_t>(grid_dim) * block_dim;
  for (int64_t i = static_cast<int64_t>(block) * block_dim + thread; i < total; i += step) body(i);
}

// ---- host side: launch geometry and kernel arguments ----

constexpr int kThreads = 256;

// Blocks launched for `total` elements: one pass when that fits CUDA's grid limit, else fewer
// blocks and a grid-stride loop.
inline int64_t launch_blocks(int64_t total) {
  const int64_t max_blocks = int64_t(1) << 30;
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return blocks < 1 ? 1 : (blocks > max_blocks ? max_blocks : blocks);
}

// Whether every element offset of `t` fits a 32-bit index.
inline bool fits_int32(const at::Tensor& t) {
  return t.numel() < std::numeric_limits<int32_t>::max() &&
         t.storage_offset() + t.numel() < std::numeric_limits<int32_t>::max();
}

template <typename index_t>
Dims<index_t> dims_of(const at::Tensor& t) {
  return {static_cast<index_t>(t.size(0)), static_cast<index_t>(t.size(1)),
          static_cast<index_t>(t.size(2)), static_cast<index_t>(t.size(3)),
          static_cast<index_t>(t.size(4)), static_cast<index_t>(t.stride(0)),
          static_cast<index_t>(t.stride(1)), static_cast<index_t>(t.stride(2)),
          static_cast<index_t>(t.stride(3)), static_cast<index_t>(t.stride(4))};
}

inline Window window_of(const PoolGeometry& g) {
  Window w;
  for (int d = 0; d < 3; ++d) {
    w.k[d] = static_cast<int>(g.kernel[d]);
    w.s[d] = static_cast<int>(g.stride[d]);
    w.p[d] = static_cast<int>(g.padding[d]);
  }
  return w;
}

}  // namespace body
}  // namespace softpool
