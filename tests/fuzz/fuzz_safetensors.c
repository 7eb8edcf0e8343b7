/*
 * fuzz_safetensors — the safetensors reader (lib/ckpt/safetensors.c): the input as a
 * .safetensors file through lx_safetensors_read, then every tensor it gives read whole
 * (a view must lie inside the mapping it came from).
 */
#include "fuzz_dict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_read_dict(lx_safetensors_read, data, size, 1);
    return 0;
}
