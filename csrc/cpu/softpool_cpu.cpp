// CPU SoftPool kernels. Work is split into tasks handled by at::parallel_for; inside a task the
// element-wise maths runs over contiguous lanes (lanes.h):
//   contiguous (N, C, D, H, W):  forward tasks are output rows (n, c, od, oh), lanes are output
//                                columns (of a block of rows); backward tasks are input rows;
//   channels_last_3d:            a task is one output (forward) or input (backward) position
//                                (n, d, h, w), lanes are the channels.
// Every window is clamped to the input (per dimension, as ATen's pooling kernels do); along W the
// output columns are grouped into runs that share one clamped window (runs_along_w).
// Forward: per window, a max pass then a shifted-exponential pass; saves y and
// lse = log sum_j e^(a_j - y) (float32; float64 for float64 input). Backward: a deterministic
// gather over the windows containing each input.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/lanes.h"
#include "softpool.h"

namespace softpool {
namespace cpu {

namespace {

constexpr int64_t kLanes = 256;  // lanes per chunk: buffers stay in L1

// Lanes p[0], p[stride], ... p[(n-1) stride] as acc_t: the memory itself when it already is a
// contiguous acc_t run, else a converted copy in `buf`.
template <typename acc_t, typename scalar_t>
inline const acc_t* lanes_view(const scalar_t* p, int64_t stride, int64_t n, acc_t* buf) {
  if constexpr (std::is_same_v<acc_t, scalar_t>) {
    if (stride == 1) return p;
    gather_lanes_any(p, stride, n, buf);
    return buf;
  } else if constexpr (std::is_same_v<scalar_t, c10::BFloat16> ||
                       std::is_same_v<scalar_t, c10::Half>) {
    Cloned<&widen_lanes<scalar_t>>::run(p, stride, n, buf);
  } else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<acc_t>(p[i * stride]);
  }
  return buf;
}

// The lanes of window cells, read once for the max pass and once for the sum pass: a pointer into
// the input where it already is a contiguous acc_t run, else a converted copy (one per cell).
// It holds at most kMaxCells cells: a window with more cells (a global pool, a kernel larger than
// the input) is reduced in chunks by reduce_window, so the memory is bounded by
// kMaxCells x lanes whatever the window's volume.
// Storage is left uninitialised: where no copy is needed (float32 lanes with stride 1) the copies
// are never touched.
constexpr int64_t kMaxCells = 1024;

template <typename acc_t>
struct CellViews {
  std::unique_ptr<acc_t[]> copies;
  std::unique_ptr<const acc_t*[]> view;
  int64_t cells, cap;
  CellViews(int64_t window_cells, int64_t lane_cap)
      : cells(std::max<int64_t>(1, std::min(window_cells, kMaxCells))), cap(lane_cap) {
    copies.reset(new acc_t[cells * cap]);
    view.reset(new const acc_t*[cells]);
  }
  template <typename scalar_t>
  const acc_t* load(int64_t cell, const scalar_t* p, int64_t stride, int64_t n) {
    return view[cell] = lanes_view(p, stride, n, copies.get() + cell * cap);
  }
  // R segments of n lanes, segment r starting at p + r * row_step, side by side (R * n <= cap).
  template <typename scalar_t>
  void load_rows(int64_t cell, const scalar_t* p, int64_t row_step, int64_t R, int64_t stride,
                 int64_t n) {
    acc_t* dst = copies.get() + cell * cap;
    for (int64_t r = 0; r < R; ++r) {
      const acc_t* v = lanes_view(p + r * row_step, stride, n, dst + r * n);
      if (v != dst + r * n) std::copy(v, v + n, dst + r * n);
    }
    view[cell] = dst;
  }
};

// The max m and the sums s, t of n lanes over the `total` cells of a window. for_each_cell(visit)
// calls visit(load) once per cell, in order, where load(slot) loads that cell into slot `slot` of
// `cv`. A window that fits in `cv` is loaded once; a larger one is loaded twice, chunk by chunk (a
// max pass, then a sum pass). Either way every lane sees the same operations in the same order, so
// the result does not depend on the chunking.
template <typename acc_t, typename ForEachCell>
inline void reduce_window(CellViews<acc_t>& cv, int64_t total, ForEachCell&& for_each_cell,
                          acc_t* m, acc_t* s, acc_t* t, int64_t n) {
  if (total <= cv.cells) {
    int64_t c = 0;
    for_each_cell([&](auto&& load) { load(c++); });
    max_cells_any(cv.view.get(), c, m, n);
    accumulate_cells_any(cv.view.get(), c, m, s, t, n);
    return;
  }
  for (int pass = 0; pass < 2; ++pass) {
    int64_t c = 0;
    auto flush = [&] {
      if (pass == 0) max_cells_any(cv.view.get(), c, m, n);
      else accumulate_cells_any(cv.view.get(), c, m, s, t, n);
      c = 0;
    };
    for_each_cell([&](auto&& load) {
      load(c++);
      if (c == cv.cells) flush();
    });
    if (c > 0) flush();
  }
}

// The number of input cells a window can cover along one dimension: at most the kernel, and at
// most the input (windows are clamped to it). Products of these never overflow, where the
// kernel's own volume can (a legal kernel may be far larger than the input, with ceil_mode).
inline int64_t clamped_extent(int64_t k, int64_t size) { return std::max<int64_t>(1, std::min(k, size)); }

// A run of output columns [o0, o1) whose windows along W all cover the in-range cells
// kw in [kw0, kw1) (relative to the window start o * s - p).
struct Run {
  int64_t o0, o1, kw0, kw1;
};

// Runs covering output columns [0, OW): each border column alone, with its window clamped to
// [0, W) as ATen's pooling kernels clamp every window, and the interior (windows entirely inside
// [0, W)) as one run, so the lane loops stay long and vectorised.
std::vector<Run> runs_along_w(int64_t k, int64_t s, int64_t p, int64_t W, int64_t OW) {
  auto clamped = [&](int64_t o) {
    const int64_t start = o * s - p;
    return Run{o, o + 1, std::max<int64_t>(0, -start), std::min<int64_t>(k, W - start)};
  };
  // Interior: start >= 0, i.e. o >= ceil(p / s); start + k <= W, i.e. o <= floor((W - k + p) / s).
  const int64_t lo = std::min<int64_t>(OW, (p + s - 1) / s);
  int64_t hi = W - k + p >= 0 ? std::min<int64_t>(OW, (W - k + p) / s + 1) : 0;
  hi = std::max(hi, lo);
  std::vector<Run> runs;
  for (int64_t o = 0; o < lo; ++o) runs.push_back(clamped(o));
  if (lo < hi) runs.push_back({lo, hi, 0, k});
  for (int64_t o = hi; o < OW; ++o) runs.push_back(clamped(o));
  for (const Run& r : runs) {  // once per call: every cell any run touches lies inside [0, W)
    TORCH_INTERNAL_ASSERT(r.kw0 < r.kw1 && r.o0 * s - p + r.kw0 >= 0 &&
                          (r.o1 - 1) * s - p + r.kw1 <= W);
  }
  return runs;
}

// For every input index i along one dimension, the first and last output whose window contains
// it (windows_containing), computed once per call: the backward kernels look them up per input.
struct WindowTable {
  std::vector<int64_t> first, last;
  WindowTable(int64_t size, int64_t k, int64_t s, int64_t p, int64_t out)
      : first(size), last(size) {
    for (int64_t i = 0; i < size; ++i) windows_containing(i, k, s, p, out, first[i], last[i]);
  }
};

// The window of output o along one dimension, clamped to [0, size): [lo, hi).
inline void clamp_window(int64_t o, int64_t k, int64_t s, int64_t p, int64_t size, int64_t& lo,
                         int64_t& hi) {
  const int64_t start = o * s - p;
  lo = std::max<int64_t>(start, 0);
  hi = std::min<int64_t>(start + k, size);
}

// Writes n finished lanes: y in the input dtype and lse = log sum_j e^(a_j - y) relative to the
// stored y (ya = m + t / s and log_s from finish_lanes).
template <typename scalar_t, typename acc_t>
inline void write_lanes(const acc_t* m, const acc_t* ya, const acc_t* log_s, int64_t n,
                        scalar_t* y, acc_t* L) {
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t out = static_cast<scalar_t>(ya[i]);
    y[i] = out;
    L[i] = tie_diff<acc_t>(m[i], static_cast<acc_t>(out)) + log_s[i];
  }
}

// Finishes and writes n lanes of windows. `ya`, `log_s`: scratch of n.
template <typename scalar_t, typename acc_t>
inline void store_lanes(const acc_t* m, const acc_t* s, const acc_t* t, int64_t n, acc_t* ya,
                        acc_t* log_s, scalar_t* y, acc_t* L) {
  // Every window holds at least one in-range cell, so s >= 1 (or NaN).
  finish_lanes_any(m, s, t, ya, log_s, n);
  write_lanes(m, ya, log_s, n, y, L);
}

// Contiguous (N, C, D, H, W): tasks are output rows (nc, od, oh); lanes are output columns of one
// run, read from the input with stride s along W. Consecutive rows whose H windows lie inside
// [0, H) share every window cell, so a block of them is one set of lanes (rows side by side): W
// rows are often short (28 columns), and long lane loops are what vectorises.
// Whether every window spans whole input rows along W (then OW = 1: a global or row pool), where
// the contiguous kernels reduce along the window instead of using output columns as lanes.
inline bool whole_rows(const PoolGeometry& g) {
  return g.kernel[2] == g.in[2] && g.padding[2] == 0;
}

// Contiguous forward of whole-row windows: a task is one output (nc, od, oh); its window's rows
// (id, ih) are reduced in contiguous runs (rows that follow each other in memory merge).
template <typename scalar_t>
void forward_whole_rows(const scalar_t* x, const PoolGeometry& g, int64_t planes, scalar_t* y,
                        at::opmath_type<scalar_t>* L) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], OD = g.out[0], OH = g.out[1];
  const int64_t rows = planes * OD * OH;
  const int64_t grain = std::max<int64_t>(
      1, 32768 / (clamped_extent(g.kernel[0], D) * clamped_extent(g.kernel[1], H) *
                  std::max<int64_t>(1, W)));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t buf[kLanes];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t oh = row % OH, od = (row / OH) % OD, nc = row / (OH * OD);
      int64_t d0, d1, h0, h1;
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, g.kernel[1], g.stride[1], g.padding[1], H, h0, h1);
      const scalar_t* plane = x + nc * D * H * W;
      // Calls f(start, length) for the window's contiguous runs, in kLanes pieces.
      auto for_each_piece = [&](auto&& f) {
        const bool full_h = h0 == 0 && h1 == H;
        const int64_t run = full_h ? H * W : (h1 - h0) * W;  // the rows of one id are adjacent
        const int64_t ids = full_h ? 1 : d1 - d0;
        const int64_t len = full_h ? (d1 - d0) * run : run;  // full H: all ids are adjacent
        for (int64_t k = 0; k < ids; ++k) {
          const int64_t start = ((d0 + k) * H + (full_h ? 0 : h0)) * W;
          for (int64_t off = 0; off < len; off += kLanes)
            f(lanes_view(plane + start + off, 1, std::min(kLanes, len - off), buf),
              std::min(kLanes, len - off));
        }
      };
      acc_t m = -std::numeric_limits<acc_t>::infinity(), s = 0, t = 0;
      for_each_piece([&](const acc_t* v, int64_t n) { m = reduce_max_any(v, n, m); });
      for_each_piece([&](const acc_t* v, int64_t n) { reduce_sums_any(v, n, m, s, t); });
      const scalar_t out = static_cast<scalar_t>(m + t / s);
      y[row] = out;
      L[row] = tie_diff<acc_t>(m, static_cast<acc_t>(out)) + std::log(s);
    }
  });
}

template <typename scalar_t>
void forward_contiguous(const scalar_t* x, const PoolGeometry& g, int64_t planes, scalar_t* y,
                        at::opmath_type<scalar_t>* L) {
  if (whole_rows(g)) return forward_whole_rows(x, g, planes, y, L);
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t kh = g.kernel[1], sh = g.stride[1], ph = g.padding[1], sw = g.stride[2];
  const std::vector<Run> runs = runs_along_w(g.kernel[2], sw, g.padding[2], W, OW);
  // Rows oh in [oh_lo, oh_hi) have H windows inside [0, H) (as for the runs along W).
  const int64_t oh_lo = std::min<int64_t>(OH, (ph + sh - 1) / sh);
  const int64_t oh_hi =
      std::max(oh_lo, H - kh + ph >= 0 ? std::min<int64_t>(OH, (H - kh + ph) / sh + 1) : 0);
  const int64_t rows = planes * OD * OH;
  const int64_t cells = clamped_extent(g.kernel[0], D) * clamped_extent(kh, H) *
                        clamped_extent(g.kernel[2], W);  // at most, in one window
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, OW * cells));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t m[kLanes], s[kLanes], t[kLanes], ya[kLanes], log_s[kLanes];
    CellViews<acc_t> cellv(cells, kLanes);
    for (int64_t row = begin, G = 1; row < end; row += G) {
      const int64_t oh = row % OH, od = (row / OH) % OD, nc = row / (OH * OD);
      const bool inner = oh >= oh_lo && oh < oh_hi;
      G = inner ? std::min(end - row, oh_hi - oh) : 1;  // rows in this block
      const scalar_t* plane = x + nc * D * H * W;
      int64_t d0, d1, h0, h1;  // the window of the block's first row, clamped
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, kh, sh, ph, H, h0, h1);
      for (const Run& r : runs) {
        const int64_t width = std::min(kLanes, r.o1 - r.o0);
        const int64_t rows_per_pass = std::max<int64_t>(1, kLanes / width);
        for (int64_t rb = 0; rb < G; rb += rows_per_pass) {
          const int64_t R = std::min(rows_per_pass, G - rb);
          for (int64_t l0 = r.o0; l0 < r.o1; l0 += width) {
            const int64_t n = std::min(r.o1, l0 + width) - l0, lanes = R * n;
            const int64_t col0 = l0 * sw - g.padding[2];  // window start of lane 0
            auto for_each_cell = [&](auto&& visit) {
              for (int64_t id = d0; id < d1; ++id)
                for (int64_t ih = h0; ih < h1; ++ih) {
                  // may be < 0 before adding kw >= kw0
                  const int64_t line = (id * H + ih + rb * sh) * W + col0;
                  for (int64_t kw = r.kw0; kw < r.kw1; ++kw) {
                    const scalar_t* p = plane + (line + kw);
                    visit([&](int64_t slot) {
                      if (R == 1) cellv.load(slot, p, sw, n);
                      else cellv.load_rows(slot, p, sh * W, R, sw, n);
                    });
                  }
                }
            };
            std::fill(m, m + lanes, -std::numeric_limits<acc_t>::infinity());
            std::fill(s, s + lanes, acc_t(0));
            std::fill(t, t + lanes, acc_t(0));
            reduce_window(cellv, (d1 - d0) * (h1 - h0) * (r.kw1 - r.kw0), for_each_cell, m, s, t,
                          lanes);
            // Every window holds at least one in-range cell, so s >= 1 (or NaN).
            finish_lanes_any(m, s, t, ya, log_s, lanes);
            for (int64_t j = 0; j < R; ++j) {
              const int64_t o = (row + rb + j) * OW + l0;
              write_lanes(m + j * n, ya + j * n, log_s + j * n, n, y + o, L + o);
            }
          }
        }
      }
    }
  });
}

// Channels-last: a task is one output position (n, od, oh, ow); lanes are channels.
template <typename scalar_t>
void forward_channels_last(const scalar_t* x, const PoolGeometry& g, int64_t N, int64_t C,
                           scalar_t* y, at::opmath_type<scalar_t>* L) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t rows = N * OD * OH * OW;
  const int64_t cells = clamped_extent(g.kernel[0], D) * clamped_extent(g.kernel[1], H) *
                        clamped_extent(g.kernel[2], W);  // at most, in one window
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, C * cells));
  const int64_t cap = std::min(kLanes, C);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t m[kLanes], s[kLanes], t[kLanes], ya[kLanes], log_s[kLanes];
    CellViews<acc_t> cellv(cells, cap);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ow = row % OW, oh = (row / OW) % OH, od = (row / (OW * OH)) % OD;
      const int64_t nn = row / (OW * OH * OD);
      int64_t d0, d1, h0, h1, w0, w1;
      clamp_window(od, g.kernel[0], g.stride[0], g.padding[0], D, d0, d1);
      clamp_window(oh, g.kernel[1], g.stride[1], g.padding[1], H, h0, h1);
      clamp_window(ow, g.kernel[2], g.stride[2], g.padding[2], W, w0, w1);
      for (int64_t l0 = 0; l0 < C; l0 += kLanes) {
        const int64_t n = std::min(C, l0 + kLanes) - l0;
        std::fill(m, m + n, -std::numeric_limits<acc_t>::infinity());
        std::fill(s, s + n, acc_t(0));
        std::fill(t, t + n, acc_t(0));
        auto for_each_cell = [&](auto&& visit) {
          for (int64_t id = d0; id < d1; ++id)
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) {
                const scalar_t* p = x + (((nn * D + id) * H + ih) * W + iw) * C + l0;
                visit([&](int64_t slot) { cellv.load(slot, p, int64_t(1), n); });
              }
        };
        reduce_window(cellv, (d1 - d0) * (h1 - h0) * (w1 - w0), for_each_cell, m, s, t, n);
        const int64_t o = row * C + l0;
        store_lanes(m, s, t, n, ya, log_s, y + o, L + o);
      }
    }
  });
}

// Contiguous backward: a task is one input row (nc, id, ih), accumulated over W in `acc` from
// every output row whose windows contain it (a gather: no atomics, deterministic).
template <typename scalar_t>
void backward_contiguous(const scalar_t* gy, const scalar_t* x, const scalar_t* y,
                         const at::opmath_type<scalar_t>* L, const PoolGeometry& g, bool paper,
                         scalar_t* gx, int64_t planes) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  const int64_t sw = g.stride[2];
  const std::vector<Run> runs = runs_along_w(g.kernel[2], sw, g.padding[2], W, OW);
  const int64_t rows = planes * D * H;
  const int64_t grain = std::max<int64_t>(
      1, 16384 / (std::max<int64_t>(1, W) * clamped_extent(g.kernel[0], D) *
                  clamped_extent(g.kernel[1], H)));
  const WindowTable wd(D, g.kernel[0], g.stride[0], g.padding[0], OD);
  const WindowTable wh(H, g.kernel[1], g.stride[1], g.padding[1], OH);
  const bool rows_whole = whole_rows(g);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(W), xrow_buf(W);
    acc_t yb[kLanes], gb[kLanes], Lb[kLanes];
    for (int64_t row = begin; row < end; ++row) {
      const int64_t ih = row % H, id = (row / H) % D, nc = row / (H * D);
      // The input row as acc_t: the memory itself for float/double, else one converted copy.
      const acc_t* xrow = lanes_view(x + row * W, 1, W, xrow_buf.data());
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const int64_t d0 = wd.first[id], d1 = wd.last[id], h0 = wh.first[ih], h1 = wh.last[ih];
      for (int64_t od = d0; od <= d1; ++od) {
        for (int64_t oh = h0; oh <= h1; ++oh) {
          const int64_t orow = ((nc * OD + od) * OH + oh) * OW;
          if (rows_whole) {  // one window covers the row: y, lse, g shared by its cells
            grad_shared_any(xrow, W, static_cast<acc_t>(y[orow]), static_cast<acc_t>(L[orow]),
                            static_cast<acc_t>(gy[orow]), acc.data(), paper);
            continue;
          }
          for (const Run& r : runs) {
            for (int64_t l0 = r.o0; l0 < r.o1; l0 += kLanes) {
              const int64_t n = std::min(r.o1, l0 + kLanes) - l0;
              const acc_t* yv = lanes_view(y + orow + l0, 1, n, yb);
              const acc_t* gv = lanes_view(gy + orow + l0, 1, n, gb);
              const acc_t* Lv = lanes_view(L + orow + l0, 1, n, Lb);
              for (int64_t kw = r.kw0; kw < r.kw1; ++kw) {
                const int64_t first = l0 * sw - g.padding[2] + kw;  // input column of lane 0
                grad_strided_any(xrow + first, yv, Lv, gv, acc.data() + first, n, sw, paper);
              }
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
  const WindowTable wd(D, g.kernel[0], g.stride[0], g.padding[0], OD);
  const WindowTable wh(H, g.kernel[1], g.stride[1], g.padding[1], OH);
  const WindowTable ww(W, g.kernel[2], g.stride[2], g.padding[2], OW);
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    acc_t acc[kLanes], xb[kLanes], yb[kLanes], gb[kLanes], Lb[kLanes];
    // (n, id, ih, iw) of `row`, stepped along with it rather than divided out each time
    int64_t iw = begin % W, ih = (begin / W) % H, id = (begin / (W * H)) % D;
    int64_t n = begin / (W * H * D);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t d0 = wd.first[id], d1 = wd.last[id], h0 = wh.first[ih], h1 = wh.last[ih];
      const int64_t w0 = ww.first[iw], w1 = ww.last[iw];
      for (int64_t l0 = 0; l0 < C; l0 += kLanes) {
        const int64_t nl = std::min(C, l0 + kLanes) - l0;
        std::fill(acc, acc + nl, acc_t(0));
        const acc_t* xv = lanes_view(x + row * C + l0, 1, nl, xb);
        for (int64_t od = d0; od <= d1; ++od)
          for (int64_t oh = h0; oh <= h1; ++oh)
            for (int64_t ow = w0; ow <= w1; ++ow) {
              const int64_t o = (((n * OD + od) * OH + oh) * OW + ow) * C + l0;
              grad_lanes_any(xv, lanes_view(y + o, 1, nl, yb), lanes_view(L + o, 1, nl, Lb),
                             lanes_view(gy + o, 1, nl, gb), acc, nl, paper);
            }
        scalar_t* gout = gx + row * C + l0;
        for (int64_t i = 0; i < nl; ++i) gout[i] = static_cast<scalar_t>(acc[i]);
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

}  // namespace

}  // namespace cpu

void forward_cpu(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                 at::Tensor& lse) {
  const bool channels_last = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_forward_cpu", [&] {
    const scalar_t* x = input.const_data_ptr<scalar_t>();
    scalar_t* y = output.mutable_data_ptr<scalar_t>();
    auto* L = lse.mutable_data_ptr<at::opmath_type<scalar_t>>();
    if (channels_last) {
      cpu::forward_channels_last(x, g, input.size(0), input.size(1), y, L);
    } else {
      cpu::forward_contiguous(x, g, input.size(0) * input.size(1), y, L);
    }
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
