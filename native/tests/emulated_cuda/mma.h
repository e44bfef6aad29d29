// WMMA for the emulated GPU (tests/cuda_emulation.h), standing in for <mma.h>: the 16x16x16 tile
// operations from their documented semantics, with the API's alignment rules checked.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "tests/cuda_emulation.h"
#include "tests/emulated_cuda/cuda_bf16.h"

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// Only the 16 x 16 x 16 shape. Lane 0's fragment holds the whole tile and does the warp's work (the
// other lanes' copies are never read back: only lane 0 stores).
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "the emulation has the 16x16x16 shape only");
  float x[256];
};

namespace detail {
// False (and reported) when the access breaks the API's rules; the access is then not made.
inline bool check_access(const void* p, unsigned ldm, size_t elem_bytes, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) {
    cxrl::emulation::report(std::string(what) + ": pointer not 32-byte aligned");
    return false;
  }
  if ((ldm * elem_bytes) % 16 != 0) {
    cxrl::emulation::report(std::string(what) + ": ldm not a multiple of 16 bytes");
    return false;
  }
  return true;
}
inline float value(float v) { return v; }
inline float value(__nv_bfloat16 v) { return __bfloat162float(v); }
}  // namespace detail

template <typename Use, typename T, typename Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, float v) {
  if (cxrl::emulation::lane() == 0)
    for (float& e : f.x) e = v;
}

// matrix_a / matrix_b: element (i, j) of the tile at p[i ldm + j] (row_major) or p[j ldm + i] (col_major).
template <typename Use, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout>& f, const __nv_bfloat16* p, unsigned ldm) {
  cxrl::emulation::warp_barrier();
  constexpr bool col = std::is_same<Layout, col_major>::value;
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(__nv_bfloat16), "load_matrix_sync"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = detail::value(col ? p[j * ldm + i] : p[i * ldm + j]);
  cxrl::emulation::warp_barrier();
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t l) {
  cxrl::emulation::warp_barrier();
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(float), "load_matrix_sync (accumulator)"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
  cxrl::emulation::warp_barrier();
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
  cxrl::emulation::warp_barrier();
  if (cxrl::emulation::lane() == 0 && detail::check_access(p, ldm, sizeof(float), "store_matrix_sync"))
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) (l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[i * 16 + j];
  cxrl::emulation::warp_barrier();
}

// d = a b + c, accumulated in fp32 (d may be c).
template <typename LayoutA, typename LayoutB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
              const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LayoutA>& a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LayoutB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  if (cxrl::emulation::lane() != 0) return;
  float out[256];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float acc = c.x[i * 16 + j];
      for (int k = 0; k < 16; ++k) acc += a.x[i * 16 + k] * b.x[k * 16 + j];
      out[i * 16 + j] = acc;
    }
  std::memcpy(d.x, out, sizeof out);
}

}  // namespace nvcuda::wmma
