// JavaScript functions for evaluation numerics: the symmetric eigendecomposition behind the FID.
#include <napi.h>

#include <cmath>
#include <vector>

#include "eval/symmetric_eigen.h"

namespace cxrl {
namespace {

// symmetricEigen(matrix: Float64Array (n*n, row-major), n) -> {values: Float64Array, vectors: Float64Array, sweeps}
Napi::Value SymmetricEigen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "symmetricEigen(matrix: Float64Array, n: number)");
  Napi::Float64Array m = info[0].As<Napi::Float64Array>();
  const double nd = info[1].As<Napi::Number>().DoubleValue();
  const int64_t n = (int64_t)nd;
  if (nd != (double)n || n < 1 || (size_t)(n * n) != m.ElementLength())
    throw Napi::RangeError::New(env, "symmetricEigen: n must be a positive integer with n * n = the matrix's length");
  std::vector<double> a(m.Data(), m.Data() + n * n);
  Napi::Float64Array values = Napi::Float64Array::New(env, n), vectors = Napi::Float64Array::New(env, n * n);
  int sweeps;
  try {
    sweeps = symmetric_eigen(a.data(), n, values.Data(), vectors.Data());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("values", values);
  out.Set("vectors", vectors);
  out.Set("sweeps", sweeps);
  return out;
}

}  // namespace

void init_eval_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("symmetricEigen", Napi::Function::New(env, SymmetricEigen));
}

}  // namespace cxrl
