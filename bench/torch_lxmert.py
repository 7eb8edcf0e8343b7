#!/usr/bin/python3
"""PyTorch baseline for lx's benchmark: LXMERT for VQA (HF LxmertForQuestionAnswering, eval, f32).

The network is written here with plain torch ops (linear, layer_norm, erf GELU, softmax, matmul)
on the weights of an HF model folder (config.json + model.safetensors, read without any package
but torch/numpy), so the benchmark can run PyTorch beside lx on the same machine in the same run.
`check` validates it against the reference fixtures (HF transformers' own output): every hidden
state, attention and output within 1e-4 absolute (1e-4 relative above magnitude 1).

  torch_lxmert.py check ../shared/fixtures
  torch_lxmert.py time MODEL_DIR --batch 32 --records 64 [--threads T] [--blas-threads N]
  torch_lxmert.py time MODEL_DIR --batch 32 --input RECORDS.jsonl [...]
  torch_lxmert.py once MODEL_DIR
  torch_lxmert.py onnx MODEL_DIR -o MODEL.onnx
  torch_lxmert.py compare MODEL_DIR RECORDS.jsonl OUTPUTS.f32

`onnx` exports the same network (torch.onnx.export, opset 14) for the ONNX Runtime peer of
the benchmark (bench/ort_lxmert.js): inputs input_ids, attention_mask, token_type_ids
([B, L]), visual_feats [B, N, 2048], visual_pos [B, N, 4], visual_attention_mask [B, N],
with B, L and N free; outputs pooled_output [B, H] and question_answering_score [B, labels].
`compare` runs PyTorch on JSON-lines records (what `lx-convert -f json` prints) and holds
another engine's outputs for them against its own: OUTPUTS.f32 is raw little-endian f32,
for each record its pooled_output then its question_answering_score (what
`ort_lxmert.js --dump` writes).

Needs Debian's python3-torch (1.13): run it with /usr/bin/python3.
"""
import time
T_START = time.perf_counter()  # 'once' reports the time from here (before torch's import)

import argparse
import ctypes
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from safetensors_np import read_safetensors

# How Debian's torch 1.13 computes (BLAS_INFO=generic): F.linear and matmul call sgemm from
# libblas.so.3, i.e. OpenBLAS 0.3.21 (pthread build), which keeps its own thread pool
# (OPENBLAS_NUM_THREADS, default all cores); oneDNN is linked but here runs only GELU (and
# bf16 ops); elementwise ops, softmax and LayerNorm use torch's OpenMP intra-op threads.
# torch.set_num_threads changes the OpenMP threads only, so OpenBLAS's count is set
# separately (openblas_set_num_threads through ctypes).
# Fastest on the 2-core Zen 3 VM it was tuned on, at batch 1 and 32: one intra-op thread,
# OpenBLAS using both cores (2 intra-op threads was 1.4-3x slower in every combination).
DEFAULT_THREADS = 1
DEFAULT_BLAS_THREADS = 2


class Lxmert:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.n_l, self.n_r, self.n_x = cfg["l_layers"], cfg["r_layers"], cfg["x_layers"]

    # building blocks, each taking the HF name prefix of its weights
    def lin(self, x, p):
        return F.linear(x, self.w[p + ".weight"], self.w[p + ".bias"])

    def ln(self, x, p):
        # the width from the weight, a Python int (x.shape[-1] would be traced, and
        # torch.onnx cannot export a layer_norm over a traced shape)
        g = self.w[p + ".weight"]
        return F.layer_norm(x, (g.shape[0],), g, self.w[p + ".bias"], self.eps)

    def attention(self, p, x, ctx, mask):
        """Multi-head attention of x (queries) over ctx (keys/values): (context, probs)."""
        b, lq, h = x.shape[0], x.shape[1], self.hidden  # h an int: a constant when exported
        nh, hd = self.heads, h // self.heads

        def split(t):
            return t.view(b, -1, nh, hd).transpose(1, 2)
        q = split(self.lin(x, p + ".query"))
        k = split(self.lin(ctx, p + ".key"))
        v = split(self.lin(ctx, p + ".value"))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + mask
        probs = F.softmax(scores, dim=-1)
        return torch.matmul(probs, v).transpose(1, 2).reshape(b, lq, h), probs

    def add_norm(self, p, y, residual):  # "output": LayerNorm(dense(y) + residual)
        return self.ln(self.lin(y, p + ".dense") + residual, p + ".LayerNorm")

    def self_att(self, p, x, mask):  # `self.` + `output.`
        y, probs = self.attention(p + ".self", x, x, mask)
        return self.add_norm(p + ".output", y, x), probs

    def ffn(self, p_inter, p_out, x):
        return self.add_norm(p_out, F.gelu(self.lin(x, p_inter + ".dense")), x)

    def bert_layer(self, p, x, mask):  # encoder.layer.N / encoder.r_layers.N
        x, probs = self.self_att(p + ".attention", x, mask)
        return self.ffn(p + ".intermediate", p + ".output", x), probs

    def x_layer(self, p, lang, visn, lmask, vmask):
        # one cross-attention module, shared weights, used in both directions
        ca = p + ".visual_attention"
        y, cross_probs = self.attention(ca + ".att", lang, visn, vmask)
        lang_att = self.add_norm(ca + ".output", y, lang)
        y, _ = self.attention(ca + ".att", visn, lang, lmask)
        visn_att = self.add_norm(ca + ".output", y, visn)
        lang, _ = self.self_att(p + ".lang_self_att", lang_att, lmask)
        visn, _ = self.self_att(p + ".visn_self_att", visn_att, vmask)
        lang = self.ffn(p + ".lang_inter", p + ".lang_output", lang)
        visn = self.ffn(p + ".visn_inter", p + ".visn_output", visn)
        return lang, visn, cross_probs

    @staticmethod
    def extend_mask(mask):  # [B, L] of 1/0 -> additive [B, 1, 1, L]
        # HF's constant; -10000.0 gives the same fixtures (see `check --mask-min -10000`)
        return (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min

    def forward(self, input_ids, token_type_ids, attention_mask, feats, pos, vis_mask=None):
        """Batched inputs ([B, L] ids/masks, [B, N, 2048] feats, [B, N, 4] boxes) -> dict."""
        e, pe = "lxmert.embeddings", "lxmert.encoder.visn_fc"
        w = self.w
        L = input_ids.shape[1]
        lang = (w[e + ".word_embeddings.weight"][input_ids]
                + w[e + ".position_embeddings.weight"][:L]
                + w[e + ".token_type_embeddings.weight"][token_type_ids])
        lang = self.ln(lang, e + ".LayerNorm")
        x = self.ln(self.lin(feats, pe + ".visn_fc"), pe + ".visn_layer_norm")
        y = self.ln(self.lin(pos, pe + ".box_fc"), pe + ".box_layer_norm")
        visn = (x + y) / 2
        if vis_mask is None:
            vis_mask = torch.ones(feats.shape[:2])
        lmask, vmask = self.extend_mask(attention_mask), self.extend_mask(vis_mask)

        out = {}
        lang_hs, visn_hs = [], []
        for i in range(self.n_l):
            lang, out[f"language_attentions.{i}"] = self.bert_layer(f"lxmert.encoder.layer.{i}", lang, lmask)
            lang_hs.append(lang)
        for i in range(self.n_r):
            visn, out[f"vision_attentions.{i}"] = self.bert_layer(f"lxmert.encoder.r_layers.{i}", visn, vmask)
            visn_hs.append(visn)
        for i in range(self.n_x):
            lang, visn, out[f"cross_encoder_attentions.{i}"] = self.x_layer(
                f"lxmert.encoder.x_layers.{i}", lang, visn, lmask, vmask)
            lang_hs.append(lang)
            visn_hs.append(visn)
        # HF's hidden states: after every layer of that stream (no embeddings entry)
        out.update({f"language_hidden_states.{i}": t for i, t in enumerate(lang_hs)})
        out.update({f"vision_hidden_states.{i}": t for i, t in enumerate(visn_hs)})
        out["language_output"], out["vision_output"] = lang, visn
        pooled = torch.tanh(self.lin(lang[:, 0], "lxmert.pooler.dense"))
        out["pooled_output"] = pooled
        h = F.gelu(self.lin(pooled, "answer_head.logit_fc.0"))
        out["question_answering_score"] = self.lin(self.ln(h, "answer_head.logit_fc.2"),
                                                   "answer_head.logit_fc.3")
        return out


def cmd_check(args):
    fx = args.fixtures
    model = Lxmert(os.path.join(fx, "models", "tiny-vqa"))
    if args.mask_min is not None:
        model.extend_mask = lambda m: (1.0 - m)[:, None, None, :] * args.mask_min
    bad = 0
    for c in range(5):
        inp = read_safetensors(os.path.join(fx, "expected", f"inputs.case{c}.safetensors"))
        exp = read_safetensors(os.path.join(fx, "expected", f"tiny-vqa.case{c}.safetensors"))
        with torch.inference_mode():
            got = model.forward(inp["input_ids"][None], inp["token_type_ids"][None],
                                inp["attention_mask"][None], inp["visual_feats"][None],
                                inp["visual_pos"][None],
                                inp["visual_attention_mask"][None] if "visual_attention_mask" in inp else None)
        worst, worst_name, fails = 0.0, "", []
        missing = sorted(set(exp) ^ set(got))
        for name in sorted(exp):
            if name not in got:
                continue
            g, x = got[name][0], exp[name]
            if g.shape != x.shape:
                fails.append(f"{name} shape {tuple(g.shape)} != {tuple(x.shape)}")
                continue
            d = (g - x).abs()
            ok = bool((d <= 1e-4 * torch.clamp(x.abs(), min=1.0)).all())
            if d.max().item() > worst:
                worst, worst_name = d.max().item(), name
            if not ok:
                fails.append(f"{name} max abs diff {d.max().item():.3g}")
        status = "ok" if not fails and not missing else "FAIL"
        where = f"({worst_name})" if worst > 0 else "(all bit-identical)"
        print(f"case{c}: {status} {len(exp)} tensors, max abs diff {worst:.3g} {where}"
              + "".join(f"\n  {f}" for f in fails)
              + (f"\n  names not in both: {missing}" if missing else ""))
        bad += status != "ok"
    sys.exit(1 if bad else 0)


def openblas():
    """The OpenBLAS torch loaded (Debian: libblas.so.3 -> openblas-pthread), or None."""
    for name in ("libopenblas.so.0", "libopenblas.so"):
        try:
            lib = ctypes.CDLL(name)
            lib.openblas_get_config.restype = ctypes.c_char_p
            return lib
        except OSError:
            pass
    return None


def set_threads(args):
    torch.set_num_threads(args.threads)
    ob = openblas()
    if ob is not None and args.blas_threads > 0:
        ob.openblas_set_num_threads(args.blas_threads)
    if ob is None:
        return "unknown", 0
    ob.openblas_get_corename.restype = ctypes.c_char_p
    version = ob.openblas_get_config().decode().split()[1]  # "OpenBLAS 0.3.21 ... Zen MAX_THREADS=64"
    return f"OpenBLAS-{version}-{ob.openblas_get_corename().decode()}", ob.openblas_get_num_threads()


def random_batch(n, tokens, regions, gen):
    ids = torch.randint(1000, 30000, (n, tokens), generator=gen)
    ids[:, 0], ids[:, -1] = 101, 102
    feats = torch.relu(torch.randn(n, regions, 2048, generator=gen))
    xy = torch.rand(n, regions, 2, generator=gen) * 0.5
    wh = torch.rand(n, regions, 2, generator=gen) * 0.5
    boxes = torch.cat([xy, xy + wh], dim=-1)  # x1, y1, x2, y2 in [0, 1]
    return (ids, torch.zeros_like(ids), torch.ones(n, tokens), feats, boxes, torch.ones(n, regions))


def cmd_time(args):
    blas, blas_threads = set_threads(args)
    model = Lxmert(args.model)
    if args.input:  # the records, in forward's order of arguments
        batches = [(i, t, m, f, p, v) for i, m, t, f, p, v in read_records(args.input, args.batch)]
        records = sum(len(b[0]) for b in batches)
    else:
        gen = torch.Generator().manual_seed(1)
        batches, left, records = [], args.records, args.records
        while left > 0:
            batches.append(random_batch(min(args.batch, left), args.tokens, args.regions, gen))
            left -= args.batch
    with torch.inference_mode():
        model.forward(*batches[0])  # warm-up
        t0 = time.perf_counter()
        for b in batches:
            model.forward(*b)["question_answering_score"]
        dt = time.perf_counter() - t0
    print(f"torch_ms_per_record={1000 * dt / records:.2f} batch={args.batch} "
          f"records={records} threads={torch.get_num_threads()} blas_threads={blas_threads} "
          f"torch={torch.__version__} blas={blas}")


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "visual_feats", "visual_pos",
               "visual_attention_mask")
ONNX_OUTPUTS = ("pooled_output", "question_answering_score")


def read_records(path, batch):
    """Batches of model inputs from JSON-lines records, in ONNX_INPUTS order; the optional
    fields default as lx-encode's do (token types 0, masks 1).  A batch is stacked, so its
    records must have the same numbers of tokens and of regions."""
    batches, cur = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            try:
                ids = torch.tensor(r["input_ids"], dtype=torch.int64)
                feats = torch.tensor(r["visual_feats"], dtype=torch.float32)
                pos = torch.tensor(r["visual_pos"], dtype=torch.float32)
            except KeyError as e:
                sys.exit(f"torch_lxmert.py: {path}: record {n}: no {e.args[0]}")
            rec = (ids, torch.tensor(r.get("attention_mask", [1] * len(ids)), dtype=torch.float32),
                   torch.tensor(r.get("token_type_ids", [0] * len(ids)), dtype=torch.int64),
                   feats, pos,
                   torch.tensor(r.get("visual_attention_mask", [1] * len(feats)), dtype=torch.float32))
            if cur and (rec[0].shape != cur[0][0].shape or rec[3].shape != cur[0][3].shape):
                sys.exit(f"torch_lxmert.py: {path}: record {n}: {len(ids)} tokens and {len(feats)} "
                         f"regions, but its batch has {len(cur[0][0])} and {len(cur[0][3])}")
            cur.append(rec)
            if len(cur) == batch:
                batches.append(tuple(torch.stack(t) for t in zip(*cur)))
                cur = []
    if cur:
        batches.append(tuple(torch.stack(t) for t in zip(*cur)))
    return batches


class Exported(torch.nn.Module):
    """The network as a module of ONNX_INPUTS -> ONNX_OUTPUTS, for torch.onnx.export (the
    weights become initializers; outputs nothing uses, such as the attentions, are pruned)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids, visual_feats, visual_pos,
                visual_attention_mask):
        out = self.model.forward(input_ids, token_type_ids, attention_mask, visual_feats, visual_pos,
                                 visual_attention_mask)
        return tuple(out[name] for name in ONNX_OUTPUTS)


def cmd_onnx(args):
    t0 = time.perf_counter()
    model = Lxmert(args.model)
    example = random_batch(2, args.tokens, args.regions, torch.Generator().manual_seed(1))
    ids, types, mask, feats, pos, vmask = example
    inputs = (ids, mask, types, feats, pos, vmask)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "token_type_ids": {0: "batch", 1: "tokens"}, "visual_feats": {0: "batch", 1: "regions"},
            "visual_pos": {0: "batch", 1: "regions"}, "visual_attention_mask": {0: "batch", 1: "regions"},
            "pooled_output": {0: "batch"}, "question_answering_score": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(Exported(model), inputs, args.output, opset_version=args.opset,
                          input_names=list(ONNX_INPUTS), output_names=list(ONNX_OUTPUTS),
                          dynamic_axes=axes, do_constant_folding=True)
    print(f"onnx={args.output} bytes={os.path.getsize(args.output)} opset={args.opset} "
          f"export_s={time.perf_counter() - t0:.1f} torch={torch.__version__}")


def cmd_compare(args):
    """Max abs differences of another engine's outputs from PyTorch's on the same records.

    The tolerance is relative to the largest magnitude of that output in that record (at
    least 1), not to each value's own: a logit near 0 is a sum of terms as large as any
    other logit's, so two summation orders leave it an error of their size.  (The answer
    head of a random-weight base model gives logits up to about 80.)"""
    model = Lxmert(args.model)
    got = np.fromfile(args.outputs, dtype="<f4")
    widths, n = None, 0
    worst, worst_rel = {name: 0.0 for name in ONNX_OUTPUTS}, {name: 0.0 for name in ONNX_OUTPUTS}
    bad = {name: 0 for name in ONNX_OUTPUTS}
    with torch.inference_mode():
        for b in read_records(args.records, args.batch):
            ids, mask, types, feats, pos, vmask = b
            out = model.forward(ids, types, mask, feats, pos, vmask)
            ref = [out[name].numpy() for name in ONNX_OUTPUTS]
            if widths is None:
                widths = [r.shape[1] for r in ref]
                per = sum(widths)
            for i in range(len(ids)):
                if (n + 1) * per > got.size:
                    sys.exit(f"torch_lxmert.py: {args.outputs}: {got.size} values, fewer than "
                             f"{per} for each record of {args.records}")
                row, at = got[n * per:(n + 1) * per], 0
                for name, w, r in zip(ONNX_OUTPUTS, widths, ref):
                    x, g = r[i], row[at:at + w]
                    d = np.abs(g.astype(np.float64) - x)
                    scale = max(float(np.abs(x).max()), 1.0)
                    worst[name] = max(worst[name], float(d.max()))
                    worst_rel[name] = max(worst_rel[name], float(d.max()) / scale)
                    bad[name] += int((d > args.tol * scale).sum())
                    at += w
                n += 1
    if n * per != got.size:
        sys.exit(f"torch_lxmert.py: {args.outputs}: {got.size} values, not {per} for each of "
                 f"the {n} records of {args.records}")
    ok = not any(bad.values())
    print(f"{'ok' if ok else 'FAIL'} {n} records, max abs diff "
          + ", ".join(f"{name} {worst[name]:.3g} ({worst_rel[name]:.2g} of its largest value)"
                      for name in ONNX_OUTPUTS)
          + f"; tolerance {args.tol:g} of an output's largest value in the record (at least 1)"
          + "".join(f"; {name}: {bad[name]} values beyond it" for name in ONNX_OUTPUTS if bad[name]))
    sys.exit(0 if ok else 1)


def cmd_once(args):
    blas, blas_threads = set_threads(args)
    t_import = time.perf_counter()
    model = Lxmert(args.model)
    t_load = time.perf_counter()
    with torch.inference_mode():
        b = random_batch(1, args.tokens, args.regions, torch.Generator().manual_seed(1))
        answer = int(model.forward(*b)["question_answering_score"][0].argmax())
    t_end = time.perf_counter()
    # the process's start time (since boot, clock ticks), for the interpreter's own start-up too
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    since_exec = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    print(f"torch_once_ms={1000 * (t_end - T_START):.1f} process_ms={1000 * since_exec:.0f} "
          f"import_ms={1000 * (t_import - T_START):.1f} load_ms={1000 * (t_load - t_import):.1f} "
          f"forward_ms={1000 * (t_end - t_load):.1f} answer={answer} threads={torch.get_num_threads()} "
          f"blas_threads={blas_threads} torch={torch.__version__} blas={blas}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="compare tiny-vqa against the fixtures (1e-4)")
    p.add_argument("fixtures")
    p.add_argument("--mask-min", type=float, default=None,
                   help="use this masking constant instead of HF's finfo(float32).min")
    for name in ("time", "once"):
        p = sub.add_parser(name)
        p.add_argument("model", help="HF model folder: config.json, model.safetensors")
        p.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch intra-op threads")
        p.add_argument("--blas-threads", type=int, default=DEFAULT_BLAS_THREADS,
                       help="OpenBLAS threads (0: leave as loaded, i.e. OPENBLAS_NUM_THREADS or all cores)")
        p.add_argument("--tokens", type=int, default=20)
        p.add_argument("--regions", type=int, default=36)
        if name == "time":
            p.add_argument("--batch", type=int, default=1)
            p.add_argument("--records", type=int, default=8, help="random records to time")
            p.add_argument("--input", help="time these JSON-lines records instead "
                                           "(lx-convert -f json; --records, --tokens, --regions unused)")
    p = sub.add_parser("onnx", help="export the network to ONNX (torch.onnx.export)")
    p.add_argument("model", help="HF model folder: config.json, model.safetensors")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=14)
    p.add_argument("--tokens", type=int, default=20, help="the example input's tokens (any work)")
    p.add_argument("--regions", type=int, default=36, help="the example input's regions")
    p = sub.add_parser("compare", help="hold another engine's outputs against PyTorch's")
    p.add_argument("model", help="HF model folder: config.json, model.safetensors")
    p.add_argument("records", help="JSON-lines records (lx-convert -f json)")
    p.add_argument("outputs", help="raw f32: per record, pooled_output then question_answering_score")
    p.add_argument("--batch", type=int, default=32, help="PyTorch's batch")
    p.add_argument("--tol", type=float, default=1e-4,
                   help="largest difference allowed, relative to the output's largest value "
                        "in the record (at least 1)")
    args = ap.parse_args()
    {"check": cmd_check, "time": cmd_time, "once": cmd_once, "onnx": cmd_onnx,
     "compare": cmd_compare}[args.cmd](args)


if __name__ == "__main__":
    main()
