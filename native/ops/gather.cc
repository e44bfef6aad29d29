#include "ops/gather.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "core/backend.h"

namespace cxrl {

Tensor gather_spans(const std::vector<Span>& spans, int64_t span_length, Shape out_shape) {
  if (spans.empty()) throw std::invalid_argument("gather: no spans");
  if (span_length < 0 || shape_numel(out_shape) != (int64_t)spans.size() * span_length)
    throw std::invalid_argument("gather: " + std::to_string(spans.size()) + " spans of " + std::to_string(span_length) +
                                " values do not fill " + shape_str(out_shape));
  const Device d = spans[0].source->device;
  for (size_t k = 0; k < spans.size(); ++k) {
    const Span& s = spans[k];
    if (s.source->device != d)
      throw std::invalid_argument("gather: span " + std::to_string(k) + " is on " + display_name(s.source->device) +
                                  ", span 0 on " + display_name(d));
    if (s.offset < 0 || s.offset + span_length > s.source->numel())
      throw std::invalid_argument("gather: span " + std::to_string(k) + " [" + std::to_string(s.offset) + ", +" +
                                  std::to_string(span_length) + ") lies outside its tensor of " +
                                  std::to_string(s.source->numel()) + " values");
  }
  Tensor out = Tensor::uninitialized(std::move(out_shape), d);
  if (d == Device::kCpu) {
    for (size_t k = 0; k < spans.size(); ++k)
      std::memcpy(out.data() + k * span_length, spans[k].source->data() + spans[k].offset, span_length * sizeof(float));
    return out;
  }
  const DeviceBackend& backend = require_backend(d);
  DeviceStorage& dst = *out.storage;  // fresh: not shared
  for (size_t k = 0; k < spans.size(); ++k)
    backend.copy(dst, k * span_length, *spans[k].source->storage, spans[k].offset, span_length);
  return out;
}

Tensor gather_rows(const std::vector<const Tensor*>& sources, const std::vector<int64_t>& rows) {
  if (sources.empty() || sources.size() != rows.size())
    throw std::invalid_argument("gather rows: one row index per source, at least one");
  if (sources[0]->ndim() < 1) throw std::invalid_argument("gather rows: sources must be [N, ...]");
  const Shape row_shape(sources[0]->shape.begin() + 1, sources[0]->shape.end());
  const int64_t per = shape_numel(row_shape);
  std::vector<Span> spans;
  for (size_t k = 0; k < sources.size(); ++k) {
    const Tensor& s = *sources[k];
    if (s.ndim() < 1 || Shape(s.shape.begin() + 1, s.shape.end()) != row_shape)
      throw std::invalid_argument("gather rows: source " + std::to_string(k) + " is " + shape_str(s.shape) +
                                  ", source 0 has rows of " + shape_str(row_shape));
    if (rows[k] < 0 || rows[k] >= s.dim(0))
      throw std::invalid_argument("gather rows: row " + std::to_string(rows[k]) + " of source " + std::to_string(k) +
                                  " is outside [0, " + std::to_string(s.dim(0)) + ")");
    spans.push_back({&s, rows[k] * per});
  }
  Shape out_shape{(int64_t)sources.size()};
  out_shape.insert(out_shape.end(), row_shape.begin(), row_shape.end());
  return gather_spans(spans, per, std::move(out_shape));
}

}  // namespace cxrl
