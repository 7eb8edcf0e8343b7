/*
 * checkpoint.c — from what a user points lx-convert at (a file or an HF model folder) to
 * an lx_tensor_dict, choosing the reader.
 *
 * In a folder, the first of these that exists is read:
 *     model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json,
 *     pytorch_model.bin, the folder's only *.safetensors, its only *.pth / *.pt / *.bin
 * safetensors first: it needs no pickle and maps in place.  A folder holding
 * tf_model.h5 (or flax_model.msgpack) and nothing readable is refused with a message
 * saying so.  A file is read by its content: the safetensors header or shard-index
 * JSON, else the PyTorch zip or legacy pickle format.  A sharded .bin index is read
 * shard by shard like a safetensors one.  The shards of an index are weight files: one
 * that is an index itself (by name or by content) is an error, so reading never
 * recurses past one level.  Every file is opened non-blocking and must be regular.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../internal.h"
#include "ckpt.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

char *lx_checkpoint_dir(const char *src) {
    if (is_dir(src)) return strdup(src);
    const char *sl = strrchr(src, '/');
    if (!sl) return strdup(".");
    if (sl == src) return strdup("/");
    return strndup(src, (size_t)(sl - src));
}

/* The only file in dir ending in one of sufs; NULL if none or several (*several set). */
static char *only_file(const char *dir, const char *const *sufs, int *several) {
    DIR *dd = opendir(dir);
    char *found = NULL;
    *several = 0;
    if (!dd) return NULL;
    struct dirent *e;
    while ((e = readdir(dd))) {
        int match = 0;
        for (int i = 0; sufs[i]; i++) match |= ends_with(e->d_name, sufs[i]);
        if (!match || e->d_name[0] == '.') continue;
        char *p = join(dir, e->d_name);
        if (!p || !is_file(p)) {
            free(p);
            continue;
        }
        if (found) {
            *several = 1;
            free(p);
            free(found);
            found = NULL;
            break;
        }
        found = p;
    }
    closedir(dd);
    return found;
}

/* Choose the checkpoint file inside a folder. */
static char *pick_in_dir(const char *dir, lx_error *err) {
    static const char *const pref[] = {
        "model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json",
        "pytorch_model.bin",
    };
    for (size_t i = 0; i < sizeof pref / sizeof pref[0]; i++) {
        char *p = join(dir, pref[i]);
        if (p && is_file(p)) return p;
        free(p);
    }
    int several;
    static const char *const st[] = {".safetensors", NULL};
    char *p = only_file(dir, st, &several);
    if (p) return p;
    if (several) {
        lx_error_set(err, "%s: several .safetensors files and no model.safetensors: name the "
                          "one to convert", dir);
        return NULL;
    }
    static const char *const pt[] = {".pth", ".pt", ".bin", NULL};
    p = only_file(dir, pt, &several);
    if (p) return p;
    if (several) {
        lx_error_set(err, "%s: several PyTorch checkpoints and no pytorch_model.bin: name the "
                          "one to convert", dir);
        return NULL;
    }
    char *tf = join(dir, "tf_model.h5"), *fx = join(dir, "flax_model.msgpack");
    int has_tf = tf && is_file(tf), has_fx = fx && is_file(fx);
    free(tf);
    free(fx);
    if (has_tf || has_fx)
        lx_error_set(err, "%s: holds only %s, which lx-convert does not read; convert it to "
                          "safetensors or PyTorch first", dir,
                     has_tf ? "a TensorFlow checkpoint (tf_model.h5)"
                            : "a Flax checkpoint (flax_model.msgpack)");
    else
        lx_error_set(err, "%s: no checkpoint found (expected model.safetensors or "
                          "pytorch_model.bin)", dir);
    return NULL;
}

/* A shard index (either kind) names weight files, never another index: read_file,
 * given the index a shard is read for, refuses one, so an index naming itself, or two
 * naming each other, is an error and not a recursion without end. */
static int read_torch_index(lx_tensor_dict *d, const char *path, lx_error *err);

static int is_index(const char *path) { return ends_with(path, ".index.json"); }

static int read_file(lx_tensor_dict *d, const char *path, const char *index, lx_error *err) {
    if (index && is_index(path))
        return lx_error_set(err, "%s: names %s as a shard, which is a shard index too (the "
                                 "shards of an index must be weight files)", index, path);
    if (ends_with(path, ".h5"))
        return lx_error_set(err, "%s: TensorFlow checkpoints are not read; convert it to "
                                 "safetensors or PyTorch first", path);
    if (ends_with(path, ".safetensors") || ends_with(path, ".safetensors.index.json"))
        return lx_safetensors_read(d, path, err);
    if (ends_with(path, ".bin.index.json")) return read_torch_index(d, path, err);
    /* By content: a safetensors header starts with a little-endian length and then '{'. */
    struct stat st;
    int fd = lx_file_open(path, &st, err);
    if (fd < 0) return -1;
    unsigned char b[9];
    ssize_t n;
    while ((n = read(fd, b, sizeof b)) < 0 && errno == EINTR) {}
    close(fd);
    if (n == 9 && b[8] == '{' && b[6] == 0 && b[7] == 0) return lx_safetensors_read(d, path, err);
    if (index && n > 0 && b[0] == '{')
        return lx_error_set(err, "%s: names %s as a shard, which is JSON (a shard index?), "
                                 "not a weight file", index, path);
    return lx_torch_read(d, path, err);
}

/* A sharded PyTorch checkpoint: {"weight_map": {name: "pytorch_model-0000N.bin"}}. */
static int read_torch_index(lx_tensor_dict *d, const char *path, lx_error *err) {
    json_t *idx = lx_json_read_file(path, LX_INDEX_MAX_BYTES, JSON_REJECT_DUPLICATES, err);
    if (!idx) return -1;
    json_t *wm = json_object_get(idx, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        json_decref(idx);
        return lx_error_set(err, "%s: no \"weight_map\" object", path);
    }
    char *dir = lx_checkpoint_dir(path);
    json_t *done = json_object();
    int rc = dir && done ? 0 : lx_error_set(err, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (rc < 0) break;
        const char *f = json_string_value(v);
        if (!f || !*f || strchr(f, '/') || strcmp(f, "..") == 0 || strcmp(f, ".") == 0) {
            rc = lx_error_set(err, "%s: weight_map[\"%s\"] is not a file name in the index's "
                                   "folder", path, key);
            break;
        }
        if (json_object_get(done, f)) continue;
        json_object_set_new(done, f, json_true());
        char *p = join(dir, f);
        rc = p ? read_file(d, p, path, err) : lx_error_set(err, "out of memory");
        free(p);
    }
    if (rc == 0)
        json_object_foreach(wm, key, v) if (!lx_tensor_dict_get(d, key)) {
            rc = lx_error_set(err, "%s: the index puts '%s' in %s, which does not hold it",
                              path, key, json_string_value(v));
            break;
        }
    json_decref(done);
    json_decref(idx);
    free(dir);
    return rc;
}

int lx_checkpoint_read(lx_tensor_dict *d, const char *src, char **used, lx_error *err) {
    char *path;
    if (is_dir(src)) {
        path = pick_in_dir(src, err);
        if (!path) return -1;
    } else {
        struct stat st;
        if (stat(src, &st) < 0) return lx_error_set(err, "%s: %s", src, strerror(errno));
        if (!S_ISREG(st.st_mode))
            return lx_error_set(err, "%s: not a regular file or a folder", src);
        path = strdup(src);
        if (!path) return lx_error_set(err, "out of memory");
    }
    int rc = read_file(d, path, NULL, err);
    if (rc == 0 && d->n == 0) rc = lx_error_set(err, "%s: holds no tensors", path);
    if (used && rc == 0) *used = path;
    else free(path);
    return rc;
}
