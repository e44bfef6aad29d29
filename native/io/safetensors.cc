#include "io/safetensors.h"

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

SafetensorsFile read_safetensors(const std::string& path) {
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
  const uint64_t data_start = 8 + hlen, data_size = size - data_start;
  SafetensorsFile out;
  for (const auto& [name, entry] : h.object()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.object())
        if (v.is_string()) out.metadata[k] = v.str();
      continue;
    }
    try {
      const std::string dtype = entry.at("dtype").str();
      Shape shape;
      for (const auto& d : entry.at("shape").array()) shape.push_back((int64_t)d.number());
      const auto& offs = entry.at("data_offsets").array();
      const uint64_t b = (uint64_t)offs.at(0).number(), e = (uint64_t)offs.at(1).number();
      const int64_t n = shape_numel(shape);
      const int elem = (dtype == "F32" || dtype == "I32")    ? 4
                       : (dtype == "F64" || dtype == "I64")  ? 8
                       : (dtype == "F16" || dtype == "BF16") ? 2
                                                             : 0;
      if (!elem) throw std::runtime_error("unsupported dtype " + dtype + " (F32, F16, BF16, F64, I64, I32 are read)");
      if (e < b || e > data_size || e - b != (uint64_t)n * elem)
        throw std::runtime_error("data_offsets [" + std::to_string(b) + "," + std::to_string(e) +
                                 "] do not fit shape " + shape_str(shape) + " of " + dtype + " in " +
                                 std::to_string(data_size) + " data bytes (truncated file?)");
      std::vector<uint8_t> raw(e - b);
      in.seekg(data_start + b);
      in.read((char*)raw.data(), raw.size());
      if (!in) throw std::runtime_error("read failed (truncated file?)");
      Tensor t(shape);
      const bool keep_exact = dtype == "F64" || dtype == "I64" || dtype == "I32";
      std::vector<double> exact(keep_exact ? n : 0);
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t* p = raw.data() + i * elem;
        if (dtype == "F32") {
          std::memcpy(&t.v[i], p, 4);
        } else if (keep_exact) {
          double d;
          if (dtype == "F64") {
            std::memcpy(&d, p, 8);
          } else if (dtype == "I64") {
            int64_t k;
            std::memcpy(&k, p, 8);
            d = (double)k;
          } else {
            int32_t k;
            std::memcpy(&k, p, 4);
            d = (double)k;
          }
          exact[i] = d;
          t.v[i] = (float)d;
        } else {
          const uint16_t u = (uint16_t)(p[0] | (p[1] << 8));
          t.v[i] = dtype == "F16" ? half_to_float(u) : bf16_to_float(u);
        }
      }
      out.tensors.emplace(name, std::move(t));
      if (keep_exact) out.exact.emplace(name, std::move(exact));
    } catch (const std::exception& ex) {
      throw std::runtime_error(path + ": tensor \"" + name + "\": " + ex.what());
    }
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
    for (const auto& [name, t] : tensors) out.write((const char*)t->data(), t->numel() * 4);
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
