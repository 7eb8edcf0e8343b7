/*
 * fuzz_torch — PyTorch checkpoints (lib/ckpt/torch.c over zipfile.c and pickle.c): the
 * input as a .bin file through lx_torch_read, zip or legacy as its first bytes say, and
 * every tensor it gives read whole.
 */
#include "fuzz_dict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_read_dict(lx_torch_read, data, size, 0);
    return 0;
}
