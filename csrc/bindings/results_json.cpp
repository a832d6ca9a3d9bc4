// wtal._C.parse_results_json: ActivityNet results / ground-truth JSON -> (document skeleton, row columns).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings.h"
#include "bindings/common.h"
#include "cpu/results_json.h"

namespace wtal::bind {

namespace rj = wtal::cpu::results_json;

namespace {

// A numpy array that owns the vector's buffer (no copy of the columns).
template <typename T>
py::array_t<T> take(std::vector<T>&& v) {
  auto* heap = new std::vector<T>(std::move(v));
  py::capsule owner(heap, [](void* q) { delete static_cast<std::vector<T>*>(q); });
  return py::array_t<T>({static_cast<py::ssize_t>(heap->size())}, {static_cast<py::ssize_t>(sizeof(T))},
                        heap->data(), owner);
}

// Builds the Python objects of the tape, as json.loads would have built them (new references).
struct Builder {
  const rj::Tape& tape;
  const char* base;
  const rj::RowColumns& rows;
  PyObject* rows_factory;
  size_t i = 0;

  PyObject* integer(const char* s, size_t len) {
    if (len <= 18) {  // fits a long long whatever the digits
      bool neg = s[0] == '-';
      long long v = 0;
      for (size_t k = neg ? 1 : 0; k < len; ++k) v = v * 10 + (s[k] - '0');
      return PyLong_FromLongLong(neg ? -v : v);
    }
    // json's own conversion: exact, and sys.get_int_max_str_digits() raises the same ValueError
    std::string buf(s, len);
    return PyLong_FromString(buf.c_str(), nullptr, 10);
  }

  PyObject* build() {
    const rj::Node& nd = tape.nodes[i++];
    switch (nd.kind) {
      case rj::kObject: {
        PyObject* d = PyDict_New();
        if (!d) return nullptr;
        for (uint32_t k = 0; k < nd.len; ++k) {
          PyObject* key = build();
          if (!key) {
            Py_DECREF(d);
            return nullptr;
          }
          PyObject* val = build();
          if (!val) {
            Py_DECREF(key);
            Py_DECREF(d);
            return nullptr;
          }
          int rc = PyDict_SetItem(d, key, val);  // a repeated key keeps its place, last value wins
          Py_DECREF(key);
          Py_DECREF(val);
          if (rc < 0) {
            Py_DECREF(d);
            return nullptr;
          }
        }
        return d;
      }
      case rj::kArray: {
        PyObject* l = PyList_New(static_cast<Py_ssize_t>(nd.len));
        if (!l) return nullptr;
        for (uint32_t k = 0; k < nd.len; ++k) {
          PyObject* v = build();
          if (!v) {
            Py_DECREF(l);
            return nullptr;
          }
          PyList_SET_ITEM(l, k, v);
        }
        return l;
      }
      case rj::kString: {
        const char* s = nd.in_arena ? tape.arena.data() + nd.pos : base + nd.pos;
        return PyUnicode_DecodeUTF8(s, static_cast<Py_ssize_t>(nd.len), "surrogatepass");
      }
      case rj::kInt: return integer(base + nd.pos, nd.len);
      case rj::kFloat: {
        double v;
        std::memcpy(&v, &nd.pos, 8);
        return PyFloat_FromDouble(v);
      }
      case rj::kTrue: Py_INCREF(Py_True); return Py_True;
      case rj::kFalse: Py_INCREF(Py_False); return Py_False;
      case rj::kNull: Py_INCREF(Py_None); return Py_None;
      case rj::kRows: {
        const rj::Chunk& c = rows.chunks[nd.pos];
        return PyObject_CallFunction(rows_factory, "LLO", static_cast<long long>(c.start),
                                     static_cast<long long>(c.count), c.has_score ? Py_True : Py_False);
      }
      default: PyErr_SetString(PyExc_RuntimeError, "parse_results_json: corrupt tape"); return nullptr;
    }
  }
};

py::object parse_results_json(const py::buffer& data, const py::object& rows_factory) {
  py::buffer_info info = data.request();
  if (info.ndim != 1 || info.itemsize != 1 || (info.ndim == 1 && info.strides[0] != 1)) {
    throw py::type_error("parse_results_json: data must be a contiguous bytes-like object");
  }
  const char* p = static_cast<const char*>(info.ptr);
  const size_t n = static_cast<size_t>(info.size);
  rj::Tape tape;
  rj::RowColumns rows;
  rj::Status status;
  {
    py::gil_scoped_release nogil;
    status = rj::parse_results_json(p, n, tape, rows);
  }
  if (status != rj::Status::ok) return py::none();
  Builder b{tape, p, rows, rows_factory.ptr()};
  PyObject* tree = b.build();
  if (!tree) throw py::error_already_set();
  py::object doc = py::reinterpret_steal<py::object>(tree);
  py::list labels;
  for (const rj::Label& l : rows.labels) {
    PyObject* o = l.is_int ? PyLong_FromLongLong(l.value)
                           : PyUnicode_DecodeUTF8(l.text.data(), static_cast<Py_ssize_t>(l.text.size()),
                                                  "surrogatepass");
    if (!o) throw py::error_already_set();
    labels.append(py::reinterpret_steal<py::object>(o));
  }
  py::dict cols;
  cols["t_start"] = take(std::move(rows.t_start));
  cols["t_end"] = take(std::move(rows.t_end));
  cols["score"] = take(std::move(rows.score));
  cols["label"] = take(std::move(rows.label));
  return py::make_tuple(doc, cols, labels);
}

}  // namespace

void bind_results_json(py::module_& m) {
  m.def("parse_results_json", &parse_results_json, py::arg("data"), py::arg("rows_factory"),
        "Parse ActivityNet results / ground-truth JSON bytes. Returns None where json.loads must decide "
        "(malformed JSON, not strict UTF-8, nesting deeper than 200), else (document, columns, labels): "
        "the document as json.loads builds it except that arrays of prediction/annotation objects are "
        "replaced by rows_factory(start, count, has_score); columns holds t_start, t_end, score (float64; "
        "NaN without score) and label (int32 index into labels, the distinct str/int labels).");
}

}  // namespace wtal::bind
