#!/usr/bin/python3
"""PyTorch baseline for lx's benchmark: the bottom-up-attention Faster R-CNN (ResNet-101 C4).

HuggingFace's demo port (examples/research_projects/lxmert: modeling_frcnn.py,
processing_image.py; the checkpoint unc-nlp/frcnn-vg-finetuned), eval, f32, written here
with plain torch / torchvision ops (conv2d, batch_norm, relu, max_pool2d, interpolate,
nms, roi_pool, linear, softmax) on an HF-style folder: model.safetensors (read without
any package but torch/numpy) and config.yaml (the test-time parameters; python3-yaml).
Widths, block counts and the class, attribute and anchor counts come from the tensors'
names and shapes.  `check` validates it stage by stage against the reference fixtures
(HF's own code run on a tiny network of the real architecture), for both selections:
HF's do_nms and the original Caffe extractor's (see ../shared/fixtures/frcnn/README.md).

  torch_frcnn.py check ../shared/fixtures [--threads T] [--bit-exact]
  torch_frcnn.py time MODEL_DIR --height H --width W [--min-size 600 --max-size 1000]
                 [--proposals 300] [--images N] [--image FILE] [--caffe] [--threads T]
                 [--blas-threads N]
  torch_frcnn.py randmodel OUT_DIR [--seed S]      # full-size random detector for the bench
  torch_frcnn.py image OUT.png --height H --width W [--seed S]   # a random test picture

Needs Debian's python3-torch (1.13), python3-torchvision (0.14) and python3-yaml: run it
with /usr/bin/python3.

What `check` shows.  The fixtures were made by HF's code on an AVX2 machine (1 thread).
Run with that machine's kernels (`check --bit-exact` re-runs itself with
ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell), this file reproduces all 56 tensors
of every image bit for bit, with 1 or 2 threads: the same torch ops on the same shapes and
memory formats (the resize's F.interpolate on the channels-last HWC->CHW view, which is
torch's channels-last bilinear kernel, the README's double-precision recipe; the batch of
one image made by F.pad and torch.stack as in Preprocess.pad; F.batch_norm in eval form;
torch.sort for the top-k; torchvision's nms and roi_pool; the box decoding's exact
sequence of float32 ops).  On an AVX-512 machine's own kernels (the default), bit-exact
are the resize, the normalization, the stem, the anchors and every discrete result
(top-k order, both NMS keeps, RoIPool bins, argmaxes, both selections, which Caffe
max_conf rows are 0); from res2 on (the first 1x1 convolution: OpenBLAS's AVX-512 sgemm
or oneDNN's AVX-512 kernels sum in another order) the float tensors are within
tolerance: ~1e-5 absolute on features of O(10), boxes within 3e-4 px, normalized boxes
4e-7.  `check` prints, per image, which tensors were bit-identical and the largest
difference of the others.  The one step that is not a torch op is the Caffe per-class
NMS: `check` runs py-faster-rcnn's cpu_nms rule (+1 pixel, `>=`, float32) in numpy and
also torchvision's nms on (x1, y1, x2 + 1, y2 + 1) (the form `time --caffe` uses), and
requires both to give the fixtures' selection.
"""
import argparse
import ctypes
import json
import math
import os
import re
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.ops import nms, roi_pool

from safetensors_np import read_safetensors

warnings.filterwarnings("ignore", message="index_reduce")  # torch 1.13: "in beta"

try:
    import yaml
except ImportError:  # only the model folder's config needs it
    yaml = None

# Threads.  How Debian's torch 1.13 computes here (BLAS_INFO=generic, USE_MKLDNN=ON,
# oneDNN 2.6.3; seen with torch.profiler on the full-size network):
# - F.conv2d goes to oneDNN (aten::mkldnn_convolution: JIT AVX-512 kernels, threaded by
#   torch's OpenMP intra-op threads) for every 3x3 and 7x7 convolution, the strided 1x1s
#   and every convolution of the RoI batch (res5).  The stride-1 1x1 convolutions of the
#   one image (59 of the backbone's 94 convolutions, and the RPN's two 1x1s) go to oneDNN
#   only with more than one intra-op thread; with one they take torch's slow path
#   (aten::_slow_conv2d_forward: sgemm from libblas.so.3 = OpenBLAS 0.3.21 pthread, its
#   own thread pool).
# - F.linear (the box head) is OpenBLAS sgemm; nms and roi_pool are torchvision's
#   single-threaded CPU kernels; batch_norm, relu and softmax use the OpenMP threads.
# torch.set_num_threads sets the OpenMP (and oneDNN) threads only, so OpenBLAS's count is
# set separately (openblas_set_num_threads through ctypes).
# Fastest on the 2-core Zen 4 VM it was tuned on (600x800, 100 proposals, rounds
# alternated): 2 intra-op threads, 4.7-5.1 s per picture with OpenBLAS on 1 or 2 threads
# (no difference: the two pools take turns), against 8.7-9.5 s with 1 intra-op thread;
# oneDNN then ran the backbone and res5 at ~155-165 GFLOP/s, ~75% of the sgemm rate
# (gemmbench --sgemm-rate: 210).  While other work loaded the machine, 2 threads lost
# more than 1 did (OpenMP waits for a descheduled thread): medians of rounds, as
# bench/detect.sh prints, are the figures to trust.
DEFAULT_THREADS = 2
DEFAULT_BLAS_THREADS = 2

STAGES = ("resize", "backbone", "rpn", "roi", "head")  # what `time` reports, in order
STAGE_WHAT = {
    "resize": "resize + normalize",
    "backbone": "stem + res2..res4",
    "rpn": "RPN head, anchors, decode, top-k, NMS",
    "roi": "RoIPool + res5 + mean over all proposals",
    "head": "box head + box decode + selection",
}
FEATURE_STRIDE = 16  # res4: stem /4, res3 /2, res4 /2
BN_EPS = 1e-5


# ---------------------------------------------------------------- files
def safetensors_header(tensors, metadata):
    """The header bytes and the storage order: by decreasing element size, then given order
    (as the fixture's model.safetensors: each tensor aligned to its element size)."""
    kinds = {torch.float32: ("F32", 4), torch.int64: ("I64", 8)}
    order = sorted(tensors, key=lambda k: -kinds[tensors[k].dtype][1])  # stable
    head, off = {"__metadata__": metadata}, 0
    for name in order:
        t = tensors[name]
        dt, size = kinds[t.dtype]
        head[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + t.numel() * size]}
        off += t.numel() * size
    text = json.dumps(head, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return text, order


def write_safetensors(path, tensors, metadata):
    text, order = safetensors_header(tensors, metadata)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in order:
            f.write(tensors[name].contiguous().numpy().tobytes())  # x86: little-endian


def read_config(model_dir):
    if yaml is None:
        sys.exit("torch_frcnn.py: reading config.yaml needs python3-yaml (apt-get install python3-yaml)")
    with open(os.path.join(model_dir, "config.yaml")) as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------- the network
class Frcnn:
    """HF's GeneralizedRCNN (test time) on a state dict `w` and an HF config dict `cfg`.

    `forward` returns every stage under the fixture names (README "Tensors"), for one
    image given as uint8 HWC pixels in the order the network sees.
    """

    def __init__(self, w, cfg, min_size=None, max_size=None, proposals=None):
        self.w = w
        c = {k.lower(): v for k, v in cfg.items()}
        inp, rpn, roi, head = c["input"], c["rpn"], c["roi_heads"], c["roi_box_head"]
        self.min_size = min_size or inp["min_size_test"]
        self.max_size = max_size or inp["max_size_test"]
        self.pixel_mean = c["model"]["pixel_mean"]
        self.pixel_std = c["model"]["pixel_std"]
        self.pad_value = c.get("pad_value", 0.0)
        self.caffe_maxpool = c["model"].get("max_pool", True)
        self.stride_in_1x1 = c["resnets"].get("stride_in_1x1", True)
        self.res5halve = head.get("res5halve", False)
        self.pre_nms_topk = rpn["pre_nms_topk_test"]
        self.post_nms_topk = proposals or rpn["post_nms_topk_test"]
        self.rpn_nms_thresh = rpn["nms_thresh"]
        self.rpn_weights = rpn.get("bbox_reg_weights", [1.0, 1.0, 1.0, 1.0])
        self.rpn_min_size = c["proposal_generator"].get("min_size", 0.0)
        self.anchor_offset = c["anchor_generator"].get("offset", 0.0)
        self.box_weights = head["bbox_reg_weights"]
        self.pooler = head.get("pooler_resolution", 14)
        nt = roi["nms_thresh_test"]
        self.nms_thresh = nt if isinstance(nt, list) else [nt]
        self.min_det, self.max_det = c["min_detections"], c["max_detections"]
        # what the tensors say
        self.blocks = {}
        for name in w:
            m = re.match(r"(backbone\.res[234]|roi_heads\.res5)\.(\d+)\.", name)
            if m:
                self.blocks[m.group(1)] = max(self.blocks.get(m.group(1), 0), int(m.group(2)) + 1)
        bp = "roi_heads.box_predictor."
        self.num_classes = w[bp + "cls_score.weight"].shape[0] - 1
        self.num_attrs = w[bp + "attr_score.weight"].shape[0] - 1
        self.num_anchors = w["proposal_generator.rpn_head.objectness_logits.weight"].shape[0]
        self.flops = {}
        self.calibrate = None  # randmodel: {prefix: (target std)} for the head layers

    # -- building blocks, each taking the HF name prefix of its weights
    def count(self, stage, f):
        self.flops[stage] = self.flops.get(stage, 0) + f

    def conv(self, x, p, stage, stride=1, padding=0, dilation=1, bias=False):
        wt = self.w[p + ".weight"]
        y = F.conv2d(x, wt, self.w[p + ".bias"] if bias else None, stride, padding, dilation)
        self.count(stage, 2 * y.numel() * wt[0].numel())
        return y

    def conv_bn(self, x, p, stage, stride=1, padding=0, dilation=1):
        """HF's Conv2d with norm=BatchNorm2d (eval): conv without bias, then BN."""
        y = self.conv(x, p, stage, stride, padding, dilation)
        n = p + ".norm."
        if self.calibrate is not None:  # randmodel: this BN normalizes this input
            self.w[n + "running_mean"] = y.mean((0, 2, 3))
            self.w[n + "running_var"] = y.var((0, 2, 3))
        return F.batch_norm(y, self.w[n + "running_mean"], self.w[n + "running_var"],
                            self.w[n + "weight"], self.w[n + "bias"], False, 0.0, BN_EPS)

    def lin(self, x, p, stage):
        wt, b = self.w[p + ".weight"], self.w[p + ".bias"]
        if self.calibrate is not None and p in self.calibrate:
            y = F.linear(x, wt) if wt.dim() == 2 else F.conv2d(x, wt)
            dims = (0,) if y.dim() == 2 else (0, 2, 3)
            m = y.mean(dims)
            s = self.calibrate[p] / (y - (m if y.dim() == 2 else m[:, None, None])).std().clamp_min(1e-12)
            wt.mul_(s)
            b.copy_(-m * s)
        if wt.dim() == 4:  # the RPN's 1x1 convolutions
            y = F.conv2d(x, wt, b)
        else:
            y = F.linear(x, wt, b)
        self.count(stage, 2 * y.numel() * wt[0].numel())
        return y

    def bottleneck(self, x, p, stage, stride, dilation):
        """BottleneckBlock: conv1 1x1 (stride here if stride_in_1x1), conv2 3x3, conv3 1x1."""
        s1, s3 = (stride, 1) if self.stride_in_1x1 else (1, stride)
        out = F.relu_(self.conv_bn(x, p + ".conv1", stage, s1))
        out = F.relu_(self.conv_bn(out, p + ".conv2", stage, s3, dilation, dilation))
        out = self.conv_bn(out, p + ".conv3", stage)
        if p + ".shortcut.weight" in self.w:
            shortcut = self.conv_bn(x, p + ".shortcut", stage, stride)
        else:
            shortcut = x
        out += shortcut
        return F.relu_(out)

    # -- the pipeline
    def preprocess(self, img):
        """ResizeShortestEdge (float path) + normalize + pad, as processing_image.py."""
        h, w = img.shape[:2]
        size = self.min_size
        scale = size * 1.0 / min(h, w)
        if h < w:
            newh, neww = size, scale * w
        else:
            newh, neww = scale * h, size
        if max(newh, neww) > self.max_size:
            scale = self.max_size * 1.0 / max(newh, neww)
            newh, neww = newh * scale, neww * scale
        neww, newh = int(neww + 0.5), int(newh + 0.5)
        x = torch.as_tensor(img).float()  # HWC
        # the permuted view is channels-last: torch's channels-last bilinear kernel (bit-exact)
        x = F.interpolate(x.permute(2, 0, 1).unsqueeze(0), (newh, neww), mode="bilinear",
                          align_corners=False).squeeze(0)
        mean = torch.tensor(self.pixel_mean).view(-1, 1, 1)
        std = torch.tensor(self.pixel_std).view(-1, 1, 1)
        resized = x
        x = (x - mean) / std
        x = torch.stack([F.pad(x, [0, 0, 0, 0], value=self.pad_value)])  # Preprocess.pad, one image
        raw = torch.tensor([[h, w]])
        sizes = torch.tensor([[newh, neww]])
        return resized, x, sizes[0], torch.true_divide(raw, sizes)[0], raw[0]

    def backbone(self, x, out):
        x = F.relu_(self.conv_bn(x, "backbone.stem.conv1", "backbone", 2, 3))
        if self.caffe_maxpool:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=0, ceil_mode=True)
        else:
            x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        out["stem"] = x
        for k in (2, 3, 4):
            for i in range(self.blocks[f"backbone.res{k}"]):
                x = self.bottleneck(x, f"backbone.res{k}.{i}", "backbone", 2 if (k > 2 and i == 0) else 1, 1)
            out[f"res{k}"] = x
        return x

    @staticmethod
    def apply_deltas(deltas, boxes, weights, clamp=math.log(1000.0 / 16)):
        """Box2BoxTransform.apply_deltas."""
        boxes = boxes.to(deltas.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = torch.clamp(deltas[:, 2::4] / ww, max=clamp)
        dh = torch.clamp(deltas[:, 3::4] / wh, max=clamp)
        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        pred = torch.zeros_like(deltas)
        pred[:, 0::4] = pred_ctr_x - 0.5 * pred_w
        pred[:, 1::4] = pred_ctr_y - 0.5 * pred_h
        pred[:, 2::4] = pred_ctr_x + 0.5 * pred_w
        pred[:, 3::4] = pred_ctr_y + 0.5 * pred_h
        return pred

    @staticmethod
    def clip(boxes, hw):  # _clip_box, in place
        h, w = hw
        boxes[:, 0].clamp_(min=0, max=w)
        boxes[:, 1].clamp_(min=0, max=h)
        boxes[:, 2].clamp_(min=0, max=w)
        boxes[:, 3].clamp_(min=0, max=h)

    def rpn(self, res4, size, out):
        """RPNHead, AnchorGenerator, predict_proposals, find_top_rpn_proposals, re-sort."""
        p = "proposal_generator.rpn_head"
        t = F.relu(self.conv(res4, p + ".conv", "rpn", padding=1, bias=True))
        obj = self.lin(t, p + ".objectness_logits", "rpn")
        deltas = self.lin(t, p + ".anchor_deltas", "rpn")
        out["rpn_hidden"], out["rpn_objectness"], out["rpn_deltas"] = t[0], obj[0], deltas[0]
        n, _, hi, wi = deltas.shape
        # anchors: grid (16x, 16y, 16x, 16y) + cell_anchors, flattened (y, x, a)
        s, off = FEATURE_STRIDE, self.anchor_offset
        shifts_x = torch.arange(off * s, wi * s, step=s, dtype=torch.float32)
        shifts_y = torch.arange(off * s, hi * s, step=s, dtype=torch.float32)
        shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
        shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
        shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
        cell = self.w["proposal_generator.anchor_generator.cell_anchors.0"]
        anchors = (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4)
        d = deltas.view(n, -1, 4, hi, wi).permute(0, 3, 4, 1, 2).reshape(-1, 4)
        proposals = self.apply_deltas(d, anchors, self.rpn_weights)
        logits = obj.permute(0, 2, 3, 1).reshape(n, -1)
        out["rpn_anchors"], out["rpn_logits_flat"], out["rpn_proposals_all"] = anchors, logits[0], proposals
        # top-k by logit (torch.sort, as HF), clip, drop empty, NMS, cut, re-sort
        k = min(self.pre_nms_topk, logits.shape[1])
        sorted_logits, idx = logits.sort(descending=True, dim=1)
        topk_scores, topk_idx = sorted_logits[0, :k], idx[0, :k]
        boxes = proposals[topk_idx]
        self.clip(boxes, size)
        out["rpn_topk_idx"], out["rpn_topk_boxes"] = topk_idx, boxes.clone()
        keep = ((boxes[:, 2] - boxes[:, 0]) > self.rpn_min_size) & ((boxes[:, 3] - boxes[:, 1]) > self.rpn_min_size)
        cand = torch.arange(k)
        if keep.sum().item() != len(boxes):
            boxes, topk_scores, cand = boxes[keep], topk_scores[keep], cand[keep]
        keep = nms(boxes, topk_scores, self.rpn_nms_thresh)  # = batched_nms with one level
        out["rpn_nms_keep"] = topk_idx[cand[keep]]
        keep = keep[:self.post_nms_topk]
        boxes, scores = boxes[keep], topk_scores[keep]
        scores, inds = scores.sort(descending=True)
        out["proposals"], out["proposal_logits"] = boxes[inds], scores
        return boxes[inds]

    def roi_heads(self, res4, proposals, out):
        """Res5ROIHeads: RoIPool, res5, mean over 14x14."""
        rois = torch.cat([torch.zeros(len(proposals), 1), proposals], dim=1)
        x = roi_pool(res4, rois, (self.pooler, self.pooler), 1.0 / FEATURE_STRIDE)
        out["roi_pooled"] = x
        stride, dil = (2, 1) if self.res5halve else (1, 2)
        for i in range(self.blocks["roi_heads.res5"]):
            x = self.bottleneck(x, f"roi_heads.res5.{i}", "roi", stride if i == 0 else 1, dil)
        out["res5_roi0"] = x[0]
        feats = x.mean(dim=[2, 3])
        out["roi_features_all"] = feats
        return feats

    def box_head(self, f, proposals, size, scales_yx, out):
        """FastRCNNOutputLayers, then ROIOutputs.inference (do_nms with threshold retries)."""
        p = "roi_heads.box_predictor"
        scores = self.lin(f, p + ".cls_score", "head")
        deltas = self.lin(f, p + ".bbox_pred", "head")
        _, max_class = scores.max(-1)
        e = F.embedding(max_class, self.w[p + ".cls_embedding.weight"])
        h = F.relu(self.lin(torch.cat([f, e], -1), p + ".fc_attr", "head"))
        attr = self.lin(h, p + ".attr_score", "head")
        out.update(cls_logits=scores, attr_logits=attr, box_deltas=deltas, attr_embed_class=max_class)
        # _predict_boxes, _predict_objs, _predict_attrs
        npred, kc = deltas.shape[0], deltas.shape[1] // 4
        props = proposals.unsqueeze(-2).expand(npred, kc, 4).reshape(-1, 4)
        boxes = self.apply_deltas(deltas.view(npred * kc, 4), props, self.box_weights).view(npred, kc * 4)
        probs = F.softmax(scores, dim=-1)
        attr_probs, attr_ids = attr[..., :-1].softmax(-1).max(-1)
        out.update(cls_probs=probs, roi_attr_ids=attr_ids, roi_attr_probs=attr_probs, roi_boxes=boxes.clone())
        # do_nms, per threshold until one leaves at least min_detections
        fg = probs[:, :-1]
        flat = boxes.reshape(-1, 4)
        self.clip(flat, size)
        boxes = flat.view(-1, kc, 4)
        max_scores, max_classes = fg.max(1)
        max_boxes = boxes.view(-1, 4)[torch.arange(npred) * kc + max_classes]
        out.update(roi_boxes_clipped=flat.view(npred, kc * 4), roi_max_scores=max_scores,
                   roi_max_classes=max_classes, roi_max_boxes=max_boxes)
        tried, survivors, keep = [], [], None
        for thr in self.nms_thresh:
            k = nms(max_boxes, max_scores, thr)
            tried.append(thr)
            survivors.append(len(k))
            k = k[:self.max_det]
            if self.min_det <= len(k) <= self.max_det:
                keep = k
                break
        if keep is None:  # HF raises here (max_boxes unbound); keep the last try's boxes
            keep = k
        out["det_nms_thresh_tried"] = torch.tensor(tried, dtype=torch.float32)
        out["det_nms_survivors"] = torch.tensor(survivors)
        out["det_keep"] = keep
        b = max_boxes[keep]
        b[:, 0::2] *= scales_yx[1]
        b[:, 1::2] *= scales_yx[0]
        out.update(boxes=b, obj_ids=max_classes[keep], obj_probs=max_scores[keep],
                   attr_ids=attr_ids[keep], attr_probs=attr_probs[keep], roi_features=f[keep])
        return probs

    def caffe_select(self, proposals, probs, attr_ids, attr_probs, feats, scales_yx, out, exact=True):
        """Second selection (README): per-class NMS at 0.3 on the unregressed proposals,
        max_conf >= 0.2, MIN_BOXES = MAX_BOXES = max_detections."""
        cls_boxes = proposals.clone()
        cls_boxes[:, 0::2] *= scales_yx[1]
        cls_boxes[:, 1::2] *= scales_yx[0]
        nc = probs.shape[1] - 1
        max_conf = np.zeros(len(proposals))  # float64, as Caffe
        if exact:
            bx = cls_boxes.numpy()
            pr = probs.numpy()
            for c in range(nc):
                keep = caffe_cpu_nms(bx, pr[:, c], 0.3)
                s = pr[keep, c]
                max_conf[keep] = np.where(s > max_conf[keep], s, max_conf[keep])
        else:  # torchvision on (x1, y1, x2 + 1, y2 + 1): the same IoUs up to rounding, `>`
            plus = cls_boxes + torch.tensor([0.0, 0.0, 1.0, 1.0])
            rows = torch.arange(len(proposals)).repeat(nc)
            cls = torch.arange(nc).repeat_interleave(len(proposals))
            sc = probs[:, :nc].t().reshape(-1)
            keep = torchvision.ops.batched_nms(plus[rows], sc, cls, 0.3)
            mc = torch.zeros(len(proposals)).index_reduce_(0, rows[keep], sc[keep], "amax")
            max_conf = mc.double().numpy()
        sel = np.where(max_conf >= 0.2)[0]
        if len(sel) < self.min_det:
            sel = np.argsort(max_conf)[::-1][:self.min_det]
        elif len(sel) > self.max_det:
            sel = np.argsort(max_conf)[::-1][:self.max_det]
        keep = torch.from_numpy(sel.copy())
        fg = probs[keep, :nc]
        p, ids = fg.max(1)
        out.update(caffe_cls_boxes=cls_boxes, caffe_max_conf=torch.from_numpy(max_conf.astype(np.float32)),
                   caffe_keep=keep, caffe_boxes=cls_boxes[keep], caffe_obj_ids=ids, caffe_obj_probs=p,
                   caffe_attr_ids=attr_ids[keep], caffe_attr_probs=attr_probs[keep],
                   caffe_roi_features=feats[keep])

    def forward(self, img, caffe=False, caffe_exact=True, times=None):
        """Every stage for one image (uint8 HWC); `times`: a dict to add stage seconds to."""
        out = {}
        self.flops = {}
        t = [time.perf_counter()]

        def lap(stage):
            t.append(time.perf_counter())
            if times is not None:
                times[stage] = times.get(stage, 0.0) + t[-1] - t[-2]
        resized, x, size, scales_yx, raw = self.preprocess(img)
        out.update(resized=resized, input=x[0], resized_hw=size, scales_yx=scales_yx, raw_hw=raw)
        lap("resize")
        res4 = self.backbone(x, out)
        lap("backbone")
        proposals = self.rpn(res4, size, out)
        lap("rpn")
        feats = self.roi_heads(res4, proposals, out)
        lap("roi")
        probs = self.box_head(feats, proposals, size, scales_yx, out)
        original = size * scales_yx  # HF's original_sizes (float32)
        out["original_hw_f32"] = original
        out["normalized_boxes"] = out["boxes"] / original[[1, 0, 1, 0]]
        if caffe:
            self.caffe_select(proposals, probs, out["roi_attr_ids"], out["roi_attr_probs"], feats,
                              scales_yx, out, caffe_exact)
            out["caffe_normalized_boxes"] = out["caffe_boxes"] / original[[1, 0, 1, 0]]
        lap("head")
        for k in ("stem", "res2", "res3", "res4"):
            out[k] = out[k][0]
        return out


def caffe_cpu_nms(dets, scores, thresh):
    """py-faster-rcnn lib/nms/cpu_nms.pyx in float32 numpy: +1 pixel areas, suppress at >=."""
    x1, y1, x2, y2 = (dets[:, i].astype(np.float32) for i in range(4))
    one = np.float32(1)
    areas = (x2 - x1 + one) * (y2 - y1 + one)
    order = scores.astype(np.float32).argsort()[::-1]
    suppressed = np.zeros(len(dets), dtype=bool)
    keep = []
    for _i, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        j = order[_i + 1:]
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]) + one)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]) + one)
        inter = w * h
        ovr = inter / ((areas[i] + areas[j]) - inter)
        suppressed[j[ovr.astype(np.float64) >= thresh]] = True
    return np.array(keep, dtype=np.int64)


# ---------------------------------------------------------------- check
# Tolerances: exact for the resize, integers and discrete decisions; boxes 1e-3 px;
# other floats 1e-4 relative (1e-4 absolute below magnitude 1).
EXACT = {"raw_hw", "resized_hw", "scales_yx", "original_hw_f32", "resized", "input", "rpn_anchors",
         "rpn_topk_idx", "rpn_nms_keep", "attr_embed_class", "roi_attr_ids", "roi_max_classes",
         "det_nms_thresh_tried", "det_nms_survivors", "det_keep", "obj_ids", "attr_ids",
         "caffe_keep", "caffe_obj_ids", "caffe_attr_ids"}
BOXES_PX = {"rpn_proposals_all", "rpn_topk_boxes", "proposals", "roi_boxes", "roi_boxes_clipped",
            "roi_max_boxes", "boxes", "caffe_cls_boxes", "caffe_boxes"}
ORDER = ["raw_hw", "resized_hw", "scales_yx", "original_hw_f32", "resized", "input", "stem", "res2",
         "res3", "res4", "rpn_hidden", "rpn_objectness", "rpn_deltas", "rpn_anchors", "rpn_logits_flat",
         "rpn_proposals_all", "rpn_topk_idx", "rpn_topk_boxes", "rpn_nms_keep", "proposals",
         "proposal_logits", "roi_pooled", "res5_roi0", "roi_features_all", "cls_logits", "attr_logits",
         "box_deltas", "attr_embed_class", "cls_probs", "roi_attr_ids", "roi_attr_probs", "roi_boxes",
         "roi_boxes_clipped", "roi_max_scores", "roi_max_classes", "roi_max_boxes",
         "det_nms_thresh_tried", "det_nms_survivors", "det_keep", "boxes", "normalized_boxes",
         "obj_ids", "obj_probs", "attr_ids", "attr_probs", "roi_features", "caffe_cls_boxes",
         "caffe_max_conf", "caffe_keep", "caffe_boxes", "caffe_normalized_boxes", "caffe_obj_ids",
         "caffe_obj_probs", "caffe_attr_ids", "caffe_attr_probs", "caffe_roi_features"]


def compare(name, g, x, orig_hw):
    """(ok, bit_identical, max abs diff, note) for one tensor."""
    if name == "res5_roi0" and x.shape != g.shape and x.shape == g.shape[1:]:
        g = g[0]  # the fixture stores channel 0 of proposal 0 only
    if tuple(g.shape) != tuple(x.shape):
        return False, False, float("inf"), f"shape {tuple(g.shape)} != {tuple(x.shape)}"
    same = torch.equal(g, x)
    if not g.is_floating_point():
        return same, same, 0.0 if same else float("inf"), ""
    d = (g.double() - x.double()).abs()
    m = d.max().item() if d.numel() else 0.0
    if name in EXACT:
        return same, same, m, ""
    if name in BOXES_PX:
        return bool((d <= 1e-3).all()), same, m, ""
    if name.endswith("normalized_boxes"):
        scale = torch.tensor([orig_hw[1], orig_hw[0]] * 2, dtype=torch.float64)
        return bool((d * scale <= 1e-3).all()), same, m, ""
    if name == "caffe_max_conf" and not torch.equal(g == 0, x == 0):
        return False, False, m, "rows with max_conf 0 differ"
    return bool((d <= 1e-4 * torch.clamp(x.double().abs(), min=1.0)).all()), same, m, ""


def check_layout(w_fixture, config_text):
    """The randmodel writer, at the fixture's widths, gives the fixture's names, shapes,
    dtypes and storage order (so the full-size file has the real checkpoint's layout), and
    its config.yaml template with the fixture's values gives the fixture's file."""
    widths = {"stem": w_fixture["backbone.stem.conv1.weight"].shape[0],
              "res2": w_fixture["backbone.res2.0.conv3.weight"].shape[0],
              "rpn_hidden": w_fixture["proposal_generator.rpn_head.conv.weight"].shape[0],
              "classes": w_fixture["roi_heads.box_predictor.cls_score.weight"].shape[0] - 1,
              "attrs": w_fixture["roi_heads.box_predictor.attr_score.weight"].shape[0] - 1,
              "anchor_sizes": [16, 32, 64, 128]}
    sd = random_state_dict(widths, torch.Generator().manual_seed(0), shapes_only=True)
    got = {k: (v.dtype, tuple(v.shape)) for k, v in sd.items()}
    want = {k: (v.dtype, tuple(v.shape)) for k, v in w_fixture.items()}
    _, order = safetensors_header(sd, {})
    text = CONFIG_YAML.format(min_size=96, max_size=160, hidden=widths["rpn_hidden"],
                              anchor_sizes=widths["anchor_sizes"], pre_nms=200, post_nms=50,
                              classes=widths["classes"], attrs=widths["attrs"], width=widths["res2"] // 4,
                              res2=widths["res2"], stem=widths["stem"], detections=20)
    # read_safetensors keeps the file's order
    return got == want and order == list(w_fixture) and text == config_text


AVX2_KERNELS = {"ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}


def cmd_check(args):
    if args.bit_exact and any(os.environ.get(k) != v for k, v in AVX2_KERNELS.items()):
        # the libraries read these when they load: run again with them set
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **AVX2_KERNELS})
    torch.set_num_threads(args.threads)
    fx = os.path.join(args.fixtures, "frcnn")
    mdir = os.path.join(fx, "models", "frcnn-tiny")
    w = read_safetensors(os.path.join(mdir, "model.safetensors"))
    with open(os.path.join(fx, "expected", "index.json")) as f:
        index = json.load(f)
    bad = 0
    with open(os.path.join(mdir, "config.yaml")) as f:
        layout = check_layout(w, f.read())
    print(f"randmodel at the fixture's widths: {'ok (640 names, shapes, dtypes, order; config.yaml)' if layout else 'FAIL'}")
    bad += not layout
    for entry in index["images"]:
        exp, meta = read_safetensors(os.path.join(fx, entry["expected"]), with_meta=True)
        ties = entry["margins"].get("rpn_topk_near_tie_adjacent", 0) > 0
        runs = {}
        for exact in (True, False):
            model = Frcnn({k: v.clone() for k, v in w.items()}, read_config(mdir))
            with torch.inference_mode():
                runs[exact] = model.forward(exp["image_net"].numpy(), caffe=True, caffe_exact=exact)
        got = runs[True]
        ties = ties and not torch.equal(got["rpn_topk_idx"], exp["rpn_topk_idx"])
        if ties:  # near ties swapped: compare the top-k sorted by anchor index
            for o in (got, exp):
                order = o["rpn_topk_idx"].argsort()
                o["rpn_topk_idx"], o["rpn_topk_boxes"] = o["rpn_topk_idx"][order], o["rpn_topk_boxes"][order]
        fails, exact_names, tol_names = [], [], []
        names = [n for n in ORDER if n in exp] + sorted(set(exp) - set(ORDER) - {"image_bgr", "image_net"})
        for name in names:
            if name not in got:
                fails.append(f"{name}: not computed")
                continue
            ok, same, m, note = compare(name, got[name], exp[name], exp["original_hw_f32"].tolist())
            (exact_names if same else tol_names).append(f"{name}" + ("" if same else f" {m:.2g}"))
            if not ok:
                fails.append(f"{name}: max abs diff {m:.3g} {note}".rstrip())
            elif args.bit_exact and not same:
                fails.append(f"{name}: not bit-identical (max abs diff {m:.3g})")
        for name in [n for n in names if n.startswith("caffe_")]:
            if not torch.equal(runs[False][name], got[name]):
                fails.append(f"{name}: torchvision form of the Caffe NMS differs from cpu_nms")
        status = "ok" if not fails else "FAIL"
        print(f"{entry['image']}: {status} {len(names)} tensors ({meta.get('network_channel_order')}, "
              f"{entry['det_nms_tries']}, caffe {entry['caffe_branch']}"
              f"{', near-tie top-k order compared by index' if ties else ''}); "
              f"{len(exact_names)} bit-identical; the others, max abs diff: "
              f"{', '.join(tol_names) or 'none'}"
              + ("\n  first mismatch: " + "\n  ".join(fails) if fails else ""))
        bad += status != "ok"
    sys.exit(1 if bad else 0)


# ---------------------------------------------------------------- randmodel
REAL = {"stem": 64, "res2": 256, "rpn_hidden": 512, "classes": 1600, "attrs": 400,
        "anchor_sizes": [64, 128, 256, 512]}


def cell_anchors(sizes, ratios=(0.5, 1.0, 2.0)):
    """AnchorGenerator.generate_cell_anchors (double, then float32)."""
    a = []
    for size in sizes:
        area = size ** 2.0
        for r in ratios:
            w = math.sqrt(area / r)
            h = r * w
            a.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(a).float()


def random_state_dict(widths, gen, shapes_only=False):
    """The real checkpoint's 640 names in state-dict order, random weights.

    Convolutions normal(0, sqrt(2/fan_in)); BN gamma U[0.6, 1.4] (U[0.2, 0.5] on each
    block's conv3, so the residual stream grows slowly over 33 blocks), beta N(0, 0.1);
    running statistics are placeholders until calibrate() sets them from a picture.
    """
    sd = {}

    def randn(*shape, std=1.0):
        return torch.empty(shape) if shapes_only else torch.randn(shape, generator=gen) * std

    def unif(n, lo, hi):
        return torch.empty(n) if shapes_only else torch.rand(n, generator=gen) * (hi - lo) + lo

    def conv_bn(p, cout, cin, k, gamma=(0.6, 1.4)):
        sd[p + ".weight"] = randn(cout, cin, k, k, std=math.sqrt(2.0 / (cin * k * k)))
        sd[p + ".norm.weight"] = unif(cout, *gamma)
        sd[p + ".norm.bias"] = randn(cout, std=0.1)
        sd[p + ".norm.running_mean"] = torch.zeros(cout)
        sd[p + ".norm.running_var"] = torch.ones(cout)
        sd[p + ".norm.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)

    def stage(prefix, n, cin, bott, cout):
        for i in range(n):
            p = f"{prefix}.{i}"
            if cin != cout:
                conv_bn(p + ".shortcut", cout, cin, 1)
            conv_bn(p + ".conv1", bott, cin, 1)
            conv_bn(p + ".conv2", bott, bott, 3)
            conv_bn(p + ".conv3", cout, bott, 1, gamma=(0.2, 0.5))
            cin = cout

    c0, c2 = widths["stem"], widths["res2"]
    conv_bn("backbone.stem.conv1", c0, 3, 7)
    stage("backbone.res2", 3, c0, c2 // 4, c2)
    stage("backbone.res3", 4, c2, c2 // 2, 2 * c2)
    stage("backbone.res4", 23, 2 * c2, c2, 4 * c2)
    c4, c5, hid = 4 * c2, 8 * c2, widths["rpn_hidden"]
    na = 3 * len(widths["anchor_sizes"])
    p = "proposal_generator."
    sd[p + "anchor_generator.cell_anchors.0"] = cell_anchors(widths["anchor_sizes"])
    sd[p + "rpn_head.conv.weight"] = randn(hid, c4, 3, 3, std=math.sqrt(2.0 / (c4 * 9)))
    sd[p + "rpn_head.conv.bias"] = torch.zeros(hid)
    sd[p + "rpn_head.objectness_logits.weight"] = randn(na, hid, 1, 1, std=math.sqrt(1.0 / hid))
    sd[p + "rpn_head.objectness_logits.bias"] = torch.zeros(na)
    sd[p + "rpn_head.anchor_deltas.weight"] = randn(4 * na, hid, 1, 1, std=math.sqrt(1.0 / hid))
    sd[p + "rpn_head.anchor_deltas.bias"] = torch.zeros(4 * na)
    stage("roi_heads.res5", 3, c4, c5 // 4, c5)
    p = "roi_heads.box_predictor."
    nc, nattr, emb = widths["classes"], widths["attrs"], c5 // 8
    sd[p + "cls_score.weight"] = randn(nc + 1, c5, std=math.sqrt(1.0 / c5))
    sd[p + "cls_score.bias"] = torch.zeros(nc + 1)
    sd[p + "bbox_pred.weight"] = randn(4 * nc, c5, std=math.sqrt(1.0 / c5))
    sd[p + "bbox_pred.bias"] = torch.zeros(4 * nc)
    sd[p + "cls_embedding.weight"] = randn(nc + 1, emb)
    sd[p + "fc_attr.weight"] = randn(c5 // 4, c5 + emb, std=math.sqrt(2.0 / (c5 + emb)))
    sd[p + "fc_attr.bias"] = torch.zeros(c5 // 4)
    sd[p + "attr_score.weight"] = randn(nattr + 1, c5 // 4, std=math.sqrt(1.0 / (c5 // 4)))
    sd[p + "attr_score.bias"] = torch.zeros(nattr + 1)
    return sd


def random_image(h, w, gen):
    """A smooth random picture (uint8 HWC): low-frequency colour blobs plus fine noise."""
    low = torch.rand(1, 3, max(2, h // 48), max(2, w // 48), generator=gen) * 255
    img = F.interpolate(low, (h, w), mode="bicubic", align_corners=False)[0]
    img = img + torch.randn(3, h, w, generator=gen) * 12
    return img.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


CONFIG_YAML = """\
model:
  load_proposals: false
  device: cpu
  max_pool: true
  chkpoint: ''
  pixel_mean: [102.9801, 115.9465, 122.7717]
  pixel_std: [1.0, 1.0, 1.0]
  num_channels: 3
input: {{max_size_train: 1333, min_size_train: 640, max_size_test: {max_size}, min_size_test: {min_size},
  format: BGR}}
backbone: {{freeze_at: 2}}
proposal_generator: {{hidden_channels: {hidden}, min_size: 0.0}}
anchor_generator:
  sizes:
  - {anchor_sizes}
  aspect_ratios:
  - [0.5, 1.0, 2.0]
  angles:
  - [-90.0, 0.0, 90.0]
  offset: 0
rpn:
  batch_size_per_image: 1
  pre_nms_topk_test: {pre_nms}
  post_nms_topk_test: {post_nms}
  pre_nms_topk_train: 12000
  post_nms_topk_train: 2000
  in_features: [res4]
  boundary_thresh: -1.0
  iou_thresholds: [0.3, 0.7]
  iou_labels: [0.0, -1.0, 1.0]
  positive_fraction: 0.5
  bbox_reg_weights: [1.0, 1.0, 1.0, 1.0]
  smooth_l1_beta: 0.0
  loss_weight: 1.0
  nms_thresh: 0.7
roi_heads:
  num_classes: {classes}
  in_features: [res4]
  iou_thresholds: [0.5]
  iou_labels: [0, 1]
  positive_fraction: 0.25
  score_thresh_test: 0.2
  nms_thresh_test: [0.5, 0.6, 0.7]
  proposal_append_gt: true
roi_box_head:
  bbox_reg_weights: [10.0, 10.0, 5.0, 5.0]
  smooth_l1_beta: 0.0
  pooler_resolution: 14
  pooler_sampling_ratio: 0
  res5halve: false
  attr: true
  num_attrs: {attrs}
  num_fc: 0
  fc_dim: 1024
  num_conv: 0
  conv_dim: 256
  cls_agnostic_bbox_reg: false
resnets:
  depth: 101
  out_features: [res4]
  num_groups: 1
  norm: BN
  width_per_group: {width}
  stride_in_1x1: true
  res5_dilation: 1
  res2_out_channels: {res2}
  stem_out_channels: {stem}
solver:
  lr_scheduler_name: warmupmultisteplr
  max_iter: 270000
  base_lr: 0.002
  momentum: 0.9
  weight_decay: 0.0001
  weight_decay_norm: 0.0
  gamma: 0.1
  steps: [210000, 250000]
  warmup_factor: 0.001
  warmup_iters: 1000
  warmup_method: linear
  checkpoint_period: 5000
  ims_per_batch: 1.0
  bias_lr_factor: 1.0
  weight_decay_bias: 0.0
size_divisibility: 0
pad_value: 0.0
min_detections: {detections}
max_detections: {detections}
"""


def cmd_randmodel(args):
    """A full-size detector with random weights, calibrated on one random picture: each BN's
    running statistics are its input's, so every BN output has the spread its gamma/beta
    give through all 104 convolutions; the RPN's and box head's layers are scaled over that
    picture's anchors and RoIs to logits of spread 2 (objectness, classes, attributes),
    0.2 (RPN deltas) and 1 (box deltas, before the 10/10/5/5 weights), each centred."""
    set_threads(args)
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(args.seed)
    w = random_state_dict(REAL, gen)
    text = CONFIG_YAML.format(min_size=800, max_size=1333, hidden=REAL["rpn_hidden"],
                              anchor_sizes=REAL["anchor_sizes"], pre_nms=6000, post_nms=300,
                              classes=REAL["classes"], attrs=REAL["attrs"], width=REAL["res2"] // 4,
                              res2=REAL["res2"], stem=REAL["stem"], detections=36)
    cfg = yaml.safe_load(text) if yaml else None
    if cfg is None:
        sys.exit("torch_frcnn.py: randmodel needs python3-yaml")
    # calibration: a 384x512 picture, 48 proposals (enough RoIs for the head's statistics)
    model = Frcnn(w, cfg, min_size=384, max_size=512, proposals=48)
    p = "proposal_generator.rpn_head."
    q = "roi_heads.box_predictor."
    model.calibrate = {p + "objectness_logits": 2.0, p + "anchor_deltas": 0.2,
                       q + "cls_score": 2.0, q + "bbox_pred": 1.0, q + "attr_score": 2.0}
    with torch.inference_mode():
        out = model.forward(random_image(384, 512, gen))
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(os.path.join(args.out, "model.safetensors"), w,
                      {"format": "pt", "source": f"bench/torch_frcnn.py randmodel --seed {args.seed}"})
    with open(os.path.join(args.out, "config.yaml"), "w") as f:
        f.write(text)
    r4 = out["res4"]
    n = sum(v.numel() for v in w.values())
    print(f"randmodel: {args.out}: {len(w)} tensors, {n / 1e6:.1f} M values; calibration picture: "
          f"res4 mean {r4.mean():.2f} std {r4.std():.2f} max {r4.max():.1f}, {len(out['proposals'])} "
          f"proposals, roi feature mean {out['roi_features_all'].mean():.2f}, "
          f"{len(out['det_keep'])} detections; {time.perf_counter() - t0:.1f} s")


def cmd_image(args):
    from PIL import Image  # python3-pil, a dependency of python3-torchvision
    img = random_image(args.height, args.width, torch.Generator().manual_seed(args.seed))
    Image.fromarray(img).save(args.out)


# ---------------------------------------------------------------- time
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
    version = ob.openblas_get_config().decode().split()[1]
    return f"OpenBLAS-{version}-{ob.openblas_get_corename().decode()}", ob.openblas_get_num_threads()


def cmd_time(args):
    blas, blas_threads = set_threads(args)
    model = Frcnn(read_safetensors(os.path.join(args.model, "model.safetensors")), read_config(args.model),
                  args.min_size, args.max_size, args.proposals)
    if args.image:
        from PIL import Image
        img = np.asarray(Image.open(args.image).convert("RGB"))
    else:
        img = random_image(args.height, args.width, torch.Generator().manual_seed(1))
    times = {}
    with torch.inference_mode():
        # Warm-up: the same picture with 16 proposals creates oneDNN's kernels for every
        # backbone shape and touches every weight; the first use of the 300-RoI shapes of
        # res5 measured no slower than its repeats, so one warm-up image at full cost
        # (~30 s here) would buy nothing.
        post = model.post_nms_topk
        model.post_nms_topk = min(post, 16)
        model.forward(img)
        model.post_nms_topk = post
        for _ in range(args.images):
            out = model.forward(img, caffe=args.caffe, caffe_exact=False, times=times)
    total = sum(times.values()) / args.images
    gflop = {s: model.flops.get(s, 0) / 1e9 for s in STAGES}
    h, w = out["resized_hw"].tolist()
    print(f"torch_s_per_image={total:.3f} gflop={sum(gflop.values()):.1f} images={args.images} "
          f"input={img.shape[0]}x{img.shape[1]} resized={h}x{w} proposals={len(out['proposals'])} "
          f"detections={len(out['det_keep'])} threads={torch.get_num_threads()} blas_threads={blas_threads} "
          f"torch={torch.__version__} torchvision={torchvision.__version__} blas={blas}")
    for s in STAGES:
        print(f"torch_stage={s} s={times[s] / args.images:.4f} gflop={gflop[s]:.2f}  # {STAGE_WHAT[s]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check", help="compare frcnn-tiny against the fixtures, both selections")
    p.add_argument("fixtures")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (fixtures: 1)")
    p.add_argument("--bit-exact", action="store_true",
                   help="with the fixture machine's kernels (oneDNN AVX2, OpenBLAS Haswell): every tensor bit-identical")
    p = sub.add_parser("time", help="steady-state seconds per image, per stage, with GFLOP")
    p.add_argument("model", help="HF model folder: config.yaml, model.safetensors")
    p.add_argument("--height", type=int, default=480, help="random picture's height")
    p.add_argument("--width", type=int, default=640, help="random picture's width")
    p.add_argument("--image", help="a picture file instead of a random one (PIL; its RGB is fed as is)")
    p.add_argument("--min-size", type=int, default=None, help="resize: short side (default: config)")
    p.add_argument("--max-size", type=int, default=None, help="resize: long side cap (default: config)")
    p.add_argument("--proposals", type=int, default=None, help="RPN post-NMS top-k (default: config)")
    p.add_argument("--images", type=int, default=1, help="images timed after a warm-up image")
    p.add_argument("--caffe", action="store_true", help="also the Caffe selection (in the head stage)")
    r = sub.add_parser("randmodel", help="write a full-size random detector (safetensors + yaml)")
    r.add_argument("out", help="output folder")
    r.add_argument("--seed", type=int, default=1)
    for q in (p, r):
        q.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch intra-op threads")
        q.add_argument("--blas-threads", type=int, default=DEFAULT_BLAS_THREADS,
                       help="OpenBLAS threads (0: leave as loaded, i.e. OPENBLAS_NUM_THREADS or all cores)")
    p = sub.add_parser("image", help="write a random picture (PNG)")
    p.add_argument("out")
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    {"check": cmd_check, "time": cmd_time, "randmodel": cmd_randmodel, "image": cmd_image}[args.cmd](args)


if __name__ == "__main__":
    main()
