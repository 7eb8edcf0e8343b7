/*
 * tensordict.c — lx_tensor_dict: the named tensors a checkpoint reader produces.
 *
 * Entries keep their insertion order (the file's order), which names.c later replaces
 * with HF's canonical order.  Tensors are usually views into regions the dict keeps
 * alive (mmap'd files, decompressed buffers): lx_tensor_dict_keep registers them and
 * lx_tensor_dict_free releases them after the tensors.  Lookup is a linear scan: a
 * checkpoint holds a few hundred tensors and is looked up a few hundred times.  So that a
 * hostile file cannot make that quadratic scan take minutes, a dict holds at most
 * LX_DICT_MAX tensors (LXMERT-base has under 600).
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "ckpt.h"

#define LX_DICT_MAX 16384

void lx_tensor_dict_init(lx_tensor_dict *d) {
    memset(d, 0, sizeof *d);
}

void lx_tensor_dict_free(lx_tensor_dict *d) {
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].name);
        lx_tensor_free(&d->items[i].t);
    }
    free(d->items);
    for (size_t i = 0; i < d->nmaps; i++) {
        if (d->map_lens[i]) lx_file_unmap(d->maps[i], d->map_lens[i]);
        else free(d->maps[i]);
    }
    free(d->maps);
    free(d->map_lens);
    memset(d, 0, sizeof *d);
}

lx_tensor *lx_tensor_dict_get(const lx_tensor_dict *d, const char *name) {
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->items[i].name, name) == 0) return &d->items[i].t;
    return NULL;
}

int lx_tensor_dict_add(lx_tensor_dict *d, const char *name, lx_tensor *t, lx_error *err) {
    if (d->n >= LX_DICT_MAX) {
        lx_tensor_free(t);
        return lx_error_set(err, "more than %d tensors: not an LXMERT checkpoint", LX_DICT_MAX);
    }
    if (lx_tensor_dict_get(d, name)) {
        lx_tensor_free(t);
        return lx_error_set(err, "tensor '%s' appears twice", name);
    }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 64;
        lx_tensor_entry *ni = realloc(d->items, nc * sizeof *ni);
        if (!ni) {
            lx_tensor_free(t);
            return lx_error_set(err, "out of memory");
        }
        d->items = ni;
        d->cap = nc;
    }
    char *nm = strdup(name);
    if (!nm) {
        lx_tensor_free(t);
        return lx_error_set(err, "out of memory");
    }
    d->items[d->n].name = nm;
    d->items[d->n].t = *t;
    d->n++;
    memset(t, 0, sizeof *t);
    return 0;
}

int lx_tensor_dict_keep(lx_tensor_dict *d, void *addr, size_t len, lx_error *err) {
    void **nm = realloc(d->maps, (d->nmaps + 1) * sizeof *nm);
    if (!nm) goto oom;
    d->maps = nm;
    size_t *nl = realloc(d->map_lens, (d->nmaps + 1) * sizeof *nl);
    if (!nl) goto oom;
    d->map_lens = nl;
    d->maps[d->nmaps] = addr;
    d->map_lens[d->nmaps] = len;
    d->nmaps++;
    return 0;
oom:
    /* The caller still owns addr; release it so that it is not leaked. */
    if (len) lx_file_unmap(addr, len);
    else free(addr);
    return lx_error_set(err, "out of memory");
}
