#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "io/json.h"

namespace cxrl {

float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0)
      bits = sign;
    else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

int dtype_bytes(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F16" || dtype == "BF16") return 2;
  throw std::runtime_error("unsupported dtype " + dtype + " (F32, F16, BF16, F64, I64, I32 are read)");
}

bool is_exact_dtype(const std::string& dtype) { return dtype == "F64" || dtype == "I64" || dtype == "I32"; }

// One element of raw little-endian data other than F32 (which is copied as it is) as double:
// exact for F64/I64/I32, F16/BF16 widened.
double element(const std::string& dtype, const uint8_t* p) {
  if (dtype == "F64") {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  if (dtype == "I64") {
    int64_t k;
    std::memcpy(&k, p, 8);
    return (double)k;
  }
  if (dtype == "I32") {
    int32_t k;
    std::memcpy(&k, p, 4);
    return (double)k;
  }
  const uint16_t u = (uint16_t)(p[0] | (p[1] << 8));
  return dtype == "F16" ? half_to_float(u) : bf16_to_float(u);
}

}  // namespace

SafetensorsIndex read_safetensors_index(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  in.seekg(0, std::ios::end);
  const uint64_t size = (uint64_t)in.tellg();
  in.seekg(0);
  if (size < 8) throw std::runtime_error(path + ": not a safetensors file (shorter than 8 bytes)");
  uint8_t lenb[8];
  in.read((char*)lenb, 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | lenb[i];
  if (hlen > size - 8 || hlen > (100u << 20))
    throw std::runtime_error(path + ": header length " + std::to_string(hlen) + " exceeds the file");
  std::string header(hlen, '\0');
  in.read(&header[0], hlen);
  Json h;
  try {
    h = Json::parse(header);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad header: " + e.what());
  }
  SafetensorsIndex index;
  index.path = path;
  const uint64_t data_start = 8 + hlen, data_size = size - data_start;
  for (const auto& [name, entry] : h.object()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.object())
        if (v.is_string()) index.metadata[k] = v.str();
      continue;
    }
    try {
      SafetensorsEntry t;
      t.dtype = entry.at("dtype").str();
      for (const auto& d : entry.at("shape").array()) t.shape.push_back((int64_t)d.number());
      const auto& offs = entry.at("data_offsets").array();
      const uint64_t b = (uint64_t)offs.at(0).number(), e = (uint64_t)offs.at(1).number();
      const int elem = dtype_bytes(t.dtype);
      if (e < b || e > data_size || e - b != (uint64_t)shape_numel(t.shape) * elem)
        throw std::runtime_error("data_offsets [" + std::to_string(b) + "," + std::to_string(e) +
                                 "] do not fit shape " + shape_str(t.shape) + " of " + t.dtype + " in " +
                                 std::to_string(data_size) + " data bytes (truncated file?)");
      t.offset = data_start + b;
      t.bytes = e - b;
      index.tensors.emplace(name, std::move(t));
    } catch (const std::exception& ex) {
      throw std::runtime_error(path + ": tensor \"" + name + "\": " + ex.what());
    }
  }
  return index;
}

void read_safetensors_tensor(const SafetensorsIndex& index, const std::string& name, float* dst,
                             std::vector<double>* exact) {
  const SafetensorsEntry& t = index.tensors.at(name);
  std::ifstream in(index.path, std::ios::binary);
  std::vector<uint8_t> raw(std::min<uint64_t>(t.bytes, 16u << 20));  // 16 MiB chunks: no whole-file copy
  const int elem = dtype_bytes(t.dtype);
  const int64_t n = shape_numel(t.shape), per_chunk = (int64_t)raw.size() / elem;
  if (exact) exact->resize(n);
  in.seekg(t.offset);
  for (int64_t i0 = 0; i0 < n; i0 += per_chunk) {
    const int64_t m = std::min(per_chunk, n - i0);
    in.read((char*)raw.data(), m * elem);
    if (!in) throw std::runtime_error(index.path + ": tensor \"" + name + "\": read failed (truncated file?)");
    if (t.dtype == "F32") {
      std::memcpy(dst + i0, raw.data(), m * 4);
      continue;
    }
    for (int64_t i = 0; i < m; ++i) {
      const double d = element(t.dtype, raw.data() + i * elem);
      dst[i0 + i] = (float)d;
      if (exact) (*exact)[i0 + i] = d;
    }
  }
}

SafetensorsFile read_safetensors(const std::string& path) {
  const SafetensorsIndex index = read_safetensors_index(path);
  SafetensorsFile out;
  out.metadata = index.metadata;
  for (const auto& [name, entry] : index.tensors) {
    Tensor t(entry.shape);
    std::vector<double> exact;
    read_safetensors_tensor(index, name, t.data(), is_exact_dtype(entry.dtype) ? &exact : nullptr);
    out.tensors.emplace(name, std::move(t));
    if (is_exact_dtype(entry.dtype)) out.exact.emplace(name, std::move(exact));
  }
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, const Tensor*>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::map<std::string, Json> header;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    std::vector<Json> shape;
    for (int64_t d : t->shape) shape.push_back(Json::make_number((double)d));
    const uint64_t bytes = (uint64_t)t->numel() * 4;
    header[name] = Json::make_object(
        {{"dtype", Json::make_string("F32")},
         {"shape", Json::make_array(shape)},
         {"data_offsets",
          Json::make_array({Json::make_number((double)offset), Json::make_number((double)(offset + bytes))})}});
    offset += bytes;
  }
  if (!metadata.empty()) {
    std::map<std::string, Json> meta;
    for (const auto& [k, v] : metadata) meta[k] = Json::make_string(v);
    header["__metadata__"] = Json::make_object(meta);
  }
  std::string hs = Json::make_object(header).dump();
  while ((hs.size() + 8) % 8) hs += ' ';  // align the data section to 8 bytes
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(path + ": cannot write (" + tmp + ")");
    uint8_t lenb[8];
    uint64_t hl = hs.size();
    for (int i = 0; i < 8; ++i) lenb[i] = (uint8_t)(hl >> (8 * i));
    out.write((const char*)lenb, 8);
    out.write(hs.data(), hs.size());
    for (const auto& [name, t] : tensors) {
      if (t->on_device()) {  // written from a host copy, one tensor at a time
        const Tensor host = t->to(Device::kCpu);
        out.write((const char*)host.data(), host.numel() * 4);
      } else {
        out.write((const char*)t->data(), t->numel() * 4);
      }
    }
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error(path + ": write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot rename temporary file into place");
  }
}

}  // namespace cxrl
