// CPU SoftPool kernels. Work is split into "rows" handled by at::parallel_for; inside a row the
// element-wise maths runs over contiguous lanes (lanes.h):
//   contiguous (N, C, D, H, W):  a row is one (n, c, d, h) line, lanes are the W positions;
//   channels_last_3d:            a row is one (n, d, h, w) position, lanes are the C channels.
// Forward: per window, a max pass then a shifted-exponential pass; saves y and
// lse = log sum_j e^(a_j - y) (float32; float64 for float64 input). Backward: a deterministic gather over the windows containing each input.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/lanes.h"
#include "softpool.h"

namespace softpool {
namespace cpu {

void max_lanes_f(const float* x, float* m, int64_t n) { max_lanes(x, m, n); }
void accumulate_lanes_f(const float* x, const float* m, float* s, float* t, int64_t n) {
  accumulate_lanes(x, m, s, t, n);
}
void grad_lanes_f(const float* x, const float* y, const float* lse, const float* g, float* out,
                  int64_t n, bool paper) {
  grad_lanes(x, y, lse, g, out, n, paper);
}

namespace {

constexpr int64_t kLanes = 256;  // lanes per chunk: buffers stay in L1

// Lanes p[0], p[stride], ... p[(n-1) stride] as acc_t: the memory itself when it already is a
// contiguous acc_t run, else a converted copy in `buf`.
template <typename acc_t, typename scalar_t>
inline const acc_t* lanes_view(const scalar_t* p, int64_t stride, int64_t n, acc_t* buf) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    if (stride == 1) return p;
  }
  for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<acc_t>(p[i * stride]);
  return buf;
}

// Lane range [lo, hi) of outputs o in [l0, l1) whose window cell `kw` hits an input inside [0, W).
inline void valid_lanes(int64_t kw, int64_t s, int64_t p, int64_t W, int64_t l0, int64_t l1,
                        int64_t& lo, int64_t& hi) {
  const int64_t first = p - kw <= 0 ? 0 : (p - kw + s - 1) / s;
  const int64_t last = (W - 1 + p - kw) / s;  // W - 1 + p - kw >= 0 since kw <= k - 1 <= W - 1 + 2p
  lo = std::max(l0, first);
  hi = std::min(l1, last + 1);
}

// Calls f(lane0_pointer, lane_stride, lo, hi) for every in-range window cell of output row `row`
// and lanes [l0, l1). Contiguous layout: row = ((nc * OD + od) * OH + oh), lanes = ow.
template <typename scalar_t, typename F>
inline void for_each_cell_contiguous(const scalar_t* x, const PoolGeometry& g, int64_t row,
                                     int64_t l0, int64_t l1, F&& f) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t oh = row % g.out[1], od = (row / g.out[1]) % g.out[0];
  const int64_t nc = row / (g.out[1] * g.out[0]);
  const scalar_t* plane = x + nc * D * H * W;
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
    const int64_t id = od * g.stride[0] - g.padding[0] + kd;
    if (id < 0 || id >= D) continue;
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
      const int64_t ih = oh * g.stride[1] - g.padding[1] + kh;
      if (ih < 0 || ih >= H) continue;
      const scalar_t* line = plane + (id * H + ih) * W;
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        int64_t lo, hi;
        valid_lanes(kw, g.stride[2], g.padding[2], W, l0, l1, lo, hi);
        if (lo < hi) f(line + lo * g.stride[2] - g.padding[2] + kw, g.stride[2], lo, hi);
      }
    }
  }
}

// Channels-last layout: row = ((n * OD + od) * OH + oh) * OW + ow, lanes = channels.
template <typename scalar_t, typename F>
inline void for_each_cell_channels_last(const scalar_t* x, const PoolGeometry& g, int64_t C,
                                        int64_t row, int64_t l0, int64_t l1, F&& f) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t ow = row % g.out[2], oh = (row / g.out[2]) % g.out[1];
  const int64_t od = (row / (g.out[2] * g.out[1])) % g.out[0];
  const int64_t n = row / (g.out[2] * g.out[1] * g.out[0]);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
    const int64_t id = od * g.stride[0] - g.padding[0] + kd;
    if (id < 0 || id >= D) continue;
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
      const int64_t ih = oh * g.stride[1] - g.padding[1] + kh;
      if (ih < 0 || ih >= H) continue;
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        const int64_t iw = ow * g.stride[2] - g.padding[2] + kw;
        if (iw < 0 || iw >= W) continue;
        f(x + (((n * D + id) * H + ih) * W + iw) * C + l0, int64_t(1), l0, l1);
      }
    }
  }
}

template <typename scalar_t>
void forward_kernel(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                    at::Tensor& lse, bool channels_last) {
  using acc_t = at::opmath_type<scalar_t>;
  const scalar_t* x = input.const_data_ptr<scalar_t>();
  scalar_t* y = output.mutable_data_ptr<scalar_t>();
  acc_t* L = lse.mutable_data_ptr<acc_t>();
  const int64_t C = input.size(1);
  const int64_t lanes = channels_last ? C : g.out[2];
  const int64_t rows = output.numel() / lanes;
  const int64_t cells = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, lanes * cells));

  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t buf[kLanes], m[kLanes], s[kLanes], t[kLanes];
    for (int64_t row = begin; row < end; ++row) {
      for (int64_t l0 = 0; l0 < lanes; l0 += kLanes) {
        const int64_t l1 = std::min(lanes, l0 + kLanes), n = l1 - l0;
        std::fill(m, m + n, -std::numeric_limits<acc_t>::infinity());
        std::fill(s, s + n, acc_t(0));
        std::fill(t, t + n, acc_t(0));
        auto max_pass = [&](const scalar_t* p, int64_t stride, int64_t lo, int64_t hi) {
          max_lanes_any(lanes_view(p, stride, hi - lo, buf), m + (lo - l0), hi - lo);
        };
        auto sum_pass = [&](const scalar_t* p, int64_t stride, int64_t lo, int64_t hi) {
          accumulate_lanes_any(lanes_view(p, stride, hi - lo, buf), m + (lo - l0), s + (lo - l0),
                               t + (lo - l0), hi - lo);
        };
        if (channels_last) {
          for_each_cell_channels_last(x, g, C, row, l0, l1, max_pass);
          for_each_cell_channels_last(x, g, C, row, l0, l1, sum_pass);
        } else {
          for_each_cell_contiguous(x, g, row, l0, l1, max_pass);
          for_each_cell_contiguous(x, g, row, l0, l1, sum_pass);
        }
        const int64_t out0 = row * lanes + l0;
        for (int64_t i = 0; i < n; ++i) {
          // Every window holds at least one in-range cell, so s >= 1 (or NaN).
          const scalar_t out = static_cast<scalar_t>(m[i] + t[i] / s[i]);
          y[out0 + i] = out;
          L[out0 + i] = (m[i] - static_cast<acc_t>(out)) + std::log(s[i]);
        }
      }
    }
  });
}

template <typename scalar_t>
void backward_contiguous(const scalar_t* gy, const scalar_t* x, const scalar_t* y,
                         const at::opmath_type<scalar_t>* L, const PoolGeometry& g, bool paper,
                         scalar_t* gx, int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t rows = planes * D * H;
  const int64_t grain = std::max<int64_t>(1, 16384 / (W * g.kernel[0] * g.kernel[1]));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(W);
    acc_t xb[kLanes], yb[kLanes], gb[kLanes], Lb[kLanes], cb[kLanes];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ih = row % H, id = (row / H) % D, nc = row / (H * D);
      const scalar_t* xline = x + row * W;
      std::fill(acc.begin(), acc.end(), acc_t(0));
      int64_t d0, d1, h0, h1;
      windows_containing(id, g.kernel[0], g.stride[0], g.padding[0], OD, d0, d1);
      windows_containing(ih, g.kernel[1], g.stride[1], g.padding[1], OH, h0, h1);
      for (int64_t od = d0; od <= d1; ++od) {
        for (int64_t oh = h0; oh <= h1; ++oh) {
          const int64_t orow = ((nc * OD + od) * OH + oh) * OW;
          for (int64_t l0 = 0; l0 < OW; l0 += kLanes) {
            const int64_t l1 = std::min(OW, l0 + kLanes), n = l1 - l0;
            const acc_t* yv = lanes_view(y + orow + l0, 1, n, yb);
            const acc_t* gv = lanes_view(gy + orow + l0, 1, n, gb);
            const acc_t* Lv = lanes_view(L + orow + l0, 1, n, Lb);
            for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
              int64_t lo, hi;
              valid_lanes(kw, g.stride[2], g.padding[2], W, l0, l1, lo, hi);
              if (lo >= hi) continue;
              const int64_t first = lo * g.stride[2] - g.padding[2] + kw;
              const acc_t* xv = lanes_view(xline + first, g.stride[2], hi - lo, xb);
              grad_lanes_any(xv, yv + (lo - l0), Lv + (lo - l0), gv + (lo - l0), cb, hi - lo, paper);
              for (int64_t j = 0; j < hi - lo; ++j) acc[first + j * g.stride[2]] += cb[j];
            }
          }
        }
      }
      scalar_t* gline = gx + row * W;
      for (int64_t i = 0; i < W; ++i) gline[i] = static_cast<scalar_t>(acc[i]);
    }
  });
}

template <typename scalar_t>
void backward_channels_last(const scalar_t* gy, const scalar_t* x, const scalar_t* y,
                            const at::opmath_type<scalar_t>* L, const PoolGeometry& g, bool paper,
                            scalar_t* gx, int64_t N, int64_t C) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t rows = N * D * H * W;
  const int64_t grain = std::max<int64_t>(1, 16384 / C);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t acc[kLanes], xb[kLanes], yb[kLanes], gb[kLanes], Lb[kLanes], cb[kLanes];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t iw = row % W, ih = (row / W) % H, id = (row / (W * H)) % D;
      const int64_t n = row / (W * H * D);
      int64_t d0, d1, h0, h1, w0, w1;
      windows_containing(id, g.kernel[0], g.stride[0], g.padding[0], OD, d0, d1);
      windows_containing(ih, g.kernel[1], g.stride[1], g.padding[1], OH, h0, h1);
      windows_containing(iw, g.kernel[2], g.stride[2], g.padding[2], OW, w0, w1);
      for (int64_t l0 = 0; l0 < C; l0 += kLanes) {
        const int64_t nl = std::min(C, l0 + kLanes) - l0;
        std::fill(acc, acc + nl, acc_t(0));
        const acc_t* xv = lanes_view(x + row * C + l0, 1, nl, xb);
        for (int64_t od = d0; od <= d1; ++od)
          for (int64_t oh = h0; oh <= h1; ++oh)
            for (int64_t ow = w0; ow <= w1; ++ow) {
              const int64_t o = (((n * OD + od) * OH + oh) * OW + ow) * C + l0;
              grad_lanes_any(xv, lanes_view(y + o, 1, nl, yb), lanes_view(L + o, 1, nl, Lb),
                             lanes_view(gy + o, 1, nl, gb), cb, nl, paper);
              for (int64_t i = 0; i < nl; ++i) acc[i] += cb[i];
            }
        scalar_t* gout = gx + row * C + l0;
        for (int64_t i = 0; i < nl; ++i) gout[i] = static_cast<scalar_t>(acc[i]);
      }
    }
  });
}

}  // namespace

}  // namespace cpu

void forward_cpu(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                 at::Tensor& lse) {
  const bool channels_last = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_forward_cpu", [&] {
    cpu::forward_kernel<scalar_t>(input, g, output, lse, channels_last);
  });
}

void backward_cpu(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                  const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                  at::Tensor& grad_input) {
  const bool channels_last = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_backward_cpu", [&] {
    const scalar_t* gy = grad_output.const_data_ptr<scalar_t>();
    const scalar_t* x = input.const_data_ptr<scalar_t>();
    const scalar_t* y = output.const_data_ptr<scalar_t>();
    const auto* L = lse.const_data_ptr<at::opmath_type<scalar_t>>();
    scalar_t* gx = grad_input.mutable_data_ptr<scalar_t>();
    if (channels_last) {
      cpu::backward_channels_last(gy, x, y, L, g, paper_grad, gx, input.size(0), input.size(1));
    } else {
      cpu::backward_contiguous(gy, x, y, L, g, paper_grad, gx, input.size(0) * input.size(1));
    }
  });
}

}  // namespace softpool
