// Lane loops of the CPU SoftPool kernels: element-wise work over a contiguous run of "lanes"
// (output columns for contiguous tensors, channels for channels_last_3d), in the accumulation type.
// Each operation is a template over the accumulation type; SOFTPOOL_LANE_OP(name) adds name_any,
// which runs the float version through copies compiled for AVX-512, AVX2+FMA and the baseline ISA
// (picked at load time) and the double version as it is (baseline ISA).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "softpool.h"

namespace softpool {
namespace cpu {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SOFTPOOL_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SOFTPOOL_CLONES
#endif

// Cloned<&f>::run: f, with f's own signature, compiled once per ISA of SOFTPOOL_CLONES.
template <auto F>
struct Cloned;
template <typename R, typename... P, R (*F)(P...)>
struct Cloned<F> {
  SOFTPOOL_CLONES static R run(P... p) { return F(p...); }
};

// name_any(args...): name<float> through Cloned where the arguments are float lanes, else
// name<double>.
#define SOFTPOOL_LANE_OP(name)                                            \
  template <typename... A>                                                \
  inline decltype(auto) name##_any(A&&... a) {                            \
    if constexpr (std::is_invocable_v<decltype(&name<float>), A...>)      \
      return Cloned<&name<float>>::run(a...);                             \
    else                                                                  \
      return name<double>(a...);                                          \
  }

// c[0] t^(N-1) + ... + c[N-1] by Horner's rule (N is a constant: the loop unrolls).
template <typename T, std::size_t N>
inline T horner(T t, const T (&c)[N]) {
  T p = c[0];
  for (std::size_t i = 1; i < N; ++i) p = p * t + c[i];
  return p;
}

// exp(x) for x <= 88 in float, with a ~1 ulp polynomial that vectorises: 0 below -87.3 (where
// float exp leaves the normal range), NaN stays NaN. Range reduction x = n ln2 + r, |r| <= ln2 / 2.
#pragma omp declare simd notinbranch
inline float exp_vec(float x) {
  float xc = x < -87.3f ? -87.3f : x;
  xc = xc > 88.f ? 88.f : xc;
  const float shifter = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer in the mantissa
  float t = xc * 1.44269504088896341f + shifter;
  float n = t - shifter;
  int32_t t_bits, s_bits;
  std::memcpy(&t_bits, &t, 4);
  std::memcpy(&s_bits, &shifter, 4);
  const int32_t ni = t_bits - s_bits;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = horner(r, {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                       1.6666665459e-1f, 5.0000001201e-1f});
  p = p * r * r + r + 1.f;
  const int32_t scale_bits = (ni + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, 4);
  const float result = p * scale;
  return x < -87.3f ? 0.f : result;
}
inline double exp_vec(double x) { return std::exp(x); }

// log(x) for positive normal floats that vectorises (NaN stays NaN), within a few ulp:
// x = 2^e r with r in [sqrt(1/2), sqrt(2)), log r = 2 atanh(u) = 2 (u + u^3/3 + ... + u^9/9) with
// u = (r - 1) / (r + 1), |u| <= 0.172 (the next term is below 1e-9 relative).
#pragma omp declare simd notinbranch
inline float log_vec(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, 4);
  int32_t e = ((bits >> 23) & 0xff) - 127;
  int32_t r_bits = (bits & 0x7fffff) | 0x3f800000;  // mantissa in [1, 2)
  float r;
  std::memcpy(&r, &r_bits, 4);
  const bool high = r > 1.41421356f;
  r = high ? r * 0.5f : r;
  e = high ? e + 1 : e;
  const float u = (r - 1.f) / (r + 1.f), u2 = u * u;
  float series = 1.f / 9.f;
  series = series * u2 + 1.f / 7.f;
  series = series * u2 + 1.f / 5.f;
  series = series * u2 + 1.f / 3.f;
  const float ef = static_cast<float>(e);
  // ln 2 = 0.693359375 - 2.12194440e-4 (hi part exact in float, so e * hi is exact)
  const float result = ef * 0.693359375f + (ef * -2.12194440e-4f + 2.f * u * (1.f + u2 * series));
  return x != x ? x : result;
}
inline double log_vec(double x) { return std::log(x); }

// m = max(m, x) over n lanes.
template <typename acc_t>
inline void max_lanes(const acc_t* __restrict x, acc_t* __restrict m, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) m[i] = x[i] > m[i] ? x[i] : m[i];
}

// With d = shifted(x, m) (x - m, clamped; 0 for x == m, also at infinity): s += e^d, t += d e^d.
template <typename acc_t>
inline void accumulate_lanes(const acc_t* __restrict x, const acc_t* __restrict m,
                             acc_t* __restrict s, acc_t* __restrict t, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const acc_t d = shifted<acc_t>(x[i], m[i]);
    const acc_t e = exp_vec(d);
    s[i] += e;
    t[i] += e * d;
  }
}

// Adds the gradient reaching input lanes x from one window each to `out`: g w (1 + x - y) (exact)
// or g w (the paper's rule), with w = e^(x - y - lse) and lse = log sum_j e^(a_j - y) the saved
// normaliser.
template <typename acc_t>
inline void grad_lanes(const acc_t* __restrict x, const acc_t* __restrict y,
                       const acc_t* __restrict lse, const acc_t* __restrict g,
                       acc_t* __restrict out, int64_t n, bool paper) {
  if (paper) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      out[i] += g[i] * exp_vec(shifted<acc_t>(x[i], y[i]) - lse[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const acc_t d = shifted<acc_t>(x[i], y[i]);
      out[i] += g[i] * exp_vec(d - lse[i]) * (acc_t(1) + d);
    }
  }
}
SOFTPOOL_LANE_OP(grad_lanes)

// grad_lanes for the contiguous backward: lane j reads x[j * stride] and adds to acc[j * stride]
// (an input row, window cells kw, kw + s, ...); strides 1 and 2 as constants, which vectorise.
template <typename acc_t, int64_t S>
inline void grad_strided_impl(const acc_t* __restrict x, const acc_t* __restrict y,
                              const acc_t* __restrict lse, const acc_t* __restrict g,
                              acc_t* __restrict acc, int64_t n, int64_t stride, bool paper) {
  const int64_t st = S > 0 ? S : stride;
  if (paper) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j)
      acc[j * st] += g[j] * exp_vec(shifted<acc_t>(x[j * st], y[j]) - lse[j]);
  } else {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const acc_t d = shifted<acc_t>(x[j * st], y[j]);
      acc[j * st] += g[j] * exp_vec(d - lse[j]) * (acc_t(1) + d);
    }
  }
}
template <typename acc_t>
inline void grad_strided(const acc_t* x, const acc_t* y, const acc_t* lse, const acc_t* g,
                         acc_t* acc, int64_t n, int64_t stride, bool paper) {
  if (stride == 1) grad_strided_impl<acc_t, 1>(x, y, lse, g, acc, n, stride, paper);
  else if (stride == 2) grad_strided_impl<acc_t, 2>(x, y, lse, g, acc, n, stride, paper);
  else grad_strided_impl<acc_t, 0>(x, y, lse, g, acc, n, stride, paper);
}
SOFTPOOL_LANE_OP(grad_strided)

// The end of a window pass over n lanes: y = m + t / s, and log s.
template <typename acc_t>
inline void finish_lanes(const acc_t* __restrict m, const acc_t* __restrict s,
                         const acc_t* __restrict t, acc_t* __restrict y, acc_t* __restrict log_s,
                         int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    y[i] = m[i] + t[i] / s[i];
    log_s[i] = log_vec(s[i]);
  }
}
SOFTPOOL_LANE_OP(finish_lanes)

// The max pass and the sum pass over every cell of a window: v[c] are the cells' lanes.
template <typename acc_t>
inline void max_cells(const acc_t* const* v, int64_t cells, acc_t* __restrict m, int64_t n) {
  for (int64_t c = 0; c < cells; ++c) max_lanes(v[c], m, n);
}
SOFTPOOL_LANE_OP(max_cells)
template <typename acc_t>
inline void accumulate_cells(const acc_t* const* v, int64_t cells, const acc_t* __restrict m,
                             acc_t* __restrict s, acc_t* __restrict t, int64_t n) {
  for (int64_t c = 0; c < cells; ++c) accumulate_lanes(v[c], m, s, t, n);
}
SOFTPOOL_LANE_OP(accumulate_cells)

// buf[i] = p[i * stride]; stride 2 (the usual pooling stride) as a constant, which vectorises.
template <typename acc_t>
inline void gather_lanes(const acc_t* __restrict p, int64_t stride, int64_t n,
                         acc_t* __restrict buf) {
  if (stride == 2) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) buf[i] = p[2 * i];
  } else {
    for (int64_t i = 0; i < n; ++i) buf[i] = p[i * stride];
  }
}
SOFTPOOL_LANE_OP(gather_lanes)

// buf[i] = float(p[i * stride]) for the 16-bit types (their conversions are bit operations); run
// through Cloned<&widen_lanes<half_t>>.
template <typename half_t>
inline void widen_lanes(const half_t* __restrict p, int64_t stride, int64_t n,
                        float* __restrict buf) {
  if (stride == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<float>(p[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<float>(p[i * stride]);
  }
}

// Whole-row windows (contiguous layout, the window spans W: global pools). The lanes are the
// window's own cells, reduced with 16 partial results combined in a fixed order (deterministic).
constexpr int64_t kParts = 16;

// max(m, x[0..n)); NaN is skipped, as in max_lanes.
template <typename acc_t>
inline acc_t reduce_max(const acc_t* __restrict x, int64_t n, acc_t m) {
  acc_t part[kParts];
  for (int64_t j = 0; j < kParts; ++j) part[j] = m;
  int64_t i = 0;
  for (; i + kParts <= n; i += kParts) {
#pragma omp simd
    for (int64_t j = 0; j < kParts; ++j) part[j] = x[i + j] > part[j] ? x[i + j] : part[j];
  }
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int64_t j = 0; j < kParts; ++j) m = part[j] > m ? part[j] : m;
  return m;
}
SOFTPOOL_LANE_OP(reduce_max)

// With d = shifted(x, m): s += sum e^d, t += sum d e^d over x[0..n).
template <typename acc_t>
inline void reduce_sums(const acc_t* __restrict x, int64_t n, acc_t m, acc_t& s, acc_t& t) {
  acc_t ps[kParts] = {}, pt[kParts] = {};
  int64_t i = 0;
  for (; i + kParts <= n; i += kParts) {
#pragma omp simd
    for (int64_t j = 0; j < kParts; ++j) {
      const acc_t d = shifted<acc_t>(x[i + j], m);
      const acc_t e = exp_vec(d);
      ps[j] += e;
      pt[j] += e * d;
    }
  }
  for (; i < n; ++i) {
    const acc_t d = shifted<acc_t>(x[i], m);
    const acc_t e = exp_vec(d);
    s += e;
    t += e * d;
  }
  for (int64_t j = 0; j < kParts; ++j) s += ps[j], t += pt[j];
}
SOFTPOOL_LANE_OP(reduce_sums)

// acc[i] += the gradient reaching x[i] from one window with output y, normaliser lse and
// grad_output g (as grad_lanes, with y, lse, g shared by all lanes).
template <typename acc_t>
inline void grad_shared(const acc_t* __restrict x, int64_t n, acc_t y, acc_t lse, acc_t g,
                        acc_t* __restrict acc, bool paper) {
  if (paper) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) acc[i] += g * exp_vec(shifted<acc_t>(x[i], y) - lse);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const acc_t d = shifted<acc_t>(x[i], y);
      acc[i] += g * exp_vec(d - lse) * (acc_t(1) + d);
    }
  }
}
SOFTPOOL_LANE_OP(grad_shared)

}  // namespace cpu
}  // namespace softpool
