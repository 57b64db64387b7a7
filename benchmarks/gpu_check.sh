#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU and no internet:
#
#   benchmarks/gpu_check.sh            (from any directory)
#
# 1. installs the wheels of the project's ignored .whl/ folder (copied there beforehand, on the
#    machine with the shared folder, by ../shared/device/prepare.sh; see ../shared/device/README.md),
# 2. checks that pycuda reaches the GPU,
# 3. runs the tests marked `cuda` (every GPU case against numpy, device arrays, timing),
# 4. benchmarks matmul_gpu at 1024, 2048, 4096 float32 against torch.matmul (cuBLAS, TF32 off),
#    printing one JSON line per size; a wrong result stops it.
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f .whl/install.sh ]; then
  echo "gpu_check: .whl/install.sh is missing; run ../shared/device/prepare.sh in the project root" >&2
  exit 2
fi
set +u  # the installer reads unset variables
# shellcheck source=/dev/null
. .whl/install.sh || { echo "gpu_check: installing the wheels from .whl/ failed" >&2; exit 2; }
set -u

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "from backends.cuda.runtime import driver, device_arch; driver(); print('gpu_check: device', device_arch())"

# hypothesis is not among the wheels; the test modules that need it hold no cuda tests
ignore=()
if ! python3 -c "import hypothesis" 2>/dev/null; then
  while IFS= read -r module; do ignore+=("--ignore=$module"); done \
    < <(grep -rlE "^(import|from) hypothesis" tests --include='*.py')
fi
python3 -m pytest -m cuda -q -rs -p no:cacheprovider tests ${ignore[@]+"${ignore[@]}"}

python3 benchmarks/matmul_gpu.py --json --sizes 1024,2048,4096
