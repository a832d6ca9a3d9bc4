#!/usr/bin/env bash
# Everything that needs a GPU (for the `device` machine: no network, torch with CUDA preinstalled).
# Builds with CUDA required for the local GPU, runs the CUDA tests (GPU vs CPU paths), then the GPU
# benchmarks. Results land in ${OUT:-out}/ (junit XML + pytest-benchmark JSON + logs).
#   bash scripts/gpu_check.sh                 # all stages
#   bash scripts/gpu_check.sh build           # one stage: build | test | bench (the device runs at most
#   bash scripts/gpu_check.sh test bench      # 10 minutes per command; a warm machine keeps the install)
#   WTAL_GPU_BENCH_FILES="bench_localize" bash scripts/gpu_check.sh bench
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out"
stages=${*:-build test bench}

for stage in $stages; do
  case $stage in
    build)
      nvidia-smi | tee "$out/nvidia-smi.txt"
      WTAL_CUDA=ON WTAL_CUDA_ARCHS=${WTAL_CUDA_ARCHS:-native} pip install --no-build-isolation --no-deps . \
        > "$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
      (cd tests && python -c "import wtal, wtal.ops; print(wtal.build_info(), wtal.cuda_status(), wtal.ops.cuda_available())") \
        | tee "$out/build_info.txt"
      ;;
    test)
      # CUDA correctness (GPU vs CPU path), then the whole suite on this machine.
      (cd tests && python -m pytest -q -p no:cacheprovider -m cuda --junitxml="../$out/cuda_tests.xml" . 2>&1 \
        | tee "../$out/cuda_tests.log" | tail -30)
      (cd tests && python -m pytest -q -p no:cacheprovider -x . 2>&1 | tail -5 | tee "../$out/all_tests.log")
      ;;
    bench)
      # wtal CUDA vs wtal CPU vs baselines, one run per file (ratios are within a run); not
      # --benchmark-only, so the ratio reports (plain tests, run with -s) print too.
      for f in ${WTAL_GPU_BENCH_FILES:-bench_localize bench_pool bench_nms bench_proposals bench_train}; do
        [ -f "benchmarks/$f.py" ] || continue
        (cd benchmarks && timeout "${WTAL_GPU_BENCH_TIMEOUT:-280}" python -m pytest -q -p no:cacheprovider "$f.py" -s \
           --benchmark-json="../$out/$f.json" ${WTAL_BENCH_ARGS:-}) 2>&1 | tee "$out/$f.log" | tail -40
      done
      ;;
    *) echo "unknown stage: $stage (build | test | bench)"; exit 2 ;;
  esac
done
