// safetensors files: an 8-byte little-endian header length, a JSON header mapping names to
// {dtype, shape, data_offsets}, then the raw little-endian data. Reads F32, F16, BF16 (converted to
// float32) and F64; writes F32. Writes go to a temporary file renamed into place.
#pragma once
#include <map>
#include <string>

#include "core/tensor.h"

namespace cxrl {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // every tensor, as float32
  // F64, I64 and I32 tensors also keep their values as double, so that float64 inputs (a kernel's
  // alpha-bars, say) and large integers are not rounded to float32 on the way in.
  std::map<std::string, std::vector<double>> exact;
  std::map<std::string, std::string> metadata;
};

// Errors name the file and the problem (truncated, bad header, unsupported dtype, ...).
SafetensorsFile read_safetensors(const std::string& path);
void write_safetensors(const std::string& path, const std::map<std::string, const Tensor*>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t h);

}  // namespace cxrl
