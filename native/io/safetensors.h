// safetensors files: an 8-byte little-endian header length, a JSON header mapping names to
// {dtype, shape, data_offsets}, then the raw little-endian data. Reads F32, F16, BF16 (converted to
// float32) and F64; writes F32. Writes go to a temporary file renamed into place.
#pragma once
#include <map>
#include <string>
#include <vector>

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

// The header alone, checked (dtypes, offsets within the file), so that a loader can check names
// and shapes first and then read each tensor straight into its destination: peak memory stays at
// one copy of the weights however large the file.
struct SafetensorsEntry {
  std::string dtype;
  Shape shape;
  uint64_t offset = 0, bytes = 0;  // absolute file offset of the data
};
struct SafetensorsIndex {
  std::string path;
  std::map<std::string, SafetensorsEntry> tensors;
  std::map<std::string, std::string> metadata;
};
SafetensorsIndex read_safetensors_index(const std::string& path);
// Converts one tensor to float32 into dst (numel floats); exact (when not null) receives the values
// as double.
void read_safetensors_tensor(const SafetensorsIndex& index, const std::string& name, float* dst,
                             std::vector<double>* exact = nullptr);
void write_safetensors(const std::string& path, const std::map<std::string, const Tensor*>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t h);

}  // namespace cxrl
