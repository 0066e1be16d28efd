#!/usr/bin/env bash
# Run the numerical tests once under each OpenBLAS kernel that users' CPUs may pick, so that
# a result depending on the kernel's summation order fails here and not on their machine.
#   bash tests/blas_kernels.sh [pytest options]
# OPENBLAS_CORETYPE must be set before NumPy loads, hence one pytest run per kernel. The
# x86-64 kernels: Prescott (SSE3), Nehalem (SSE4.2), Sandybridge (AVX), Haswell (AVX2), Zen,
# and SkylakeX (AVX-512) where the CPU has it. An OpenBLAS build may serve several names with
# the same code (Zen with Haswell's, for one): threadpoolctl (a dependency of imagelab)
# reports the kernel that a name loads, and each kernel runs once. The kernel the machine
# picks by itself is left to the plain `python -m pytest` run.
# Only the tests of numerical code run here: the command lines, figures, files and downloads
# do not depend on the kernel. A new test file of numerical code joins NUMERICAL.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(uname -m)" != x86_64 ]; then
    echo "not an x86-64 CPU: the x86-64 OpenBLAS kernels do not apply"
    exit 0
fi
NUMERICAL="autograd autograd_cnn autograd_nn autograd_ops autograd_optim autograd_tasks averaging
           batchnorm cnn conv cross_validation gradcheck knn layers losses mlp model model_files
           nn_layers optimizers parallel preprocessing recipe robustness study_adversarial
           study_augmentation study_common study_edges study_embeddings study_gradients
           study_imbalance study_transfer torch_oracle training tta whitening"
files=$(printf 'tests/test_%s.py ' $NUMERICAL)

# The OpenBLAS kernel NumPy loads under the current OPENBLAS_CORETYPE ("none" without
# OpenBLAS).
kernel_loaded() {
    python -c "
import numpy
from threadpoolctl import threadpool_info
print(' '.join(sorted({i['architecture'] for i in threadpool_info()
                       if i['internal_api'] == 'openblas'})) or 'none')"
}

own=$(kernel_loaded)
if [ "$own" = none ]; then
    echo "NumPy does not use OpenBLAS: no kernel to choose"
    exit 0
fi
kernels="Prescott Nehalem Sandybridge Haswell Zen"
grep -q avx512f /proc/cpuinfo && kernels="$kernels SkylakeX"
done_kernels=" $own "
for name in $kernels; do
    kernel=$(OPENBLAS_CORETYPE=$name kernel_loaded)
    if [[ "$done_kernels" == *" $kernel "* ]]; then
        echo "== OPENBLAS_CORETYPE=$name loads the $kernel kernel, already run"
        continue
    fi
    done_kernels="$done_kernels$kernel "
    echo "== OPENBLAS_CORETYPE=$name (the $kernel kernel)"
    # shellcheck disable=SC2086  # one word per file
    OPENBLAS_CORETYPE=$name python -m pytest $files "$@"
done
