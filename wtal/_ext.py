"""Access to the compiled module ``wtal._C`` with a clear message when it is missing."""
from __future__ import annotations

from typing import Any

try:
    from wtal import _C  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "wtal's compiled module wtal._C could not be imported. Install the package with "
        "`pip install .` (or `scripts/dev_build.sh` for a source checkout). Original error: " + str(exc)
    ) from exc

cuda_compiled: bool = bool(_C.cuda_compiled)


def build_info() -> dict[str, Any]:
    """Compiler, C++ standard, CUDA version and architectures of this build."""
    return dict(_C.build_info())


def cuda_status() -> str:
    """``"ok"`` when CUDA kernels are built and a device is usable, else the reason."""
    return str(_C.cuda_status())
