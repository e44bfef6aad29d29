// One attention test case, shared by the CUDA attention tests (native/tests/cuda) and the emulated
// kernel tests: random inputs, a key mask, the CPU attention's output and gradients (the reference
// every device result is compared with), and the check that a batch entry with every key masked
// attends to nothing.
#pragma once
#include <cmath>
#include <string>

#include "ops/attention.h"
#include "tests/harness.h"

namespace cxrl::test {

struct AttentionCase {
  int B, H, d, Lq, Lk;
  bool mask;
  std::string label() const {
    return "B" + std::to_string(B) + " H" + std::to_string(H) + " d" + std::to_string(d) + " " + std::to_string(Lq) +
           "x" + std::to_string(Lk) + (mask ? " masked" : "");
  }
};

// q [B, Lq, H d], k and v [B, Lk, H d], gy like the output; with c.mask, every third key of entry 0
// is dropped and entry 1 (when B > 1) attends to nothing. y, gq, gk, gv: the CPU attention's.
struct AttentionReference {
  Tensor q, k, v, gy, mask, y, gq, gk, gv;  // mask: all ones unless c.mask
};

inline AttentionReference attention_reference(const AttentionCase& c) {
  AttentionReference r;
  r.q = randn({c.B, c.Lq, c.H * c.d});
  r.k = randn({c.B, c.Lk, c.H * c.d});
  r.v = randn({c.B, c.Lk, c.H * c.d});
  r.gy = randn({c.B, c.Lq, c.H * c.d});
  r.mask = Tensor({c.B, c.Lk}, 1.f);
  if (c.mask) {
    for (int j = 0; j < c.Lk; j += 3) r.mask.v[j] = 0.f;
    if (c.B > 1)
      for (int j = 0; j < c.Lk; ++j) r.mask.v[c.Lk + j] = 0.f;
  }
  AttentionCache cache;
  r.y = attention_forward(r.q, r.k, r.v, c.H, c.mask ? &r.mask : nullptr, &cache);
  attention_backward(r.q, r.k, r.v, c.H, cache, r.gy, &r.gq, &r.gk, &r.gv);
  return r;
}

// Whether batch entry 1 (the fully masked one, present when c.mask and B > 1) has exact zeros in y,
// gq, gk and gv, and, when lse [B, H, Lq] is given, -inf log-sum-exps. True when there is no such entry.
inline bool masked_entry_attends_to_nothing(const AttentionCase& c, const Tensor& y, const Tensor& gq, const Tensor& gk,
                                            const Tensor& gv, const Tensor* lse = nullptr) {
  if (!c.mask || c.B < 2) return true;
  const int64_t per_q = (int64_t)c.Lq * c.H * c.d, per_k = (int64_t)c.Lk * c.H * c.d;
  bool empty = true;
  for (int64_t i = 0; i < per_q; ++i) empty = empty && y.v[per_q + i] == 0.f && gq.v[per_q + i] == 0.f;
  for (int64_t i = 0; i < per_k; ++i) empty = empty && gk.v[per_k + i] == 0.f && gv.v[per_k + i] == 0.f;
  if (lse)
    for (int64_t i = 0; i < (int64_t)c.H * c.Lq; ++i) empty = empty && lse->v[c.H * c.Lq + i] == -INFINITY;
  return empty;
}

}  // namespace cxrl::test
