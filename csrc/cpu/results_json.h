// ActivityNet results / ground-truth JSON read straight into columns (no Python object per row).
//
// parse_results_json() accepts exactly the documents Python's json.loads accepts (RFC 8259 plus the
// NaN / Infinity / -Infinity tokens, duplicate keys allowed) and writes them to a Tape: a pre-order
// list of nodes from which the binding builds the Python objects of the document's skeleton (the top
// level object, the {video: ...} mappings, small values). Every array whose elements all look like
// predictions or annotations -- objects with "segment" = [number, number], "label" = string or int64
// and, in all elements or in none, "score" = number -- is not expanded: its rows go to RowColumns and
// the tape holds one kRows node. An array that does not fit (a string score, a segment of three
// numbers, a missing key, a number out of range ...) is parsed as plain JSON instead, so the Python
// loader sees exactly what json.loads would have given it and reports problems with its own messages.
//
// Numbers are read as Python reads them: integers exactly (the tape keeps their text) and converted
// to float64 with correct rounding (float(int): -0 is +0.0, out of range is an error); other numbers
// correctly rounded (float(str): overflow is +-inf, underflow +-0.0). Strings are unescaped as json
// does (surrogate pairs joined, lone surrogates kept, encoded "surrogatepass").
//
// Anything this parser does not handle itself gives Status::fallback, and the caller parses the file
// with json.loads instead (which then reports the error): malformed JSON, text that is not strict
// UTF-8 (json.loads also decodes UTF-16/32 and UTF-8-encoded surrogates), nesting deeper than
// kMaxDepth (json.loads raises RecursionError at its own depth).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wtal::cpu::results_json {

enum Kind : uint8_t { kObject, kArray, kString, kInt, kFloat, kTrue, kFalse, kNull, kRows };

// One tape node. Containers are followed by their children (objects: key, value, key, value ...).
struct Node {
  uint8_t kind;
  uint8_t in_arena;  // kString: bytes live in Tape::arena (unescaped) instead of the input
  uint32_t len;      // kString / kInt: byte length; kObject: pairs; kArray: elements
  uint64_t pos;      // kString / kInt: byte offset; kFloat: the double's bits; kRows: chunk index
};

struct Chunk {
  int64_t start;  // first row in RowColumns
  int64_t count;
  bool has_score;
};

// A distinct label: a string (UTF-8, surrogatepass) or an integer.
struct Label {
  bool is_int;
  int64_t value;
  std::string text;
};

struct RowColumns {
  std::vector<double> t_start, t_end, score;  // score: NaN in chunks without "score"
  std::vector<int32_t> label;                 // index into labels
  std::vector<Chunk> chunks;
  std::deque<Label> labels;                   // deque: string_view keys below point into it
  std::unordered_map<std::string_view, int32_t> string_ids;
  std::unordered_map<int64_t, int32_t> int_ids;
};

struct Tape {
  std::vector<Node> nodes;
  std::string arena;
};

enum class Status { ok, fallback };

constexpr int kMaxDepth = 200;

// Parses data[0, n). On Status::fallback the tape and columns are unspecified.
Status parse_results_json(const char* data, size_t n, Tape& tape, RowColumns& rows);

// Python's float() of a JSON number token (already known to match the JSON number grammar).
// Returns false for an integer token out of float64 range (Python raises OverflowError there).
bool number_to_double(const char* p, size_t len, bool is_int, double& out);

}  // namespace wtal::cpu::results_json
