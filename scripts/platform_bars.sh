#!/usr/bin/env bash
# Re-runs the measured bars of the model platform (issue 9), from the repository root:
#   scripts/platform_bars.sh [BASELINE_METRICS.json]
# 1. the contract over the registry (and its checks failing on broken toys), incl. accumulation;
# 2. two-stream run == single-stream runs, fused localize == two-stream run;
# 3. trainer accumulation == one batch; 4. single-video localize == dataset run; 5. resume safety;
# 6. `wtal demo` (and --quick) metrics on the CPU, compared with BASELINE_METRICS.json when given
#    (e.g. a metrics.json of the demo before the platform change), else printed;
# 7. HAM-Net literals in wtal/ outside the model's own files.
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

$PY -m pytest -q -p no:cacheprovider tests/test_model_contract.py tests/test_two_stream.py tests/test_train_steps.py \
    tests/test_infer.py \
    "tests/test_trainer.py::test_resume_hint_works_as_printed_and_a_changed_config_is_an_error" \
    "tests/test_trainer.py::test_resume_is_exact"

$PY -m wtal.cli demo --no-progress --device cpu --out-dir "$OUT/full" > "$OUT/full.log"
$PY -m wtal.cli demo --quick --no-progress --device cpu --out-dir "$OUT/quick" > "$OUT/quick.log"
$PY - "$OUT" "${1:-}" <<'PYEOF'
import json, sys
out, baseline = sys.argv[1], sys.argv[2]
for name in ("full", "quick"):
    m = json.load(open(f"{out}/{name}/metrics.json"))
    print(f"wtal demo{' --quick' if name == 'quick' else ''}: average mAP {m['average_mAP']!r}")
if baseline:
    b = json.load(open(baseline))
    m = json.load(open(f"{out}/{'quick' if b.get('quick') else 'full'}/metrics.json"))
    same = all(m[k] == b[k] for k in ("tiou", "mAP", "average_mAP", "ap"))
    print(f"identical to {baseline}: {same}")
    sys.exit(0 if same else 1)
PYEOF

echo "HAM-Net literals in wtal/ outside wtal/models/hamnet*, wtal/configs/hamnet_* and wtal/localize/hamnet.py:"
grep -rn -i "hamnet\|ham-net" wtal/ --include=*.py | grep -v -e "^wtal/models/hamnet" -e "^wtal/localize/hamnet.py" || true
