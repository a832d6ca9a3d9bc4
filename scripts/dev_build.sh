#!/usr/bin/env bash
# Developer build without pip: configure + build wtal._C into build/dev and copy it into wtal/,
# so `PYTHONPATH=$PWD python -m pytest` uses the source tree. Needs pybind11 in the active Python.
# WTAL_CUDA=OFF|AUTO|ON and WTAL_CUDA_ARCHS are honoured (default here: AUTO with archs 90).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python}
bdir=${WTAL_BUILD_DIR:-build/dev}
if [ ! -f "$bdir/build.ninja" ]; then
  cmake -S . -B "$bdir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$(command -v "$py")" \
    -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
    -DWTAL_CUDA="${WTAL_CUDA:-AUTO}" -DWTAL_CUDA_ARCHS="${WTAL_CUDA_ARCHS:-90}" >/dev/null
fi
cmake --build "$bdir" -j "${JOBS:-2}"
cp -f "$bdir"/_C*.so wtal/
echo "built $(ls wtal/_C*.so)"
