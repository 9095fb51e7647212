// What the per-element bodies of SoftPool (softpool_device_body.h) and AdaPool
// (adapool_device_body.h) share: the sizes and strides they index with, the maths of the
// accumulation type, and the two walks of a body: the cells of an output's window (forward) and
// the outputs whose windows contain an input (backward), each in one fixed order.
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>

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

// The window of one output clamped to the input: cells [ds, d1) x [hs, h1) x [ws, w1), never
// empty, of the (n, c) plane that starts `plane` elements into the input.
template <typename index_t>
struct WindowCells {
  index_t plane, ds, d1, hs, h1, ws, w1;

  SOFTPOOL_HD index_t count() const { return (d1 - ds) * (h1 - hs) * (w1 - ws); }

  // f(offset of the cell in its plane) for every cell, W fastest.
  template <typename F>
  SOFTPOOL_HD void for_each(const Dims<index_t>& in, F&& f) const {
    for (index_t d = ds; d < d1; ++d)
      for (index_t h = hs; h < h1; ++h)
        for (index_t w = ws; w < w1; ++w) f(d * in.sd + h * in.sh + w * in.sw);
  }
};

// The window of output i (linear, memory order).
template <bool channels_last, typename index_t>
SOFTPOOL_HD WindowCells<index_t> window_cells(index_t i, const Dims<index_t>& in,
                                              const Dims<index_t>& out, const Window& win) {
  index_t n, c, od, oh, ow;
  unravel<channels_last>(i, out, n, c, od, oh, ow);
  const index_t d0 = od * win.s[0] - win.p[0], h0 = oh * win.s[1] - win.p[1];
  const index_t w0 = ow * win.s[2] - win.p[2];
  return {n * in.sn + c * in.sc,
          hd_max<index_t>(d0, 0), hd_min<index_t>(d0 + win.k[0], in.d),
          hd_max<index_t>(h0, 0), hd_min<index_t>(h0 + win.k[1], in.h),
          hd_max<index_t>(w0, 0), hd_min<index_t>(w0 + win.k[2], in.w)};
}

// The outputs whose windows contain one input: [d0, d1] x [h0, h1] x [w0, w1] (inclusive) of the
// (n, c) plane that starts `plane` elements into the outputs.
template <typename index_t>
struct ContainingWindows {
  index_t plane;
  int64_t d0, d1, h0, h1, w0, w1;

  // f(offset of the output, plane included) for every output, W fastest.
  template <typename F>
  SOFTPOOL_HD void for_each(const Dims<index_t>& out, F&& f) const {
    for (index_t od = d0; od <= d1; ++od)
      for (index_t oh = h0; oh <= h1; ++oh)
        for (index_t ow = w0; ow <= w1; ++ow) f(plane + od * out.sd + oh * out.sh + ow * out.sw);
  }
};

// The windows containing input i (linear, memory order).
template <bool channels_last, typename index_t>
SOFTPOOL_HD ContainingWindows<index_t> containing_windows(index_t i, const Dims<index_t>& in,
                                                          const Dims<index_t>& out,
                                                          const Window& win) {
  index_t n, c, id, ih, iw;
  unravel<channels_last>(i, in, n, c, id, ih, iw);
  ContainingWindows<index_t> r;
  r.plane = n * out.sn + c * out.sc;
  windows_containing(id, win.k[0], win.s[0], win.p[0], out.d, r.d0, r.d1);
  windows_containing(ih, win.k[1], win.s[1], win.p[1], out.h, r.h0, r.h1);
  windows_containing(iw, win.k[2], win.s[2], win.p[2], out.w, r.w0, r.w1);
  return r;
}

// ---- host side: the sizes and window of a call ----

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
