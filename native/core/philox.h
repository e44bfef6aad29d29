// Philox-4x32-10 counter-based generator (Salmon et al., SC'11) and Box-Muller normals.
// Counter-based: element i of a stream depends only on (seed, stream, i), so the CPU and CUDA
// backends draw bit-identical noise without sharing state, and any element can be regenerated.
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define CXRL_HD __host__ __device__ __forceinline__
#else
#define CXRL_HD inline
#endif

namespace cxrl {

struct Philox4 {
  uint32_t x[4];
};

CXRL_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

CXRL_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo32(0xD2511F53u, ctr.x[0], &hi0);
    uint32_t lo1 = mulhilo32(0xCD9E8D57u, ctr.x[2], &hi1);
    ctr = {{hi1 ^ ctr.x[1] ^ k0, lo1, hi0 ^ ctr.x[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}

// Uniform in (0, 1], never 0 so that log() is safe.
CXRL_HD float uint_to_unit(uint32_t u) { return (static_cast<float>(u >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Standard normals 4g .. 4g+3 of stream `stream` under `seed`: one Philox block gives two
// Box-Muller pairs. Element i of a stream is out[i % 4] of group i / 4.
CXRL_HD void philox_normal4(uint64_t seed, uint64_t stream, uint64_t group, float out[4]) {
  Philox4 c = {{static_cast<uint32_t>(group), static_cast<uint32_t>(group >> 32), static_cast<uint32_t>(stream),
                static_cast<uint32_t>(stream >> 32)}};
  Philox4 r = philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  for (int p = 0; p < 2; ++p) {
    const float rad = sqrtf(-2.0f * logf(uint_to_unit(r.x[2 * p])));
    const float u = uint_to_unit(r.x[2 * p + 1]);
#ifdef __CUDA_ARCH__
    // sin/cos of 2 pi u without range reduction (the precise sinf/cosf keep a slow path for large
    // arguments that costs registers); the values agree with the host's to an ulp or two.
    float s, c;
    sincospif(2.0f * u, &s, &c);
    out[2 * p] = rad * c;
    out[2 * p + 1] = rad * s;
#else
    const float ang = 6.283185307179586f * u;
    out[2 * p] = rad * cosf(ang);
    out[2 * p + 1] = rad * sinf(ang);
#endif
  }
}

// Standard normal number `index` of stream `stream` under `seed` (same values as philox_normal4).
CXRL_HD float philox_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  float v[4];
  philox_normal4(seed, stream, index >> 2, v);
  return v[index & 3];
}

}  // namespace cxrl
