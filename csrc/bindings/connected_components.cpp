// Binding of connected_components: the CPU kernel on numpy arrays (count, allocate, fill) and the
// CUDA launchers on device pointers (the Python wrapper allocates and syncs once to size the output).
#include "bindings.h"
#include "bindings/common.h"
#include "cpu/connected_components.h"
#include "cuda/cuda_api.h"

namespace wtal::bind {
namespace {

void check_rows(const py::array& row_start, const py::array& row_len, py::ssize_t signal_size) {
  check_array<int64_t>(row_start, "row_start", 1);
  check_array<int64_t>(row_len, "lengths", 1);
  if (row_start.shape(0) != row_len.shape(0)) {
    throw py::value_error("row_start and lengths must have the same size, got " + shape_str(row_start) + " and " +
                          shape_str(row_len));
  }
  const int64_t* s = cdata<int64_t>(row_start);
  const int64_t* l = cdata<int64_t>(row_len);
  for (py::ssize_t n = 0; n < row_len.shape(0); ++n) {
    if (!range_inside(s[n], l[n], signal_size)) {
      throw py::value_error("row " + std::to_string(n) + " (row_start " + std::to_string(s[n]) + ", length " +
                            std::to_string(l[n]) + ") lies outside signal of size " + std::to_string(signal_size) +
                            " (lengths/offsets)");
    }
  }
}

template <typename T>
py::tuple cc_cpu(const py::array& signal, const py::array& row_start, const py::array& row_len,
                 const py::array& thresholds, const cpu::CCOptions& opt) {
  const int64_t N = row_len.shape(0), M = thresholds.shape(0);
  auto offsets = new_array<int64_t>({checked_mul(N, M, "connected_components: rows * thresholds") + 1},
                                    "connected_components: rows * thresholds");
  const T* x = cdata<T>(signal);
  const int64_t* rs = cdata<int64_t>(row_start);
  const int64_t* rl = cdata<int64_t>(row_len);
  const double* thr = cdata<double>(thresholds);
  int64_t* off = offsets.mutable_data();
  {
    py::gil_scoped_release nogil;
    cpu::cc_count<T>(x, rs, rl, N, thr, M, opt, off);
  }
  const int64_t K = off[N * M];
  const char* what = "connected_components: the runs found";
  auto row = new_array<int64_t>({K}, what), tix = new_array<int64_t>({K}, what);
  auto start = new_array<int64_t>({K}, what), end = new_array<int64_t>({K}, what);
  {
    int64_t *a = row.mutable_data(), *b = tix.mutable_data(), *c = start.mutable_data(), *d = end.mutable_data();
    py::gil_scoped_release nogil;
    cpu::cc_fill<T>(x, rs, rl, N, thr, M, opt, off, a, b, c, d);
  }
  return py::make_tuple(row, tix, start, end, offsets);
}

// The launchers index meta[2P + 2] with P = n_rows * n_thresholds and rows up to max_len.
[[maybe_unused]] void check_cuda_sizes(int64_t signal_size, int64_t max_len, int64_t n_rows, int64_t n_thresholds,
                                       int64_t min_len) {
  check_at_least(signal_size, 0, "signal_size");
  check_at_least(max_len, 0, "max_len");
  check_at_least(n_rows, 0, "n_rows");
  check_at_least(n_thresholds, 0, "n_thresholds");
  check_at_least(min_len, 1, "min_len");
  checked_mul(checked_mul(n_rows, n_thresholds, "connected_components: rows * thresholds"), 2,
              "connected_components: rows * thresholds");
}

}  // namespace

void bind_connected_components(py::module_& m) {
  m.def(
      "connected_components",
      [](const py::array& signal, const py::array& row_start, const py::array& row_len, const py::array& thresholds,
         int64_t min_len, bool drop_index0_only_runs, int num_threads) {
        check_rows(row_start, row_len, signal.size());
        check_array<double>(thresholds, "thresholds", 1);
        if (min_len < 1) throw py::value_error("min_len must be >= 1, got " + std::to_string(min_len));
        cpu::CCOptions opt;
        opt.min_len = min_len;
        opt.drop_index0_only_runs = drop_index0_only_runs;
        opt.num_threads = num_threads;
        if (py::dtype::of<float>().is(signal.dtype())) {
          check_array<float>(signal, "signal", 1);
          return cc_cpu<float>(signal, row_start, row_len, thresholds, opt);
        }
        check_array<double>(signal, "signal", 1);
        return cc_cpu<double>(signal, row_start, row_len, thresholds, opt);
      },
      py::arg("signal"), py::arg("row_start"), py::arg("lengths"), py::arg("thresholds"), py::arg("min_len") = 1,
      py::arg("drop_index0_only_runs") = false, py::arg("num_threads") = 0,
      "Runs of signal > threshold for every (row, threshold): (row, threshold_index, start, end, offsets).\n"
      "signal is flat; row n is signal[row_start[n] : row_start[n] + lengths[n]]. offsets[p] (p = n*M + m)\n"
      "is the first output index of pair p.");

#ifdef WTAL_WITH_CUDA
  m.def(
      "connected_components_cuda_temp_bytes",
      [](int64_t num_pairs) {
        check_at_least(num_pairs, 0, "num_pairs");
        return cuda::connected_components_temp_bytes(num_pairs);
      },
      py::arg("num_pairs"));
  m.def(
      "connected_components_cuda_count",
      [](bool is_double, std::uintptr_t signal, int64_t signal_size, int64_t max_len, std::uintptr_t row_start,
         std::uintptr_t row_len, int64_t n_rows, std::uintptr_t thresholds, int64_t n_thresholds, int64_t min_len,
         bool drop0, std::uintptr_t meta, std::uintptr_t temp, int64_t temp_bytes, std::uintptr_t stream, int device) {
        check_cuda_sizes(signal_size, max_len, n_rows, n_thresholds, min_len);
        if (temp_bytes < cuda::connected_components_temp_bytes(n_rows * n_thresholds)) {
          throw py::value_error("connected_components: temp_bytes is smaller than connected_components_cuda_temp_bytes");
        }
        py::gil_scoped_release nogil;
        cuda::connected_components_count(is_double, signal, signal_size, max_len, row_start, row_len, n_rows,
                                         thresholds, n_thresholds, min_len, drop0, meta, temp, temp_bytes, stream,
                                         device);
      },
      py::arg("is_double"), py::arg("signal"), py::arg("signal_size"), py::arg("max_len"), py::arg("row_start"),
      py::arg("lengths"),
      py::arg("n_rows"), py::arg("thresholds"), py::arg("n_thresholds"), py::arg("min_len"),
      py::arg("drop_index0_only_runs"), py::arg("meta"), py::arg("temp"), py::arg("temp_bytes"), py::arg("stream"),
      py::arg("device"));
  m.def(
      "connected_components_cuda_fill",
      [](bool is_double, std::uintptr_t signal, std::uintptr_t row_start, std::uintptr_t row_len, int64_t n_rows,
         std::uintptr_t thresholds, int64_t n_thresholds, int64_t min_len, bool drop0, std::uintptr_t meta,
         std::uintptr_t row, std::uintptr_t tix, std::uintptr_t start, std::uintptr_t end, std::uintptr_t stream,
         int device) {
        check_cuda_sizes(0, 0, n_rows, n_thresholds, min_len);
        py::gil_scoped_release nogil;
        cuda::connected_components_fill(is_double, signal, row_start, row_len, n_rows, thresholds, n_thresholds,
                                        min_len, drop0, meta, row, tix, start, end, stream, device);
      },
      py::arg("is_double"), py::arg("signal"), py::arg("row_start"), py::arg("lengths"), py::arg("n_rows"),
      py::arg("thresholds"), py::arg("n_thresholds"), py::arg("min_len"), py::arg("drop_index0_only_runs"),
      py::arg("meta"), py::arg("row"), py::arg("threshold_index"), py::arg("start"), py::arg("end"),
      py::arg("stream"), py::arg("device"));
#else
  m.def("connected_components_cuda_temp_bytes", [](int64_t) -> int64_t { throw_no_cuda("connected_components"); });
  m.def("connected_components_cuda_count", [](py::args, py::kwargs) { throw_no_cuda("connected_components"); });
  m.def("connected_components_cuda_fill", [](py::args, py::kwargs) { throw_no_cuda("connected_components"); });
#endif
}

}  // namespace wtal::bind
