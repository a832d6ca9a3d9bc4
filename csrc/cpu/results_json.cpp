#include "cpu/results_json.h"

#include <cmath>
#include <cstring>
#include <limits>

#include <algorithm>
#include <charconv>
#if !(defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L)
#include <locale.h>
#include <stdlib.h>
#if defined(__APPLE__)
#include <xlocale.h>
#endif
#endif

namespace wtal::cpu::results_json {

namespace {

struct Fail {};  // malformed JSON or anything else json.loads must decide

inline bool is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
inline int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict UTF-8 (what bytes.decode("utf-8") accepts, minus the encoded surrogates that json.loads'
// "surrogatepass" decoding would also take: those documents go to json.loads).
bool valid_utf8(const unsigned char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + need >= n) return false;  // truncated sequence
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k <= need; ++k)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return false;
    i += need + 1;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  // Lone surrogates are written as three bytes, as Python's "surrogatepass" encoder does.
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t hex4(const char* p) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v = (v << 4) | static_cast<uint32_t>(hex_value(static_cast<unsigned char>(p[k])));
  return v;
}

// Unescapes the (already validated) content of a JSON string as json.scanstring does: a high
// surrogate escape followed by a low surrogate escape is one code point, any other surrogate stays.
void unescape(const char* s, size_t len, std::string& out) {
  out.clear();
  const char* e = s + len;
  while (s < e) {
    if (*s != '\\') {
      out.push_back(*s++);
      continue;
    }
    char x = s[1];
    s += 2;
    switch (x) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      default: {  // 'u'
        uint32_t cp = hex4(s);
        s += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
          uint32_t lo = hex4(s + 2);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + (((cp - 0xD800) << 10) | (lo - 0xDC00));
            s += 6;
          }
        }
        append_utf8(out, cp);
      }
    }
  }
}

#if !(defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L)
// No floating-point std::from_chars: strtod in the "C" locale (correctly rounded in glibc and MSVC).
double c_strtod(const char* p, size_t len) {
  std::string buf(p, len);
#if defined(_WIN32)
  static _locale_t loc = _create_locale(LC_NUMERIC, "C");
  return _strtod_l(buf.c_str(), nullptr, loc);
#else
  static locale_t loc = newlocale(LC_NUMERIC_MASK, "C", static_cast<locale_t>(0));
  return strtod_l(buf.c_str(), nullptr, loc);
#endif
}
#endif

class Parser {
 public:
  Parser(const char* data, size_t n, Tape& tape, RowColumns& rows)
      : p_(data), e_(data + n), base_(data), tape_(tape), rows_(rows) {}

  void run() {
    skip_ws();
    value<true>(0);
    skip_ws();
    if (p_ != e_) throw Fail{};  // "Extra data"
  }

 private:
  const char* p_;
  const char* e_;
  const char* base_;
  Tape& tape_;
  RowColumns& rows_;
  std::string scratch_;

  void skip_ws() {
    while (p_ < e_ && is_ws(static_cast<unsigned char>(*p_))) ++p_;
  }

  bool at(char c) const { return p_ < e_ && *p_ == c; }

  bool literal(const char* word, size_t len) {
    if (static_cast<size_t>(e_ - p_) < len || std::memcmp(p_, word, len) != 0) return false;
    p_ += len;
    return true;
  }

  // p_ at '"'. Leaves p_ after the closing quote; [s, s + len) is the raw content.
  void scan_string(const char*& s, size_t& len, bool& escaped) {
    ++p_;
    s = p_;
    escaped = false;
    for (;;) {
      while (p_ < e_) {
        unsigned char c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++p_;
      }
      if (p_ >= e_) throw Fail{};  // unterminated
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        len = static_cast<size_t>(p_ - s);
        ++p_;
        return;
      }
      if (c < 0x20) throw Fail{};  // control character (json's strict mode)
      escaped = true;
      if (e_ - p_ < 2) throw Fail{};
      char x = p_[1];
      if (x == 'u') {
        if (e_ - p_ < 6) throw Fail{};
        for (int k = 2; k < 6; ++k)
          if (hex_value(static_cast<unsigned char>(p_[k])) < 0) throw Fail{};
        p_ += 6;
      } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' ||
                 x == 't') {
        p_ += 2;
      } else {
        throw Fail{};
      }
    }
  }

  // The longest prefix matching json's NUMBER_RE -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?; p_ at '-' or
  // a digit. Returns false (p_ unchanged) when not even "-?digit" matches.
  bool scan_number(const char*& s, size_t& len, bool& is_int) {
    const char* q = p_;
    s = q;
    if (q < e_ && *q == '-') ++q;
    if (q >= e_ || !is_digit(static_cast<unsigned char>(*q))) return false;
    if (*q == '0') {
      ++q;
    } else {
      while (q < e_ && is_digit(static_cast<unsigned char>(*q))) ++q;
    }
    is_int = true;
    if (q + 1 < e_ && *q == '.' && is_digit(static_cast<unsigned char>(q[1]))) {
      q += 2;
      while (q < e_ && is_digit(static_cast<unsigned char>(*q))) ++q;
      is_int = false;
    }
    if (q < e_ && (*q == 'e' || *q == 'E')) {
      const char* r = q + 1;
      if (r < e_ && (*r == '+' || *r == '-')) ++r;
      if (r < e_ && is_digit(static_cast<unsigned char>(*r))) {
        while (r < e_ && is_digit(static_cast<unsigned char>(*r))) ++r;
        q = r;
        is_int = false;
      }
    }
    len = static_cast<size_t>(q - s);
    p_ = q;
    return true;
  }

  // NaN, Infinity, -Infinity (json.loads' parse_constant). p_ at 'N', 'I' or '-'.
  bool constant(double& out) {
    if (literal("NaN", 3)) {
      out = std::numeric_limits<double>::quiet_NaN();
      return true;
    }
    if (literal("Infinity", 8)) {
      out = std::numeric_limits<double>::infinity();
      return true;
    }
    if (literal("-Infinity", 9)) {
      out = -std::numeric_limits<double>::infinity();
      return true;
    }
    return false;
  }

  // A number that Python's float() of the json value accepts; false otherwise (p_ unspecified).
  bool number(double& out) {
    if (p_ >= e_) return false;
    char c = *p_;
    if (c == 'N' || c == 'I' || (c == '-' && p_ + 1 < e_ && p_[1] == 'I')) return constant(out);
    if (c != '-' && !is_digit(static_cast<unsigned char>(c))) return false;
    const char* s;
    size_t len;
    bool is_int;
    if (!scan_number(s, len, is_int)) return false;
    return number_to_double(s, len, is_int, out);
  }

  Node& push(uint8_t kind, uint32_t len, uint64_t pos, uint8_t in_arena = 0) {
    tape_.nodes.push_back(Node{kind, in_arena, len, pos});
    return tape_.nodes.back();
  }

  void push_string(const char* s, size_t len, bool escaped) {
    if (len > 0xFFFFFFFFu) throw Fail{};
    if (!escaped) {
      push(kString, static_cast<uint32_t>(len), static_cast<uint64_t>(s - base_));
      return;
    }
    unescape(s, len, scratch_);
    uint64_t off = tape_.arena.size();
    tape_.arena += scratch_;
    push(kString, static_cast<uint32_t>(scratch_.size()), off, 1);
  }

  template <bool kBuild>
  void value(int depth) {
    if (depth >= kMaxDepth || p_ >= e_) throw Fail{};  // at most kMaxDepth nested containers
    char c = *p_;
    switch (c) {
      case '{': object<kBuild>(depth); return;
      case '[': array<kBuild>(depth); return;
      case '"': {
        const char* s;
        size_t len;
        bool escaped;
        scan_string(s, len, escaped);
        if (kBuild) push_string(s, len, escaped);
        return;
      }
      case 't':
        if (!literal("true", 4)) throw Fail{};
        if (kBuild) push(kTrue, 0, 0);
        return;
      case 'f':
        if (!literal("false", 5)) throw Fail{};
        if (kBuild) push(kFalse, 0, 0);
        return;
      case 'n':
        if (!literal("null", 4)) throw Fail{};
        if (kBuild) push(kNull, 0, 0);
        return;
      case 'N':
      case 'I': {
        double v;
        if (!constant(v)) throw Fail{};
        if (kBuild) push_float(v);
        return;
      }
      default: break;
    }
    if (c == '-' && p_ + 1 < e_ && p_[1] == 'I') {
      double v;
      if (!constant(v)) throw Fail{};
      if (kBuild) push_float(v);
      return;
    }
    const char* s;
    size_t len;
    bool is_int;
    if (!scan_number(s, len, is_int)) throw Fail{};
    if (!kBuild) return;
    if (is_int) {
      if (len > 0xFFFFFFFFu) throw Fail{};
      push(kInt, static_cast<uint32_t>(len), static_cast<uint64_t>(s - base_));
    } else {
      double v;
      number_to_double(s, len, false, v);
      push_float(v);
    }
  }

  void push_float(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    push(kFloat, 0, bits);
  }

  template <bool kBuild>
  void object(int depth) {
    ++p_;  // '{'
    size_t self = tape_.nodes.size();
    if (kBuild) push(kObject, 0, 0);
    uint64_t pairs = 0;
    skip_ws();
    if (at('}')) {
      ++p_;
      return;
    }
    for (;;) {
      if (!at('"')) throw Fail{};
      const char* s;
      size_t len;
      bool escaped;
      scan_string(s, len, escaped);
      if (kBuild) push_string(s, len, escaped);
      skip_ws();
      if (!at(':')) throw Fail{};
      ++p_;
      skip_ws();
      value<kBuild>(depth + 1);
      ++pairs;
      skip_ws();
      if (at(',')) {
        ++p_;
        skip_ws();
        continue;
      }
      if (at('}')) {
        ++p_;
        break;
      }
      throw Fail{};
    }
    if (kBuild) {
      if (pairs > 0xFFFFFFFFu) throw Fail{};
      tape_.nodes[self].len = static_cast<uint32_t>(pairs);
    }
  }

  template <bool kBuild>
  void array(int depth) {
    if (kBuild) {
      const char* q = p_ + 1;
      while (q < e_ && is_ws(static_cast<unsigned char>(*q))) ++q;
      if (q < e_ && *q == '{' && rows(depth)) return;
    }
    ++p_;  // '['
    size_t self = tape_.nodes.size();
    if (kBuild) push(kArray, 0, 0);
    uint64_t count = 0;
    skip_ws();
    if (at(']')) {
      ++p_;
      return;
    }
    for (;;) {
      value<kBuild>(depth + 1);
      ++count;
      skip_ws();
      if (at(',')) {
        ++p_;
        skip_ws();
        continue;
      }
      if (at(']')) {
        ++p_;
        break;
      }
      throw Fail{};
    }
    if (kBuild) {
      if (count > 0xFFFFFFFFu) throw Fail{};
      tape_.nodes[self].len = static_cast<uint32_t>(count);
    }
  }

  // ---- row arrays --------------------------------------------------------------------------------
  // Every "return false" below means "not a row array": the caller rewinds and parses it as JSON, and
  // that parse is the only judge of syntax, so nothing here needs to tell bad JSON from a bad row.

  bool label(int32_t& id) {
    if (p_ >= e_) return false;
    if (*p_ == '"') {
      const char* s;
      size_t len;
      bool escaped;
      scan_string(s, len, escaped);
      std::string_view key(s, len);
      if (escaped) {
        unescape(s, len, scratch_);
        key = scratch_;
      }
      auto it = rows_.string_ids.find(key);
      if (it != rows_.string_ids.end()) {
        id = it->second;
        return true;
      }
      if (rows_.labels.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) return false;
      id = static_cast<int32_t>(rows_.labels.size());
      rows_.labels.push_back(Label{false, 0, std::string(key)});
      rows_.string_ids.emplace(std::string_view(rows_.labels.back().text), id);
      return true;
    }
    const char* s;
    size_t len;
    bool is_int;
    if (!(*p_ == '-' || is_digit(static_cast<unsigned char>(*p_))) || !scan_number(s, len, is_int) || !is_int)
      return false;
    int64_t v;
    auto r = std::from_chars(s, s + len, v);
    if (r.ec != std::errc() || r.ptr != s + len) return false;  // beyond int64: json's own ints
    auto it = rows_.int_ids.find(v);
    if (it != rows_.int_ids.end()) {
      id = it->second;
      return true;
    }
    if (rows_.labels.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) return false;
    id = static_cast<int32_t>(rows_.labels.size());
    rows_.labels.push_back(Label{true, v, std::string()});
    rows_.int_ids.emplace(v, id);
    return true;
  }

  bool segment(double& s0, double& s1) {
    if (!at('[')) return false;
    ++p_;
    skip_ws();
    if (!number(s0)) return false;
    skip_ws();
    if (!at(',')) return false;
    ++p_;
    skip_ws();
    if (!number(s1)) return false;
    skip_ws();
    if (!at(']')) return false;
    ++p_;
    return true;
  }

  enum Key { kOther, kSegment, kLabel, kScore };

  Key key_of(const char* s, size_t len, bool escaped) {
    std::string_view k(s, len);
    if (escaped) {
      unescape(s, len, scratch_);
      k = scratch_;
    }
    if (k == "segment") return kSegment;
    if (k == "label") return kLabel;
    if (k == "score") return kScore;
    return kOther;
  }

  void rollback(size_t row0, size_t labels0) {
    rows_.t_start.resize(row0);
    rows_.t_end.resize(row0);
    rows_.score.resize(row0);
    rows_.label.resize(row0);
    while (rows_.labels.size() > labels0) {
      const Label& l = rows_.labels.back();
      if (l.is_int) {
        rows_.int_ids.erase(l.value);
      } else {
        rows_.string_ids.erase(std::string_view(l.text));
      }
      rows_.labels.pop_back();
    }
  }

  bool rows(int depth) {
    const char* start = p_;
    const size_t row0 = rows_.t_start.size();
    const size_t labels0 = rows_.labels.size();
    bool first = true, want_score = false;
    ++p_;  // '['
    for (;;) {
      skip_ws();
      if (!at('{')) return abort_rows(start, row0, labels0);
      ++p_;
      bool has_segment = false, has_label = false, has_score = false;
      double s0 = 0, s1 = 0, sc = std::numeric_limits<double>::quiet_NaN();
      int32_t lab = -1;
      skip_ws();
      if (!at('"')) return abort_rows(start, row0, labels0);  // {} or bad JSON
      for (;;) {
        if (!at('"')) return abort_rows(start, row0, labels0);
        const char* s;
        size_t len;
        bool escaped;
        scan_string(s, len, escaped);
        Key k = key_of(s, len, escaped);
        skip_ws();
        if (!at(':')) return abort_rows(start, row0, labels0);
        ++p_;
        skip_ws();
        bool ok = true;
        switch (k) {
          case kSegment: ok = segment(s0, s1); has_segment = ok; break;
          case kLabel: ok = label(lab); has_label = ok; break;
          case kScore: ok = number(sc); has_score = ok; break;
          default: value<false>(depth + 2);
        }
        if (!ok) return abort_rows(start, row0, labels0);
        skip_ws();
        if (at(',')) {
          ++p_;
          skip_ws();
          continue;
        }
        if (at('}')) {
          ++p_;
          break;
        }
        return abort_rows(start, row0, labels0);
      }
      if (!has_segment || !has_label) return abort_rows(start, row0, labels0);
      if (first) {
        want_score = has_score;
        first = false;
      } else if (has_score != want_score) {
        return abort_rows(start, row0, labels0);
      }
      rows_.t_start.push_back(s0);
      rows_.t_end.push_back(s1);
      rows_.score.push_back(has_score ? sc : std::numeric_limits<double>::quiet_NaN());
      rows_.label.push_back(lab);
      skip_ws();
      if (at(',')) {
        ++p_;
        continue;
      }
      if (at(']')) {
        ++p_;
        break;
      }
      return abort_rows(start, row0, labels0);
    }
    rows_.chunks.push_back(Chunk{static_cast<int64_t>(row0), static_cast<int64_t>(rows_.t_start.size() - row0),
                                 want_score});
    push(kRows, 0, rows_.chunks.size() - 1);
    return true;
  }

  bool abort_rows(const char* start, size_t row0, size_t labels0) {
    rollback(row0, labels0);
    p_ = start;
    return false;
  }
};

}  // namespace

bool number_to_double(const char* p, size_t len, bool is_int, double& out) {
#if defined(__cpp_lib_to_chars) && __cpp_lib_to_chars >= 201611L
  double v = 0;
  auto r = std::from_chars(p, p + len, v);
  if (r.ec == std::errc()) {
    out = (is_int && v == 0) ? 0.0 : v;  // float(int("-0")) is +0.0
    return true;
  }
  if (is_int) return false;  // float(huge int) raises OverflowError
  // Out of range: +-inf for overflow (float("1e400")), +-0.0 for underflow (float("1e-400")).
  // Decide by the decimal order of magnitude: digits before the first nonzero one, plus the exponent.
  const bool neg = p[0] == '-';
  const char* q = p + (neg ? 1 : 0);
  const char* end = p + len;
  int64_t int_digits = 0, lead_zeros = 0;
  bool seen_nonzero = false;
  for (; q < end && is_digit(static_cast<unsigned char>(*q)); ++q) {
    ++int_digits;
    if (*q != '0') seen_nonzero = true;
    else if (!seen_nonzero) ++lead_zeros;
  }
  int64_t frac_zeros = 0;
  if (q < end && *q == '.') {
    for (++q; q < end && is_digit(static_cast<unsigned char>(*q)); ++q) {
      if (*q != '0') seen_nonzero = true;
      else if (!seen_nonzero) ++frac_zeros;
    }
  }
  int64_t exp10 = 0;
  if (q < end && (*q == 'e' || *q == 'E')) {
    ++q;
    bool eneg = false;
    if (*q == '+' || *q == '-') eneg = *q++ == '-';
    for (; q < end; ++q) exp10 = std::min<int64_t>(exp10 * 10 + (*q - '0'), int64_t(1) << 40);
    if (eneg) exp10 = -exp10;
  }
  const int64_t order = (int_digits > lead_zeros ? int_digits - lead_zeros : -frac_zeros) + exp10;
  const double mag = (seen_nonzero && order > 0) ? std::numeric_limits<double>::infinity() : 0.0;
  out = neg ? -mag : mag;
  return true;
#else
  double v = c_strtod(p, len);
  if (is_int) {
    if (std::isinf(v)) return false;
    if (v == 0) v = 0.0;
  }
  out = v;
  return true;
#endif
}

Status parse_results_json(const char* data, size_t n, Tape& tape, RowColumns& rows) {
  // json.loads(bytes) decodes with detect_encoding(): a UTF-8 BOM is skipped; UTF-16/32 (NUL bytes
  // or their BOMs, never valid here) end in the fallback through the checks below.
  size_t skip = (n >= 3 && static_cast<unsigned char>(data[0]) == 0xEF &&
                 static_cast<unsigned char>(data[1]) == 0xBB && static_cast<unsigned char>(data[2]) == 0xBF)
                    ? 3
                    : 0;
  if (!valid_utf8(reinterpret_cast<const unsigned char*>(data) + skip, n - skip)) return Status::fallback;
  const size_t guess = (n - skip) / 48 + 16;  // ~70-100 bytes per prediction; untouched pages cost no RSS
  rows.t_start.reserve(guess);
  rows.t_end.reserve(guess);
  rows.score.reserve(guess);
  rows.label.reserve(guess);
  tape.nodes.reserve(1024);
  try {
    Parser(data + skip, n - skip, tape, rows).run();
  } catch (const Fail&) {
    return Status::fallback;
  }
  if (skip) {
    for (Node& node : tape.nodes)
      if ((node.kind == kString && !node.in_arena) || node.kind == kInt) node.pos += skip;
  }
  return Status::ok;
}

}  // namespace wtal::cpu::results_json
