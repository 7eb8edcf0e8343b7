/*
 * ckpt.h — the checkpoint readers below lx_checkpoint_load (private to liblx; the unit
 * tests use them on their own).  Each fills an lx_tensor_dict with the file's tensors
 * under the file's own names; lx_checkpoint_load (load.c) maps the names and checks
 * them against the schema.
 */
#ifndef LX_CKPT_H
#define LX_CKPT_H

#include "../lx.h"

/* Keep a region alive until the dict is freed: munmap(addr, len), or free(addr) if len == 0.
 * If this fails (out of memory) the region is released at once. */
int lx_tensor_dict_keep(lx_tensor_dict *d, void *addr, size_t len, lx_error *err);

/* The most a shard index (*.index.json) may hold: a model of thousands of tensors needs
 * a few hundred KB. */
#define LX_INDEX_MAX_BYTES (64u << 20)

/* safetensors (safetensors.c): one file, or a shard index (model.safetensors.index.json),
 * whose shards must be safetensors files (not indexes).  Tensors are views into the
 * mapped file(s). */
int lx_safetensors_read(lx_tensor_dict *d, const char *path, lx_error *err);

/* PyTorch checkpoints (torch.c over zipfile.c and pickle.c): the zip format (data.pkl +
 * data/N, zip64 and deflated entries included) and the legacy pickle sequence.  Only the
 * allow-listed globals a state dict needs are accepted (OrderedDict,
 * torch._utils._rebuild_tensor[_v2]/_rebuild_parameter, torch.*Storage, torch dtypes,
 * set); anything else (os.system, builtins.eval...) is refused with its name and nothing
 * is executed.  The state dict is the object itself or the one dict of tensors inside it
 * ({'model': ..., 'optimizer': ...} prefers state_dict/model/module); entries that are
 * not tensors are skipped.  dtypes f32, f16, bf16, i64, i32, u8 (bool as u8; f64 narrowed
 * to f32).  Contiguous tensors are views into the mapped file (zip) or into one aligned
 * buffer of the storages (legacy); strided ones are copied.  On error d may hold some
 * tensors already: free it. */
int lx_torch_read(lx_tensor_dict *d, const char *path, lx_error *err);

/* The tensors of src (checkpoint.c): a file (.safetensors, a shard index *.index.json, or
 * a PyTorch .bin/.pth/.pt) or an HF model folder, in which model.safetensors(.index.json)
 * is preferred over pytorch_model.bin(.index.json); a folder holding only tf_model.h5 is
 * refused.  Tensor names are the file's own.  *used (optional, malloc'd, caller frees)
 * gets the path of the file actually read. */
int lx_checkpoint_read(lx_tensor_dict *d, const char *src, char **used, lx_error *err);
/* The folder a checkpoint's side files (config.json, vocab.txt) are looked for in: src
 * itself if it is a folder, else the folder holding it.  malloc'd. */
char *lx_checkpoint_dir(const char *src);

/* YAML (yaml.c): a YAML 1.1 document as HF's config loader (PyYAML's yaml.load) reads
 * it, as JSON: mappings, sequences and scalars typed by PyYAML's rules (1.5 a number,
 * 1e-5 a string, yes a boolean; see yaml.c for what is refused).  An empty document is
 * JSON null.  Errors name the file (name) and the line.  Returns a new reference or NULL. */
json_t *lx_yaml_parse(const char *text, size_t len, const char *name, lx_error *err);
/* The same from a file of at most 16 MB. */
json_t *lx_yaml_read_file(const char *path, lx_error *err);

#endif
