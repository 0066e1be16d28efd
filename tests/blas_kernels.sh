#!/usr/bin/env bash
# Run the test suite once under each OpenBLAS kernel that users' CPUs pick, so that a
# result depending on the kernel's summation order fails here and not on their machine.
#   bash tests/blas_kernels.sh [pytest options]
# OPENBLAS_CORETYPE must be set before NumPy loads, hence one pytest run per kernel. The
# x86-64 kernels: Prescott (SSE3), Sandybridge (AVX), Haswell (AVX2), Zen, and SkylakeX
# (AVX-512) where the CPU has it. A machine that sets OPENBLAS_CORETYPE itself keeps its
# own setting for the plain `python -m pytest` run; this script only adds the others.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -m)" != x86_64 ]; then
    echo "not an x86-64 CPU: the x86-64 OpenBLAS kernels do not apply"
    exit 0
fi
kernels="Prescott Sandybridge Haswell Zen"
grep -q avx512f /proc/cpuinfo && kernels="$kernels SkylakeX"
for kernel in $kernels; do
    echo "== OPENBLAS_CORETYPE=$kernel"
    OPENBLAS_CORETYPE=$kernel python -m pytest "$@"
done
