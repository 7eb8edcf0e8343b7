/*
 * fuzz_pickle — the pickle interpreter (lib/ckpt/pickle.c): the input run as pickle
 * programs back to back, as a legacy PyTorch file holds them (each load starts where
 * the last one stopped), at most eight.  Nothing a pickle names may run; an error must
 * come with a message.
 */
#include "fuzz.h"
#include "ckpt/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lx_pickle p;
    lx_pickle_init(&p);
    size_t at = 0;
    for (int i = 0; i < 8 && at < size; i++) {
        lx_pk *v = NULL;
        lx_error err = {0};
        if (lx_pickle_load(&p, data + at, size - at, &v, &err) < 0) {
            if (!err.msg[0]) abort();
            break;
        }
        if (!v || p.end == 0 || p.end > size - at) abort();
        at += p.end;
    }
    lx_pickle_free(&p);
    return 0;
}
