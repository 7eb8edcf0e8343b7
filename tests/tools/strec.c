/*
 * strec — tensors of a safetensors file as one record, for the shell tests: reference
 * tensors (the fixtures' expected outputs) become a record reccmp can hold a tool's
 * output against.
 *
 *   strec FILE NAME[=FIELD]... > record.jsonl
 *
 * The record holds the named tensors in the order given, each under FIELD (default its
 * own name), as one JSON line.  Exit 0, 1 when the file cannot be read or a tensor is
 * missing, 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lx.h"
#include "ckpt/ckpt.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: strec FILE NAME[=FIELD]...\n");
        return 2;
    }
    lx_error err = {0};
    lx_tensor_dict d;
    lx_tensor_dict_init(&d);
    if (lx_safetensors_read(&d, argv[1], &err) < 0) {
        fprintf(stderr, "strec: %s\n", err.msg);
        return 1;
    }
    lx_record r;
    lx_record_init(&r);
    for (int i = 2; i < argc; i++) {
        char name[256];
        const char *eq = strchr(argv[i], '=');
        size_t n = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        if (n >= sizeof name) {
            fprintf(stderr, "strec: name too long: %s\n", argv[i]);
            return 2;
        }
        memcpy(name, argv[i], n);
        name[n] = '\0';
        const lx_tensor *t = lx_tensor_dict_get(&d, name);
        lx_tensor copy;
        if (!t) {
            fprintf(stderr, "strec: %s: no tensor %s\n", argv[1], name);
            return 1;
        }
        if (lx_tensor_copy(&copy, t, &err) < 0 ||
            lx_record_set_tensor(&r, eq ? eq + 1 : name, &copy, &err) < 0) {
            fprintf(stderr, "strec: %s\n", err.msg);
            return 1;
        }
    }
    lx_writer *w = lx_writer_open(stdout, LX_FMT_JSON, &err);
    if (!w || lx_writer_write(w, &r, &err) < 0 || lx_writer_flush(w, &err) < 0) {
        fprintf(stderr, "strec: %s\n", err.msg);
        return 1;
    }
    lx_writer_close(w);
    lx_record_clear(&r);
    lx_tensor_dict_free(&d);
    return fclose(stdout) == 0 ? 0 : 1;
}
