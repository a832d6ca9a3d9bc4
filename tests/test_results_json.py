"""wtal._C.parse_results_json (the C++ reader of results / ground-truth JSON) against json.loads.

The reader must accept exactly what json.loads accepts (or hand the file back to it), build the same
document, and put every conforming prediction/annotation array into columns whose numbers are
Python's float() of json's values, bit for bit. The loaders on top of it must give the same columns
and the same error messages as the plain-Python path (``load_predictions(json.load(f))``).
"""
from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wtal._ext import _C
from wtal.eval.io import _Rows, load_ground_truth, load_predictions


def parse(text: str | bytes):
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _C.parse_results_json(data, _Rows)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(ref, got, cols, labels) -> None:
    """got (the reader's document) equals ref (json.loads), with _Rows expanded from the columns."""
    if type(got) is _Rows:
        assert type(ref) is list and len(ref) == got.count
        for k, row in enumerate(ref):
            i = got.start + k
            seg = row["segment"]
            assert bits(cols["t_start"][i]) == bits(float(seg[0])) and bits(cols["t_end"][i]) == bits(float(seg[1]))
            lab = labels[cols["label"][i]]
            assert type(lab) is type(row["label"]) and lab == row["label"]
            if got.has_score:
                assert bits(cols["score"][i]) == bits(float(row["score"]))
            else:
                assert "score" not in row and math.isnan(cols["score"][i])
        return
    assert type(got) is type(ref), (ref, got)
    if isinstance(ref, dict):
        assert list(ref) == list(got)
        for k in ref:
            same(ref[k], got[k], cols, labels)
    elif isinstance(ref, list):
        assert len(ref) == len(got)
        for a, b in zip(ref, got):
            same(a, b, cols, labels)
    elif isinstance(ref, float):
        assert bits(ref) == bits(got) or (math.isnan(ref) and math.isnan(got))
    else:
        assert ref == got


def check_document(text: str | bytes, deep: bool = False) -> None:
    """``deep``: nested deeper than the reader goes (200), where json.loads decides."""
    try:
        ref = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        assert parse(text) is None  # json.loads decides (and reports) malformed files
        return
    out = parse(text)
    if out is None:  # allowed only where json.loads decodes more than strict UTF-8, or nesting is deep
        if deep:
            return
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return
        pytest.fail("valid strict-UTF-8 document handed back to json.loads")
    same(ref, out[0], out[1], out[2])


# ------------------------------------------------------------------------------------------------
# documents with duplicate keys, arbitrary whitespace and escapes: objects are lists of pairs


def dump(node, ws: str, ascii_: bool) -> str:
    if isinstance(node, tuple) and node and node[0] == "obj":
        return "{" + ",".join(f"{ws}{json.dumps(k, ensure_ascii=ascii_)}{ws}:{ws}{dump(v, ws, ascii_)}"
                              for k, v in node[1]) + ws + "}"
    if isinstance(node, list):
        return "[" + ",".join(ws + dump(v, ws, ascii_) for v in node) + ws + "]"
    if isinstance(node, tuple) and node[0] == "raw":
        return node[1]
    return json.dumps(node, ensure_ascii=ascii_)


KEYS = st.sampled_from(["segment", "label", "score", "results", "database", "annotations", "x", "s\u00e9gment"]) | \
    st.text(max_size=5)
TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff", "\ud83d"]), max_size=6)
NUMBER_TOKENS = st.sampled_from([
    "0", "-0", "-0.0", "0.0", "1e400", "-1e400", "1e-400", "-1e-400", "4.9406564584124654e-324",
    "2.4703282292062327e-324", "2.4703282292062328e-324", "2.2250738585072011e-308", "2.2250738585072014e-308",
    "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "9007199254740993",
    "9007199254740993.0", "-9007199254740995", "18446744073709551617", "123456789012345678901234567890",
    "0.30000000000000001665334536937734810635447502136230468750000001", "1E+2", "1e-0", "100e-2", "-1.5e10",
    "0.1", "1e23", "8.98846567431158e307", "5e-324", "1" + "0" * 308, "1" + "0" * 309, "NaN", "Infinity",
    "-Infinity", "0.000000000000000000000000000000000000001", "7.2057594037927933e16", "1e22", "1e-22",
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096"
    "330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730"
    "270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791",
])


@st.composite
def random_number_token(draw) -> str:
    sign = draw(st.sampled_from(["", "-"]))
    intpart = draw(st.sampled_from(["0"]) | st.from_regex(r"[1-9][0-9]{0,25}", fullmatch=True))
    frac = draw(st.sampled_from([""]) | st.from_regex(r"\.[0-9]{1,30}", fullmatch=True))
    exp = draw(st.sampled_from([""]) | st.from_regex(r"[eE][-+]?[0-9]{1,3}", fullmatch=True))
    return sign + intpart + frac + exp


NUMBERS = NUMBER_TOKENS | random_number_token() | st.floats().map(repr).filter(lambda s: s not in ("nan", "inf", "-inf"))
NUMBER = NUMBERS.map(lambda t: ("raw", t))
LABEL = TEXT | st.integers(-(2 ** 65), 2 ** 65) | st.sampled_from(["a", "b", "Ünï", "\\\"q"])


def row(with_score: bool):
    """A prediction (or annotation) object with extra keys, its keys in random order."""
    base = st.tuples(st.lists(NUMBER, min_size=2, max_size=2), LABEL, NUMBER,
                     st.lists(st.tuples(KEYS, SCALAR), max_size=2), st.randoms(use_true_random=False))

    def build(t):
        seg, lab, sc, extra, rnd = t
        items = [("segment", seg), ("label", lab)] + ([("score", sc)] if with_score else []) + extra
        rnd.shuffle(items)
        return ("obj", items)

    return base.map(build)


SCALAR = st.none() | st.booleans() | NUMBER | TEXT
VALUES = st.recursive(
    SCALAR,
    lambda ch: st.lists(ch, max_size=4) | st.lists(st.tuples(KEYS, ch), max_size=4).map(lambda p: ("obj", p))
    | st.lists(row(True), min_size=1, max_size=4) | st.lists(row(False), min_size=1, max_size=3)
    | st.lists(row(True) | ch, min_size=1, max_size=3),
    max_leaves=24,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=VALUES, ws=st.sampled_from(["", " ", "\n", " \t\r\n "]), ascii_=st.booleans())
def test_documents_equal_json_loads(doc, ws, ascii_):
    check_document(dump(doc, ws, ascii_))


@settings(max_examples=150, deadline=None)
@given(tok=NUMBERS)
@example(tok="-0")
@example(tok="1" + "0" * 309)
def test_numbers_in_rows_are_pythons_float(tok):
    text = f'[{{"segment": [{tok}, {tok}], "label": "a", "score": {tok}}}]'
    ref = json.loads(text)[0]["score"]
    out = parse(text)
    try:
        want = float(ref)
    except OverflowError:  # float(huge int) raises: the array stays JSON so the loader reports it
        assert type(out[0]) is list and out[0][0]["score"] == ref
        return
    assert type(out[0]) is _Rows
    for key in ("t_start", "t_end", "score"):
        assert bits(out[1][key][0]) == bits(want) or (math.isnan(want) and math.isnan(out[1][key][0])), (tok, key)


@settings(max_examples=150, deadline=None)
@given(tok=NUMBERS)
def test_numbers_elsewhere_are_json_values(tok):
    check_document(f'{{"x": [{tok}, {{"y": {tok}}}], "z": {tok}}}')


@given(s=TEXT, ascii_=st.booleans())
@example(s="\ud83d\ude00\ud800x\udc00", ascii_=True)
def test_strings_and_labels_with_escapes(s, ascii_):
    enc = json.dumps(s, ensure_ascii=ascii_)
    check_document(f'{{{enc}: [{{"label": {enc}, "segment": [0, 1]}}], "k": {enc}}}')


def test_surrogate_escapes_as_json():
    # high+low escapes join; a lone or reversed one stays; labels equal as json sees them
    text = r'[{"label": "\ud83d\ude00", "segment": [0, 1]}, {"label": "\ude00\ud83d", "segment": [0, 1]},' \
           r' {"label": "\ud83dA", "segment": [0, 1]}, {"label": "\u00e9", "segment": [0, 1]},' \
           r' {"label": "é", "segment": [0, 1]}]'
    check_document(text)
    doc, cols, labels = parse(text)
    assert labels == ["\U0001F600", "\ude00\ud83d", "\ud83dA", "é"] and cols["label"].tolist() == [0, 1, 2, 3, 3]


def test_duplicate_keys_last_wins():
    text = ('{"results": {"a": [{"label": "x", "score": 1, "score": 2, "segment": [0, 1]}], "b": [], '
            '"a": [{"label": "y", "segment": [5, 6], "score": 3, "segment": [7, 8]}]}, "results2": 1}')
    check_document(text)
    pred = load_predictions(json.loads(text))
    assert pred["video"].tolist() == ["a"] and pred["t_start"].tolist() == [7.0] and pred["label"].tolist() == ["y"]


def test_conforming_arrays_become_rows():
    doc, cols, labels = parse('{"r": [{"segment": [1, 2.5], "label": 3, "score": NaN, "other": {"deep": [1, []]}},'
                              ' {"label": -4, "score": -Infinity, "segment": [-0, 1e400]}]}')
    r = doc["r"]
    assert type(r) is _Rows and (r.start, r.count, r.has_score) == (0, 2, True)
    assert labels == [3, -4] and cols["t_start"].tolist() == [1.0, 0.0] and math.copysign(1, cols["t_start"][1]) == 1
    assert cols["t_end"][1] == math.inf and math.isnan(cols["score"][0]) and cols["score"][1] == -math.inf
    # not rows: a string number, three numbers, a float label, a missing label, mixed score presence
    for bad in ['[{"segment": ["1", 2], "label": "a"}]', '[{"segment": [1, 2, 3], "label": "a"}]',
                '[{"segment": [1, 2], "label": 1.5}]', '[{"segment": [1, 2]}]',
                '[{"segment": [1, 2], "label": "a", "score": 1}, {"segment": [1, 2], "label": "a"}]',
                '[{"segment": [1, 2], "label": "a", "score": true}]', '[{"segment": [1, 2], "label": 99999999999999999999}]']:
        out = parse(bad)
        assert type(out[0]) is list and out[0] == json.loads(bad), bad
        assert len(out[1]["t_start"]) == 0 and out[2] == []  # rolled back


MALFORMED = ['', ' ', '{', '[1,]', '{"a": 1,}', '{"a" 1}', "{'a': 1}", '[01]', '[1.]', '[.5]', '[+1]', '[1e]',
             '["\\q"]', '["\\u12"]', '["a\x01"]', '{"a": 1}x', '[NaN, -NaN]', '[nul]', '[tru]', '"abc',
             '{"results": {"v": [{"label": "a", "score": 0.5, "segment": [0, 1]}, {"label": "a", "sco',
             '[1] [2]', '[' * 300 + ']' * 299, '{"a": [' * 150 + ']}' * 149 + "]"]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_documents_go_to_json_loads(text):
    check_document(text)


@pytest.mark.parametrize("depth", [150, 199, 200, 201, 300, 5000])
def test_deep_nesting(depth):
    check_document("[" * depth + "]" * depth, deep=depth > 200)
    assert (parse("[" * depth + "]" * depth) is None) == (depth > 200)


@pytest.mark.parametrize("data", [b'\xef\xbb\xbf{"a": [1]}', '{"a": "\u00e9"}'.encode("utf-16"),
                                  b'{"a": "\xed\xa0\x80"}', b'{"a": "\xff"}', b'{"a": "\xc3"}', b'{"a": 1}\x00',
                                  b'\x00{}'])
def test_encodings(data):
    check_document(data)


@settings(max_examples=200, deadline=None)
@given(doc=VALUES, cut=st.floats(0, 1), flip=st.integers(0, 255), where=st.floats(0, 1))
def test_truncated_and_mutated_documents(doc, cut, flip, where):
    text = dump(doc, " ", True).encode()
    check_document(text[: int(len(text) * cut)])
    if text:
        i = min(int(len(text) * where), len(text) - 1)
        check_document(text[:i] + bytes([flip]) + text[i + 1:])


def test_huge_integer_digit_limit_is_jsons():
    text = '{"x": ' + "1" * 5000 + "}"
    with pytest.raises(ValueError) as ref:
        json.loads(text)
    with pytest.raises(ValueError) as got:
        parse(text)
    assert str(got.value) == str(ref.value)


# ------------------------------------------------------------------------------------------------
# the loaders: file (C++ reader) vs parsed dict (plain Python), same columns or same message

def outcome(fn, arg, path):
    """Columns, or (exception type, message with the file / argument name replaced by NAME)."""
    try:
        cols = fn(arg)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        for name in (str(path), "predictions", "ground truth"):
            if msg.startswith(name):
                msg = "NAME" + msg[len(name):]
                break
        return type(exc).__name__, msg
    return {k: (v.tolist() if v.dtype == object else v.tobytes()) for k, v in cols.items()}


PRED_ROW = row(True) | row(False) | SCALAR | st.lists(st.tuples(KEYS, SCALAR), max_size=3).map(lambda p: ("obj", p))
RESULTS = st.lists(st.tuples(TEXT | st.sampled_from(["v1", "v2"]),
                             st.lists(row(True), max_size=4) | st.lists(PRED_ROW, max_size=3) | SCALAR),
                   max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(results=RESULTS, extra=st.lists(st.tuples(KEYS, SCALAR), max_size=2))
def test_load_predictions_file_equals_dict_path(tmp_path, results, extra):
    text = dump(("obj", [("version", "x"), ("results", ("obj", results))] + extra), " ", False)
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        return
    assert outcome(load_predictions, path, path) == outcome(load_predictions, doc, path)


ANN = row(False) | row(True) | SCALAR
DATABASE = st.lists(st.tuples(TEXT | st.sampled_from(["v1", "v2"]),
                              st.tuples(st.sampled_from(["validation", "training", None]),
                                        st.lists(row(False), max_size=3) | st.lists(ANN, max_size=3) | SCALAR)
                              .map(lambda t: ("obj", ([("subset", t[0])] if t[0] else []) + [("annotations", t[1])]))),
                    max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(db=DATABASE, subset=st.sampled_from([None, "validation"]))
def test_load_ground_truth_file_equals_dict_path(tmp_path, db, subset):
    text = dump(("obj", [("database", ("obj", db))]), "", True)
    path = tmp_path / "gt.json"
    path.write_text(text)
    doc = json.loads(text)

    def load(x):
        return load_ground_truth(x, subset=subset)

    assert outcome(load, path, path) == outcome(load, doc, path)


def test_mixed_label_kinds_message_equals_dict_path(tmp_path):
    text = json.dumps({"results": {"v": [{"label": "a", "score": 1, "segment": [0, 1]}],
                                   "w": [{"label": "b", "score": 1, "segment": [0, 1]},
                                         {"label": 3, "score": 1, "segment": [0, 1]}]}})
    path = tmp_path / "r.json"
    path.write_text(text)
    assert type(parse(text)[0]["results"]["w"]) is _Rows
    got = outcome(load_predictions, path, path)
    assert got == outcome(load_predictions, json.loads(text), path)
    assert got[0] == "ValueError" and "mix strings and integers" in got[1]


def test_large_file_columns_equal_plain_parse(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    cols = {"video": rng.choice([f"v{i}" for i in range(50)], n), "t_start": rng.uniform(0, 100, n),
            "label": rng.choice(["a", "b", "c"], n), "score": rng.random(n)}
    cols["t_end"] = cols["t_start"] + rng.uniform(0, 10, n)
    from wtal.eval.io import write_results

    write_results(tmp_path / "r.json", cols)
    fast = load_predictions(tmp_path / "r.json")
    slow = load_predictions(json.loads((tmp_path / "r.json").read_text()))
    for k in slow:
        assert fast[k].dtype == slow[k].dtype
        assert (fast[k].tolist() == slow[k].tolist()) if fast[k].dtype == object else fast[k].tobytes() == slow[k].tobytes()


# ------------------------------------------------------------------------------------------------
# wtal eval: every bad results file gives the same one line (exit 2) with the reader as without it

_GT = json.dumps({"database": {"v": {"subset": "validation", "annotations": [{"label": "a", "segment": [0, 10]}]}}})
_OK = '{"label": "a", "score": 0.9, "segment": [0, 10]}'
BAD_RESULTS = {
    "nan_score": ('{"results": {"v": [%s, {"label": "a", "score": NaN, "segment": [0, 1]}]}}' % _OK, "NaN at row 1"),
    "reversed": ('{"results": {"v": [{"label": "a", "score": 0.5, "segment": [3, 1]}]}}', "reversed segment"),
    "unknown_label": ('{"results": {"v": [%s, {"label": "zzz", "score": 0.5, "segment": [0, 1]}]}}' % _OK, "'zzz'"),
    "missing_score": ('{"results": {"v": [{"label": "a", "segment": [0, 1]}]}}', 'missing key "score"'),
    "missing_label": ('{"results": {"v": [%s, {"score": 0.5, "segment": [0, 1]}]}}' % _OK, 'missing key "label"'),
    "missing_segment": ('{"results": {"w": [], "v": [%s, {"label": "a", "score": 1}]}}' % _OK,
                        'prediction 1: missing key "segment"'),
    "truncated": ('{"results": {"v": [%s, {"label": "a", "sco' % _OK, "malformed JSON"),
    "string_score": ('{"results": {"v": [%s, {"label": "a", "score": "high", "segment": [0, 1]}]}}' % _OK, "'high'"),
    "three_numbers": ('{"results": {"v": [%s, {"label": "a", "score": 0.5, "segment": [0, 1, 2]}]}}' % _OK,
                      "got 3 values [0, 1, 2]"),
    "bool_score": ('{"results": {"v": [%s, {"label": "a", "score": true, "segment": [0, 1]}]}}' % _OK, "boolean True"),
    "huge_int": ('{"results": {"v": [{"label": "a", "score": 1%s, "segment": [0, 1]}]}}' % ("0" * 400), "out of float64"),
    "mixed_labels": ('{"results": {"v": [%s, {"label": 3, "score": 0.5, "segment": [0, 1]}]}}' % _OK, "mix strings"),
}

_CLI = """
import sys, wtal.cli, wtal.eval.io as io
if %(old)r:  # the reader before issue 12: json.loads, no row store
    io._read_json_rows = lambda p: (io.read_json(p), None)
sys.exit(wtal.cli.main(["eval", "--gt", %(gt)r, "--pred", %(pred)r, "--tiou", "0.5"]))
"""


@pytest.mark.parametrize("case", sorted(BAD_RESULTS))
def test_cli_bad_results_same_line_with_and_without_reader(tmp_path, case):
    import subprocess
    import sys

    text, needle = BAD_RESULTS[case]
    (tmp_path / "gt.json").write_text(_GT)
    (tmp_path / f"{case}.json").write_text(text)
    lines = []
    for old in (False, True):
        code = _CLI % {"old": old, "gt": str(tmp_path / "gt.json"), "pred": str(tmp_path / f"{case}.json")}
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 2, (old, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("wtal eval: error: "), proc.stderr
        assert f"{case}.json" in proc.stderr and needle in proc.stderr, proc.stderr
        lines.append(proc.stderr)
    assert lines[0] == lines[1]
