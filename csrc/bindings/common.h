// Shared argument checks for the binding layer. Python wrappers validate first and name the user's
// argument; these checks are the last line of defence, so a bad call from anywhere gets a clear
// Python exception instead of a crash.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>

namespace py = pybind11;

namespace wtal::bind {

template <typename T>
const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  else if constexpr (std::is_same_v<T, double>) return "float64";
  else if constexpr (std::is_same_v<T, int64_t>) return "int64";
  else if constexpr (std::is_same_v<T, int32_t>) return "int32";
  else if constexpr (std::is_same_v<T, uint8_t>) return "uint8";
  else if constexpr (std::is_same_v<T, bool>) return "bool";
  else return "unknown";
}

inline std::string shape_str(const py::array& a) {
  std::ostringstream os;
  os << "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) os << (i ? ", " : "") << a.shape(i);
  os << "]";
  return os.str();
}

// Checks dtype (exact), C-contiguity and rank; ndim < 0 accepts any rank. Never copies.
template <typename T>
void check_array(const py::array& a, const char* name, int ndim = -1, bool writeable = false) {
  if (!py::dtype::of<T>().is(a.dtype())) {
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  }
  if (ndim >= 0 && a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                          shape_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous (call numpy.ascontiguousarray)");
  }
  if (writeable && !a.writeable()) {
    throw py::value_error(std::string(name) + " must be writeable");
  }
}

// True iff a holds float32 (the dispatch test of the float32/float64 kernels).
inline bool is_f32(const py::array& a) { return py::dtype::of<float>().is(a.dtype()); }

template <typename T>
const T* cdata(const py::array& a) { return static_cast<const T*>(a.data()); }

template <typename T>
T* mdata(py::array& a) { return static_cast<T*>(a.mutable_data()); }

inline void check_dim(const py::array& a, const char* name, int axis, py::ssize_t expected,
                      const char* what) {
  if (a.shape(axis) != expected) {
    throw py::value_error(std::string(name) + " must have " + what + " = " + std::to_string(expected) +
                          " along axis " + std::to_string(axis) + ", got shape " + shape_str(a));
  }
}

// Optional per-video lengths [B] (int64): nullptr when absent.
inline const int64_t* optional_lengths(const std::optional<py::array>& lengths, py::ssize_t B) {
  if (!lengths) return nullptr;
  check_array<int64_t>(*lengths, "lengths", 1);
  check_dim(*lengths, "lengths", 0, B, "B");
  return cdata<int64_t>(*lengths);
}

[[noreturn]] inline void throw_no_cuda(const char* op) {
  throw std::runtime_error(std::string("wtal was built without CUDA kernels; ") + op +
                           " is unavailable on CUDA tensors (rebuild with nvcc on PATH and WTAL_CUDA=ON)");
}

}  // namespace wtal::bind
