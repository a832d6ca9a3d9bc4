#include "bindings.h"
#include "bindings/common.h"

#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "cpu/detection_map.h"

namespace wtal::bind {

namespace {

py::object detection_map(const py::array& gt_video, const py::array& gt_label,
                         const py::array& gt_start, const py::array& gt_end,
                         const py::array& pred_video, const py::array& pred_label,
                         const py::array& pred_start, const py::array& pred_end,
                         const py::array& pred_score, const py::object& order,
                         const py::array& thresholds, int64_t num_classes, int64_t num_videos,
                         const std::string& match, bool candidate_ties_later_first,
                         const std::string& ap_kind, bool discrete, bool nan_score_first,
                         bool score_ties_later_first, int num_threads, bool wide_indices,
                         const py::object& candidate_orders, bool return_candidate_ties,
                         bool return_matches) {
  check_array<int64_t>(gt_video, "gt_video", 1);
  check_array<int64_t>(gt_label, "gt_label", 1);
  check_array<double>(gt_start, "gt_start", 1);
  check_array<double>(gt_end, "gt_end", 1);
  const py::ssize_t G = gt_video.shape(0);
  check_dim(gt_label, "gt_label", 0, G, "length");
  check_dim(gt_start, "gt_start", 0, G, "length");
  check_dim(gt_end, "gt_end", 0, G, "length");
  check_array<int64_t>(pred_video, "pred_video", 1);
  check_array<int64_t>(pred_label, "pred_label", 1);
  check_array<double>(pred_start, "pred_start", 1);
  check_array<double>(pred_end, "pred_end", 1);
  check_array<double>(pred_score, "pred_score", 1);
  const py::ssize_t N = pred_video.shape(0);
  check_dim(pred_label, "pred_label", 0, N, "length");
  check_dim(pred_start, "pred_start", 0, N, "length");
  check_dim(pred_end, "pred_end", 0, N, "length");
  check_dim(pred_score, "pred_score", 0, N, "length");
  check_array<double>(thresholds, "thresholds", 1);
  const std::optional<py::array> order_arr = optional_array(order, "order");
  const int64_t* order_ptr = nullptr;
  if (order_arr) {
    check_array<int64_t>(*order_arr, "order", 1);
    check_dim(*order_arr, "order", 0, N, "length");
    order_ptr = cdata<int64_t>(*order_arr);
  }
  cpu::DetectionMapOptions opt;
  if (match == "best") opt.match = cpu::MatchRule::kBestIoU;
  else if (match == "first") opt.match = cpu::MatchRule::kFirstFit;
  else throw py::value_error("match must be 'best' or 'first', got '" + match + "'");
  if (ap_kind == "interpolated") opt.ap = cpu::APKind::kInterpolated;
  else if (ap_kind == "noninterpolated") opt.ap = cpu::APKind::kNonInterpolated;
  else throw py::value_error("ap must be 'interpolated' or 'noninterpolated', got '" + ap_kind + "'");
  opt.candidate_ties_later_first = candidate_ties_later_first;
  opt.discrete = discrete;
  opt.nan_score_first = nan_score_first;
  opt.score_ties_later_first = score_ties_later_first;
  opt.num_threads = num_threads;
  opt.wide_indices = wide_indices;
  check_at_least(num_classes, 0, "num_classes");
  check_at_least(num_videos, 0, "num_videos");
  // Every evaluated class needs a GT row, so more classes than rows is an error found before the
  // [T, num_classes] output is allocated.
  if (num_classes > G) {
    throw py::value_error("num_classes = " + std::to_string(num_classes) + " exceeds the " + std::to_string(G) +
                          " ground-truth rows; every evaluated class needs at least one");
  }

  cpu::DetectionMapExtras ex;
  py::array ov_rows, ov_offsets, ov_order;
  if (!candidate_orders.is_none()) {
    if (!py::isinstance<py::tuple>(candidate_orders)) {
      throw py::type_error("candidate_orders must be None or a tuple (rows, offsets, order) of int64 arrays, got " +
                           std::string(py::str(py::type::of(candidate_orders).attr("__name__"))));
    }
    if (py::len(candidate_orders) != 3) {
      throw py::value_error("candidate_orders must be a tuple (rows, offsets, order), got a tuple of length " +
                            std::to_string(py::len(candidate_orders)));
    }
    const auto t = py::reinterpret_borrow<py::tuple>(candidate_orders);
    auto part = [&](int i, const char* name) {
      if (!py::isinstance<py::array>(t[i])) {
        throw py::type_error(std::string(name) + " must be a numpy array, got " +
                             std::string(py::str(py::type::of(t[i]).attr("__name__"))));
      }
      const auto a = py::reinterpret_borrow<py::array>(t[i]);
      check_array<int64_t>(a, name, 1);
      return a;
    };
    ov_rows = part(0, "candidate_orders rows");
    ov_offsets = part(1, "candidate_orders offsets");
    ov_order = part(2, "candidate_orders order");
    check_dim(ov_offsets, "candidate_orders offsets", 0, ov_rows.shape(0) + 1, "len(rows) + 1");
    const int64_t* off = cdata<int64_t>(ov_offsets);
    if (off[ov_rows.shape(0)] != ov_order.shape(0)) {
      throw py::value_error("candidate_orders offsets must end at len(order) = " + std::to_string(ov_order.shape(0)) +
                            ", got " + std::to_string(off[ov_rows.shape(0)]));
    }
    ex.num_overrides = ov_rows.shape(0);
    ex.override_rows = cdata<int64_t>(ov_rows);
    ex.override_offsets = off;
    ex.override_order = cdata<int64_t>(ov_order);
  }
  std::vector<int64_t> ties;
  if (return_candidate_ties) ex.tie_rows = &ties;
  const py::ssize_t T = thresholds.shape(0);
  auto matched = return_matches ? new_array<int64_t>({T, N}, "detection_map: return_matches thresholds * predictions")
                                : py::array_t<int64_t>();
  if (return_matches) ex.matched_gt = matched.mutable_data();
  auto ap = new_array<double>({T, num_classes}, "detection_map: thresholds * num_classes");
  double* out = ap.mutable_data();
  {
    py::gil_scoped_release release;
    try {
      cpu::detection_map(G, cdata<int64_t>(gt_video), cdata<int64_t>(gt_label), cdata<double>(gt_start),
                         cdata<double>(gt_end), N, cdata<int64_t>(pred_video), cdata<int64_t>(pred_label),
                         cdata<double>(pred_start), cdata<double>(pred_end), cdata<double>(pred_score),
                         order_ptr, T, cdata<double>(thresholds), num_classes, num_videos, opt, out, &ex);
    } catch (const std::invalid_argument& e) {
      py::gil_scoped_acquire acquire;
      throw py::value_error(e.what());
    }
  }
  if (!return_candidate_ties && !return_matches) return std::move(ap);
  py::object ties_obj = py::none();
  if (return_candidate_ties) {
    py::array_t<int64_t> rows(static_cast<py::ssize_t>(ties.size()));
    if (!ties.empty()) std::memcpy(rows.mutable_data(), ties.data(), ties.size() * sizeof(int64_t));
    ties_obj = std::move(rows);
  }
  py::object matched_obj = return_matches ? py::object(std::move(matched)) : py::none();
  return py::make_tuple(std::move(ap), ties_obj, matched_obj);
}

// Codes of the distinct values of a 1-D array, numbered in order of first appearance, and the index of
// each value's first appearance. Object arrays are keyed by object identity (callers map the few
// distinct objects through a dict, so equal-but-distinct objects still get the same final id);
// other dtypes by their raw bytes. Replaces a per-element Python dict lookup (~250 ns each).
std::pair<py::array_t<int64_t>, py::array_t<int64_t>> factorize(const py::array& a) {
  if (a.ndim() != 1) throw py::value_error("factorize: a must be 1-D, got shape " + shape_str(a));
  if (!(a.flags() & py::array::c_style)) throw py::value_error("factorize: a must be C-contiguous");
  const py::ssize_t n = a.shape(0);
  py::array_t<int64_t> codes(n);
  int64_t* out = codes.mutable_data();
  std::vector<int64_t> first;
  if (a.dtype().kind() == 'O') {
    // Open-addressing table keyed by object pointer; most columns hold a few thousand distinct objects
    // and consecutive rows often repeat one (results grouped by video).
    PyObject* const* p = static_cast<PyObject* const*>(a.data());
    size_t cap = 1024;
    std::vector<std::pair<PyObject*, int64_t>> table(cap, {nullptr, -1});
    auto slot_of = [&](PyObject* o, size_t mask) {
      size_t h = (reinterpret_cast<uintptr_t>(o) >> 4) * 0x9E3779B97F4A7C15ULL;
      h = (h >> 32) & mask;
      while (table[h].first != nullptr && table[h].first != o) h = (h + 1) & mask;
      return h;
    };
    PyObject* prev = nullptr;
    int64_t prev_id = -1;
    for (py::ssize_t i = 0; i < n; ++i) {
      PyObject* o = p[i];
      if (o == prev) {
        out[i] = prev_id;
        continue;
      }
      size_t h = slot_of(o, cap - 1);
      if (table[h].first == nullptr) {
        table[h] = {o, static_cast<int64_t>(first.size())};
        first.push_back(i);
        if (2 * first.size() > cap) {  // keep the load factor below 1/2
          std::vector<std::pair<PyObject*, int64_t>> old(std::move(table));
          cap *= 2;
          table.assign(cap, {nullptr, -1});
          for (const auto& kv : old) {
            if (kv.first) table[slot_of(kv.first, cap - 1)] = kv;
          }
          h = slot_of(o, cap - 1);
        }
      }
      prev = o;
      prev_id = out[i] = table[h].second;
    }
  } else {
    const char* base = static_cast<const char*>(a.data());
    const size_t w = static_cast<size_t>(a.itemsize());
    py::gil_scoped_release release;
    std::unordered_map<std::string_view, int64_t> ids;
    for (py::ssize_t i = 0; i < n; ++i) {
      auto it = ids.try_emplace(std::string_view(base + i * w, w), static_cast<int64_t>(first.size()));
      if (it.second) first.push_back(i);
      out[i] = it.first->second;
    }
  }
  py::array_t<int64_t> first_arr(static_cast<py::ssize_t>(first.size()));
  if (!first.empty()) std::memcpy(first_arr.mutable_data(), first.data(), first.size() * sizeof(int64_t));
  return {codes, first_arr};
}

}  // namespace

void bind_detection_map(py::module_& m) {
  m.def("detection_map", &detection_map, py::arg("gt_video"), py::arg("gt_label"), py::arg("gt_start"),
        py::arg("gt_end"), py::arg("pred_video"), py::arg("pred_label"), py::arg("pred_start"),
        py::arg("pred_end"), py::arg("pred_score"), py::arg("order"), py::arg("thresholds"),
        py::arg("num_classes"), py::arg("num_videos"), py::arg("match") = "best",
        py::arg("candidate_ties_later_first") = true, py::arg("ap") = "interpolated",
        py::arg("discrete") = false, py::arg("nan_score_first") = true,
        py::arg("score_ties_later_first") = true, py::arg("num_threads") = 0, py::arg("wide_indices") = false,
        py::arg("candidate_orders") = py::none(), py::arg("return_candidate_ties") = false,
        py::arg("return_matches") = false,
        "Average precision [T, C] of encoded detections (see csrc/cpu/detection_map.h). Inputs are "
        "int64 ids and float64 times/scores, 1-D and C-contiguous; order is None or an int64 "
        "permutation giving the per-class ranking. wide_indices (tests) forces the 64-bit index path. "
        "candidate_orders: None or a tuple (rows, offsets, order) of 1-D int64 arrays, explicit GT "
        "candidate orders of some predictions (best-IoU rule). With return_candidate_ties or "
        "return_matches the result is (ap, tie_rows int64 [S] | None, matched_gt int64 [T, N] | None): "
        "the rows whose candidates hold equal tIoU that pass a threshold, and the GT row each prediction "
        "matched per threshold (-1: none).");
  m.def("factorize", &factorize, py::arg("a"),
        "(codes int64 [N], first int64 [K]): ids of the distinct values of a 1-D C-contiguous array in "
        "order of first appearance (object arrays: by identity; others: by raw bytes).");
  m.def("pairwise_sum", [](const py::array& a) {
    check_array<double>(a, "a", 1);
    return cpu::pairwise_sum(cdata<double>(a), a.shape(0));
  }, py::arg("a"), "numpy's pairwise summation (np.sum) of a 1-D float64 array; exposed for tests.");
}

}  // namespace wtal::bind
