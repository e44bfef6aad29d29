#include "core/precision.h"

#include <atomic>
#include <stdexcept>

namespace cxrl {
namespace {
std::atomic<ComputePrecision>& setting() {
  static std::atomic<ComputePrecision> p{ComputePrecision::kFp32};
  return p;
}
}  // namespace

ComputePrecision compute_precision() { return setting().load(std::memory_order_relaxed); }
void set_compute_precision(ComputePrecision p) { setting().store(p, std::memory_order_relaxed); }

const char* precision_name(ComputePrecision p) { return p == ComputePrecision::kBf16 ? "bf16" : "fp32"; }

ComputePrecision parse_precision(const std::string& s) {
  if (s == "fp32") return ComputePrecision::kFp32;
  if (s == "bf16") return ComputePrecision::kBf16;
  throw std::invalid_argument("unknown precision '" + s + "' (expected fp32 or bf16)");
}

}  // namespace cxrl
