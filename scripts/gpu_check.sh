#!/usr/bin/env bash
# Everything that needs a GPU, in one command (for the `device` machine: no network, torch with CUDA
# preinstalled). Builds with CUDA required for the local GPU, runs the CUDA tests (GPU vs CPU paths),
# then the GPU benchmarks. Results land in ${OUT:-out}/ (junit XML + pytest-benchmark JSON + logs).
#   bash scripts/gpu_check.sh            # build + CUDA tests + GPU benchmarks
#   WTAL_GPU_BENCH=0 bash scripts/gpu_check.sh   # skip the benchmarks
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
nvidia-smi | tee "$out/nvidia-smi.txt"
WTAL_CUDA=ON WTAL_CUDA_ARCHS=${WTAL_CUDA_ARCHS:-native} pip install --no-build-isolation --no-deps . \
  > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
cd tests
python -c "import wtal, wtal.ops; print(wtal.build_info(), wtal.cuda_status(), wtal.ops.cuda_available())" | tee "$out/build_info.txt"
# 1. CUDA correctness (GPU vs CPU path), then the whole suite on this machine.
python -m pytest -q -p no:cacheprovider -m cuda --junitxml="$out/cuda_tests.xml" . 2>&1 | tee "$out/cuda_tests.log" | tail -30
python -m pytest -q -p no:cacheprovider -x . 2>&1 | tail -5 | tee "$out/all_tests.log"
cd ..
[ "${WTAL_GPU_BENCH:-1}" = "0" ] && exit 0
# 2. GPU benchmarks: wtal CUDA vs wtal CPU vs baselines, one run per file (ratios are within a run).
for f in bench_pool bench_localize bench_proposals bench_nms bench_train; do
  [ -f "benchmarks/$f.py" ] || continue
  (cd benchmarks && timeout 900 python -m pytest -q -p no:cacheprovider "$f.py" -s --benchmark-only \
     --benchmark-json="../$out/$f.json" ${WTAL_BENCH_ARGS:-}) 2>&1 | tee "$out/$f.log" | tail -40
done
