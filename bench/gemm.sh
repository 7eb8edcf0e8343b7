# Matrix products with 16-bit weights (lib/nn/gemm.h) against OpenBLAS cblas_sgemm:
#  (1) the machine's own large-sgemm rate (2048^3 f32, OpenBLAS's threads) — other
#      benchmarks get the same figure from `gemmbench --sgemm-rate`;
#  (2) GFLOP/s of lx_gemm with bf16 weights at the LXMERT-base layer shapes, M = 36 (one
#      record) and M = 32 x 36 (a batch of 32), next to cblas_sgemm in f32 on the same shapes;
#  (3) GB/s of weights streamed at M = 20 through 12 layers' weights (170 MB in bf16).
# Then the same for the exact bf16 mode and f16 weights, for the f32 network's own products
# (--kind f32: lx_k_linear_f32, the kernels lx-encode runs on f32 weights), and the
# portable path.
set -u
: "${LX_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
PATH=$LX_BUILD/tools:$PATH
# as make bench does, so that a direct run measures OpenBLAS the same way
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
t=${LX_BENCH_GEMM_TIME:-0.3}
echo "command: gemmbench --threads 2 --kind bf16 --time $t"
gemmbench --threads 2 --kind bf16 --time "$t"
for kind in bf16-exact f16 f32; do
    echo
    echo "command: gemmbench --threads 2 --kind $kind --time $t"
    gemmbench --threads 2 --kind "$kind" --time "$t" | tail -n +2
done
echo
echo "command: gemmbench --portable --threads 1 --kind bf16 --time $t  (OpenBLAS threads inside)"
gemmbench --portable --threads 1 --kind bf16 --time "$t" | tail -n +2
