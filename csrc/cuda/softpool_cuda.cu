// CUDA SoftPool kernels: one thread per output (forward) or per input (backward, a gather over the
// windows that contain it: deterministic, no atomics). Threads walk the tensor in its memory order
// (W fastest for contiguous, C fastest for channels_last_3d), so neighbouring threads touch
// neighbouring addresses in both layouts. 32-bit indexing when the sizes allow, else 64-bit.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>

#include "softpool.h"

namespace softpool {
namespace {

constexpr int kThreads = 256;

template <typename index_t>
struct Dims {
  index_t n, c, d, h, w;         // sizes
  index_t sn, sc, sd, sh, sw;    // strides (elements)
};

template <typename index_t>
Dims<index_t> dims_of(const at::Tensor& t) {
  return {static_cast<index_t>(t.size(0)), static_cast<index_t>(t.size(1)),
          static_cast<index_t>(t.size(2)), static_cast<index_t>(t.size(3)),
          static_cast<index_t>(t.size(4)), static_cast<index_t>(t.stride(0)),
          static_cast<index_t>(t.stride(1)), static_cast<index_t>(t.stride(2)),
          static_cast<index_t>(t.stride(3)), static_cast<index_t>(t.stride(4))};
}

struct Window {
  int k[3], s[3], p[3];
};

// Splits a linear index (memory order of the layout) into n, c, d, h, w.
template <bool channels_last, typename index_t>
__device__ __forceinline__ void unravel(index_t i, const Dims<index_t>& t, index_t& n, index_t& c,
                                        index_t& d, index_t& h, index_t& w) {
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

template <typename scalar_t, typename index_t, bool channels_last>
__global__ void forward_kernel(const scalar_t* __restrict__ x, Dims<index_t> in,
                               scalar_t* __restrict__ y, at::opmath_type<scalar_t>* __restrict__ lse,
                               Dims<index_t> out, Window win, index_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, c, od, oh, ow;
    unravel<channels_last>(i, out, n, c, od, oh, ow);
    const index_t d0 = od * win.s[0] - win.p[0], h0 = oh * win.s[1] - win.p[1];
    const index_t w0 = ow * win.s[2] - win.p[2];
    const index_t d1 = min(d0 + win.k[0], in.d), h1 = min(h0 + win.k[1], in.h);
    const index_t w1 = min(w0 + win.k[2], in.w);
    const index_t ds = max(d0, index_t(0)), hs = max(h0, index_t(0)), ws = max(w0, index_t(0));
    const scalar_t* base = x + n * in.sn + c * in.sc;
    acc_t m = -std::numeric_limits<acc_t>::infinity();
    for (index_t d = ds; d < d1; ++d)
      for (index_t h = hs; h < h1; ++h)
        for (index_t w = ws; w < w1; ++w) {
          const acc_t a = static_cast<acc_t>(base[d * in.sd + h * in.sh + w * in.sw]);
          m = a > m ? a : m;
        }
    acc_t s = 0, t = 0;
    for (index_t d = ds; d < d1; ++d)
      for (index_t h = hs; h < h1; ++h)
        for (index_t w = ws; w < w1; ++w) {
          const acc_t a = static_cast<acc_t>(base[d * in.sd + h * in.sh + w * in.sw]);
          const acc_t diff = clamp_below<acc_t>(a - m);
          const acc_t e = ::exp(diff);
          s += e;
          t += e * diff;
        }
    const scalar_t out = static_cast<scalar_t>(m + t / s);
    y[i] = out;
    lse[i] = (m - static_cast<acc_t>(out)) + ::log(s);
  }
}

template <typename scalar_t, typename index_t, bool channels_last>
__global__ void backward_kernel(const scalar_t* __restrict__ gy, const scalar_t* __restrict__ x,
                                const scalar_t* __restrict__ y,
                                const at::opmath_type<scalar_t>* __restrict__ lse,
                                Dims<index_t> in, Dims<index_t> out, Window win, bool paper,
                                scalar_t* __restrict__ gx, index_t total) {
  using acc_t = at::opmath_type<scalar_t>;
  for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<index_t>(gridDim.x) * blockDim.x) {
    index_t n, c, id, ih, iw;
    unravel<channels_last>(i, in, n, c, id, ih, iw);
    int64_t d0, d1, h0, h1, w0, w1;
    windows_containing(id, win.k[0], win.s[0], win.p[0], out.d, d0, d1);
    windows_containing(ih, win.k[1], win.s[1], win.p[1], out.h, h0, h1);
    windows_containing(iw, win.k[2], win.s[2], win.p[2], out.w, w0, w1);
    const acc_t a = static_cast<acc_t>(x[i]);
    const index_t obase = n * out.sn + c * out.sc;
    acc_t acc = 0;
    for (index_t od = d0; od <= d1; ++od)
      for (index_t oh = h0; oh <= h1; ++oh)
        for (index_t ow = w0; ow <= w1; ++ow) {
          const index_t o = obase + od * out.sd + oh * out.sh + ow * out.sw;
          const acc_t diff = clamp_below<acc_t>(a - static_cast<acc_t>(y[o]));
          const acc_t gw = static_cast<acc_t>(gy[o]) * ::exp(diff - lse[o]);
          acc += paper ? gw : gw * (acc_t(1) + diff);
        }
    gx[i] = static_cast<scalar_t>(acc);
  }
}

Window window_of(const PoolGeometry& g) {
  Window w;
  for (int d = 0; d < 3; ++d) {
    w.k[d] = static_cast<int>(g.kernel[d]);
    w.s[d] = static_cast<int>(g.stride[d]);
    w.p[d] = static_cast<int>(g.padding[d]);
  }
  return w;
}

bool fits_int32(const at::Tensor& t) {
  return t.numel() < std::numeric_limits<int32_t>::max() &&
         t.storage_offset() + t.numel() < std::numeric_limits<int32_t>::max();
}

int64_t blocks_for(int64_t total) {
  return std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t(1) << 30);
}

}  // namespace

void forward_cuda(const at::Tensor& input, const PoolGeometry& g, at::Tensor& output,
                  at::Tensor& lse) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = fits_int32(input) && fits_int32(output);
  const int64_t total = output.numel();
  const Window win = window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    auto launch = [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      forward_kernel<scalar_t, index_t, decltype(cl_tag)::value>
          <<<blocks_for(total), kThreads, 0, stream>>>(
              input.const_data_ptr<scalar_t>(), dims_of<index_t>(input),
              output.mutable_data_ptr<scalar_t>(), lse.mutable_data_ptr<acc_t>(),
              dims_of<index_t>(output), win, static_cast<index_t>(total));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    if (small) {
      cl ? launch(int32_t(0), std::true_type{}) : launch(int32_t(0), std::false_type{});
    } else {
      cl ? launch(int64_t(0), std::true_type{}) : launch(int64_t(0), std::false_type{});
    }
  });
}

void backward_cuda(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& output,
                   const at::Tensor& lse, const PoolGeometry& g, bool paper_grad,
                   at::Tensor& grad_input) {
  const c10::cuda::CUDAGuard guard(input.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool cl = memory_format_of(input) == c10::MemoryFormat::ChannelsLast3d;
  const bool small = fits_int32(input) && fits_int32(output);
  const int64_t total = input.numel();
  const Window win = window_of(g);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(),
                                  "softpool3d_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    auto launch = [&](auto index_zero, auto cl_tag) {
      using index_t = decltype(index_zero);
      backward_kernel<scalar_t, index_t, decltype(cl_tag)::value>
          <<<blocks_for(total), kThreads, 0, stream>>>(
              grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
              output.const_data_ptr<scalar_t>(), lse.const_data_ptr<acc_t>(),
              dims_of<index_t>(input), dims_of<index_t>(output), win, paper_grad,
              grad_input.mutable_data_ptr<scalar_t>(), static_cast<index_t>(total));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    if (small) {
      cl ? launch(int32_t(0), std::true_type{}) : launch(int32_t(0), std::false_type{});
    } else {
      cl ? launch(int64_t(0), std::true_type{}) : launch(int64_t(0), std::false_type{});
    }
  });
}

}  // namespace softpool
