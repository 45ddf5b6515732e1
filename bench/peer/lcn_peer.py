#!/usr/bin/env python3
"""
LCN's training graph written in PyTorch: the peer that bench/train-peer.ts measures tfjs
against (issue 8, item 3). It reads a case directory written by export-case.ts:
  config.json          the resolved LifelongConfig (graph meta)
  weights.safetensors  the parameters, keyed by the DSL's parameter paths
  batch.safetensors    one training batch (the DSL's feature names)
  ref.json             ref-cpu's float64 prob and loss on that batch (only for `check`)
and computes the SAME model (SPEC.md LCN; packages/spec models/lifelong.ts, blocks/{din,lap,crp}.ts).

  python3 lcn_peer.py check DIR            forward on the batch vs ref.json (max |dprob|, |dloss|)
  python3 lcn_peer.py bench DIR [steps] [threads]   training steps (forward + backward + Adam), samples/s;
                                                   threads: torch's intra-op threads (default: every core; this
                                                   machine's torch default is 1)

Only the configuration the benchmark uses is covered: module 'lap' with both levels on, softmax
normalisation, FSA mean pooling, CRP with the printed denominator, l2 = 0.
"""
import json
import math
import os
import struct
import sys
import time

import torch

F32_MAX = 3.4028234663852886e38
DT = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64, "BOOL": torch.bool}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(raw[base + a:base + b])
        dtype = DT[e["dtype"]]
        t = torch.frombuffer(buf, dtype=torch.uint8 if dtype == torch.bool else dtype) if len(buf) else torch.zeros(0, dtype=dtype)
        if dtype == torch.bool:
            t = t.to(torch.bool)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def masked_softmax(scores, mask, dim):
    raw_max = torch.where(mask, scores, torch.tensor(-F32_MAX, dtype=scores.dtype)).amax(dim=dim, keepdim=True)
    row_max = torch.where(raw_max > -1e38, raw_max, torch.zeros_like(raw_max)).detach()
    e = torch.exp(torch.where(mask, scores - row_max, torch.tensor(-math.inf, dtype=scores.dtype)))
    return e / e.sum(dim=dim, keepdim=True).clamp_min(1e-30)


def masked_mean(x, mask, dim=-2):
    m = mask.unsqueeze(-1)
    s = torch.where(m, x, torch.zeros((), dtype=x.dtype)).sum(dim=dim)
    return s / m.to(x.dtype).sum(dim=dim).clamp_min(1.0)


def topk_masked(scores, k, mask):
    """SPEC's top-k order: valid positions first, then score descending, then the lower index (a stable
    descending sort: torch.topk leaves ties unspecified, and a lifelong sequence repeats items, so ties occur)."""
    key = torch.where(mask, torch.maximum(scores, torch.tensor(-F32_MAX, dtype=scores.dtype)), torch.tensor(-math.inf, dtype=scores.dtype))
    values, idx = torch.sort(key, dim=-1, descending=True, stable=True)
    return idx[..., :k], values[..., :k] > -math.inf


class LcnPeer(torch.nn.Module):
    def __init__(self, cfg, weights, dtype=torch.float32):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict({k.replace("/", "__"): torch.nn.Parameter(v.to(dtype)) for k, v in weights.items()})
        self.dtype = dtype

    def w(self, name):
        return self.p[name.replace("/", "__")]

    def dense(self, prefix, x):
        return x @ self.w(prefix + "/w") + self.w(prefix + "/b")

    def mlp(self, prefix, x, n):
        for i in range(n):
            x = self.dense(f"{prefix}/l{i}", x)
            if i < n - 1:
                x = torch.relu(x)
        return x

    def din(self, prefix, keys, mask, query):
        d = keys.shape[-1]
        k = torch.where(mask.unsqueeze(-1), keys, torch.zeros((), dtype=keys.dtype))
        q = query.unsqueeze(-2)
        w = self.w(prefix + "/l0/w")
        wk, wq, wd, wp = w[:d], w[d:2 * d], w[2 * d:3 * d], w[3 * d:]
        h = k @ (wk + wd) + (k * q) @ wp + q @ (wq - wd) + self.w(prefix + "/l0/b")
        n = len(self.cfg["attention"]) + 1
        if n > 1:
            h = torch.relu(h)
        for i in range(1, n):
            h = self.dense(f"{prefix}/l{i}", h)
            if i < n - 1:
                h = torch.relu(h)
        a = torch.where(mask, h.squeeze(-1), torch.zeros((), dtype=h.dtype))
        return (k * a.unsqueeze(-1)).sum(dim=-2)

    def lap(self, items, context, mask, query):
        c = self.cfg["lap"]
        R = query.shape[0]
        zero = torch.zeros((), dtype=items.dtype)
        # CSA
        it = torch.where(mask.unsqueeze(-1), items, zero)
        scores = (it * query.unsqueeze(1)).sum(-1)
        w = masked_softmax(scores, mask, -1)
        csa = (it * w.unsqueeze(-1)).sum(1)
        # MSA over top-K1
        idx1, valid1 = topk_masked(scores, c["k1"], mask)
        rows_all = torch.cat([items, context], -1)

        def picked(idx, valid):
            g = torch.gather(rows_all, 1, idx.unsqueeze(-1).expand(-1, -1, rows_all.shape[-1]))
            return torch.where(valid.unsqueeze(-1), g, zero)

        da = c["attentionDim"]
        rows1 = picked(idx1, valid1)
        q = (query @ self.w("lap/msa/wq")).unsqueeze(1)
        keys, values = rows1 @ self.w("lap/msa/wk"), rows1 @ self.w("lap/msa/wv")
        s1 = (keys * q).sum(-1) / math.sqrt(da)
        a1 = masked_softmax(s1, valid1, -1)
        msa = (values * a1.unsqueeze(-1)).sum(1)
        # FSA over top-K2 of the MSA scores
        sub, valid2 = topk_masked(s1, c["k2"], valid1)
        idx2 = torch.gather(idx1, 1, sub)
        rows2 = picked(idx2, valid2)
        l, dh = c["heads"], c["headDim"]
        q2 = (query @ self.w("lap/fsa/wq")).reshape(R, 1, l, dh)
        k2 = (rows2 @ self.w("lap/fsa/wk")).reshape(R, -1, l, dh)
        v2 = (rows2 @ self.w("lap/fsa/wv")).reshape(R, -1, l, dh)
        s2 = (k2 * q2).sum(-1) / math.sqrt(dh)
        a2 = masked_softmax(s2, valid2.unsqueeze(-1), 1)
        h = (v2 * a2.unsqueeze(-1)).reshape(R, -1, l * dh)
        fsa = masked_mean(self.mlp("lap/fsa/ffn", h, 2), valid2)
        return torch.cat([csa, msa, fsa], 1)

    def crp_term(self, t1, t2, pos, pos_mask, neg, neg_mask):
        tau = self.cfg["crp"]["temperature"]

        def cos(ids, mask):
            ids = torch.where(mask.unsqueeze(-1), ids, torch.zeros((), dtype=ids.dtype)).long()
            e1 = t1[ids[:, 0]]
            e2 = t2[ids[:, 1]]
            e1 = e1 / e1.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            e2 = e2 / e2.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            return (e1 * e2).sum(-1)

        z_pos = cos(pos, pos_mask) / tau
        z_neg = cos(neg, neg_mask) / tau
        neg_max = torch.where(neg_mask, z_neg, torch.tensor(-F32_MAX, dtype=z_neg.dtype)).max()
        shift = torch.where(neg_max > -1e38, neg_max, torch.zeros_like(neg_max)).detach()
        e = torch.exp(torch.where(neg_mask, z_neg - shift, torch.tensor(-math.inf, dtype=z_neg.dtype)))
        lse = shift + torch.log(e.sum().clamp_min(1e-30))
        per_row = lse - z_pos
        s = torch.where(pos_mask, per_row, torch.zeros((), dtype=per_row.dtype)).sum()
        mean = s / pos_mask.to(per_row.dtype).sum().clamp_min(1.0)
        return torch.where(neg_mask.any(), mean, torch.zeros((), dtype=mean.dtype))

    def forward(self, b):
        cfg = self.cfg
        emb = lambda name: self.w("emb/" + name)
        L = lambda name: b[name].long()
        cat = emb("category")
        item = lambda table, ids, cats: torch.cat([emb(table)[L(ids)], cat[L(cats)]], -1)
        context = []
        if cfg["users"] > 0:
            context.append(emb("user")[L("user")])
        for k in range(len(cfg["profile"])):
            context.append(emb(f"profile{k}")[L("profile")[:, k]])
        cand = item("targetItem", "candidate", "candidateCategory")
        pooled = []
        for name, table in (("target", "targetItem"), ("source", "sourceItem")):
            if name in cfg["sequences"]:
                pooled.append(self.din(f"din/{name}/att", item(table, f"{name}Seq", f"{name}SeqCategory"), b[f"{name}SeqMask"], cand))
        seq = item("sourceItem", "lifelongSeq", "lifelongSeqCategory")
        ctx = L("lifelongContext")
        ctx_emb = torch.cat([emb(f"context{k}")[ctx[..., k]] for k in range(len(cfg["context"]))], -1)
        lifelong = self.lap(seq, ctx_emb, b["lifelongMask"], cand)
        x = torch.cat(context + [cand] + pooled + [lifelong], 1)
        logit = self.mlp("mlp", x, len(cfg["hidden"]) + 1).squeeze(-1)
        label = b["label"].to(logit.dtype)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, label)
        loss = bce
        crp = cfg["crp"]
        if crp["lambda"] > 0:
            tt, st = emb("targetItem"), emb("sourceItem")
            terms = {
                "pt": self.crp_term(tt, tt, b["crpPt"], b["crpPtMask"], b["crpPtNeg"], b["crpPtNegMask"]),
                "ps": self.crp_term(st, st, b["crpPs"], b["crpPsMask"], b["crpPsNeg"], b["crpPsNegMask"]),
                "pc": self.crp_term(tt, st, b["crpPc"], b["crpPcMask"], b["crpPcNeg"], b["crpPcNegMask"]),
            }
            crp_loss = sum(terms[k] * crp["weights"][k] for k in ("pt", "ps", "pc") if crp["weights"][k] != 0)
            loss = loss + crp["lambda"] * crp_loss
        return torch.sigmoid(logit), loss


def load(case):
    cfg = json.load(open(f"{case}/config.json"))
    return cfg, read_safetensors(f"{case}/weights.safetensors"), read_safetensors(f"{case}/batch.safetensors")


def check(case):
    cfg, w, b = load(case)
    ref = json.load(open(f"{case}/ref.json"))
    out = {}
    for name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        m = LcnPeer(cfg, w, dtype)
        with torch.no_grad():
            prob, loss = m(b)
        dp = (prob.double() - torch.tensor(ref["prob"], dtype=torch.float64)).abs().max().item()
        out[name] = {"maxAbsProb": dp, "absLoss": abs(loss.item() - ref["loss"]), "loss": loss.item()}
    out["refLoss"] = ref["loss"]
    print(json.dumps(out))


def bench(case, steps, threads):
    torch.set_num_threads(threads)
    cfg, w, b = load(case)
    m = LcnPeer(cfg, w, torch.float32)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    batch = b["label"].shape[0]

    def step():
        opt.zero_grad(set_to_none=True)
        _, loss = m(b)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - t0) / steps * 1000
    print(json.dumps({"msPerStep": ms, "samplesPerSec": batch / ms * 1000, "threads": torch.get_num_threads(), "torch": torch.__version__,
                      "blas": "openblas" if "openblas" in torch.__config__.show().lower() else "see torch.__config__"}))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "bench"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        bench(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10, int(sys.argv[4]) if len(sys.argv) > 4 else (os.cpu_count() or 1))
