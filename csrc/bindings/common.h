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
#include <vector>

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

// ---- integer arguments -----------------------------------------------------------------------------
// Every index computation of a binding goes through these, so a raw call with values near 2**63 gets a
// ValueError instead of a signed overflow that wraps into a "valid" offset.

// value >= minimum, else ValueError naming the argument.
inline void check_at_least(int64_t value, int64_t minimum, const char* name) {
  if (value < minimum) {
    throw py::value_error(std::string(name) + " must be >= " + std::to_string(minimum) + ", got " +
                          std::to_string(value));
  }
}

// a * b for non-negative a, b, or ValueError naming `what` when the product exceeds int64.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) {
    throw py::value_error(std::string(what) + " is too large: " + std::to_string(a) + " * " + std::to_string(b) +
                          " overflows int64");
  }
  return r;
}

// True iff the `count` positions start, start + stride, ..., start + (count - 1) * stride all lie in
// [0, size) (stride >= 1, size >= 0); never overflows. count == 0 is always inside.
inline bool strided_range_inside(int64_t start, int64_t count, int64_t stride, int64_t size) {
  if (count < 0 || start < 0 || stride < 1) return false;
  if (count == 0) return true;
  if (start >= size) return false;
  return (count - 1) <= (size - 1 - start) / stride;
}

// True iff [start, start + length) lies in [0, size) (length >= 0); never overflows.
inline bool range_inside(int64_t start, int64_t length, int64_t size) {
  return length >= 0 && start >= 0 && start <= size - length;
}

// Sizes of a padded [B, T, C] batch passed to a launcher as integers (the CUDA pools): non-negative,
// T < 2**31 (time indices are int32) and B * T * C within int64.
inline void check_pool_sizes(int64_t B, int64_t T, int64_t C) {
  check_at_least(B, 0, "B");
  check_at_least(T, 0, "T");
  check_at_least(C, 0, "C");
  if (T > INT32_MAX) throw py::value_error("T must be < 2**31, got " + std::to_string(T));
  checked_mul(checked_mul(B, T, "B * T"), C, "B * T * C");
}

// A numpy array argument that may also be None; anything else (a list, an int) is a TypeError naming
// it rather than a py::array view of a non-array object.
inline std::optional<py::array> optional_array(const py::object& o, const char* name) {
  if (o.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(o)) {
    throw py::type_error(std::string(name) + " must be None or a numpy array, got " +
                         std::string(py::str(py::type::of(o).attr("__name__"))));
  }
  return py::reinterpret_borrow<py::array>(o);
}

// A new C-contiguous array of the given shape; a shape whose byte size overflows or cannot be allocated
// is a ValueError naming `what` (numpy's MemoryError would not say which argument asked for it).
template <typename T>
py::array_t<T> new_array(std::initializer_list<int64_t> shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) n = checked_mul(n, d, what);
  checked_mul(n, static_cast<int64_t>(sizeof(T)), what);
  std::vector<py::ssize_t> dims(shape.begin(), shape.end());
  try {
    return py::array_t<T>(dims);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError) && !e.matches(PyExc_ValueError)) throw;
    std::ostringstream os;
    os << what << " needs an output of " << n << " elements (" << (static_cast<double>(n) * sizeof(T) / (1 << 30))
       << " GiB), which cannot be allocated";
    throw py::value_error(os.str());
  }
}

[[noreturn]] inline void throw_no_cuda(const char* op) {
  throw std::runtime_error(std::string("wtal was built without CUDA kernels; ") + op +
                           " is unavailable on CUDA tensors (rebuild with nvcc on PATH and WTAL_CUDA=ON)");
}

}  // namespace wtal::bind
