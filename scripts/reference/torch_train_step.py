#!/usr/bin/python3
"""One LLaMA / Qwen-style decoder training step in plain PyTorch (CPU): the reference that
`unlearnkit bench train --reference` times our engine against (src/bench/trainReference.ts).

The model is the one unlearnkit trains (src/model/llama.ts, docs/architecture.md#the-reference-training-step):
token embedding, n_layers blocks of
    h = rms_norm(x) * attn_norm
    q, k, v = W_q h (+ b_q), W_k h (+ b_k), W_v h (+ b_v)          (--qkv_bias)
    q, k = rms_norm_per_head(q) * q_norm, ... * k_norm              (--qk_norm, Qwen3)
    q, k = rope(q), rope(k)                                         (--rope normal: adjacent pairs, ggml mode 0;
                                                                     neox: halves, ggml mode 2)
    o = softmax(q k^T / sqrt(head_dim) + causal mask) v             (grouped-query: --n_kv_heads, each KV head
                                                                     serves n_heads / n_kv_heads query heads)
    x = x + W_o o
    x = x + W_down (silu(W_gate h2) * W_up h2),  h2 = rms_norm(x) * ffn_norm
then rms_norm * output_norm and the output projection (--tied: the embedding matrix), mean token
cross-entropy, and AdamW as ggml's opt_step_adamw computes it (decoupled weight decay on every
trained tensor: w <- w (1 - lr wd) - lr m_hat / (sqrt(v_hat) + eps)).

LoRA mode (--lora_rank r): every base weight frozen; each linear layer named in --lora_targets gets
y = W x + (alpha / r) B (A x) with A [r, d_in] ~ U(-1/sqrt(d_in), 1/sqrt(d_in)), B [d_out, r] = 0 (Hu et al. 2021), and
only A and B are trained.

Output with --json: one JSON line (step times, median, parameters, trainable parameters, peak RSS,
first and last loss). Needs Debian's python3-torch (the system /usr/bin/python3, not a pyenv one);
unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for the run (the machines set them for older OpenBLAS
builds). --blas_threads sets OpenBLAS's own threads (default 1: torch's intra-op threads and
OpenBLAS's pthreads oversubscribe the cores otherwise; --blas_threads 0 leaves OpenBLAS's default).
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
p.add_argument('--dim', type=int, default=256)
p.add_argument('--n_layers', type=int, default=4)
p.add_argument('--n_heads', type=int, default=8)
p.add_argument('--n_kv_heads', type=int, default=0, help='KV heads (default: n_heads)')
p.add_argument('--head_dim', type=int, default=0, help='head size (default: dim / n_heads)')
p.add_argument('--ffn', type=int, default=688)
p.add_argument('--vocab', type=int, default=512)
p.add_argument('--seq_len', type=int, default=128)
p.add_argument('--batch', type=int, default=8)
p.add_argument('--threads', type=int, default=2)
p.add_argument('--blas_threads', type=int, default=1)
p.add_argument('--tied', action='store_true', help='output projection = the embedding matrix')
p.add_argument('--qkv_bias', action='store_true', help='Q/K/V biases (Qwen2)')
p.add_argument('--qk_norm', action='store_true', help='per-head RMSNorm of q and k before rope (Qwen3)')
p.add_argument('--rope', choices=['normal', 'neox'], default='normal')
p.add_argument('--rope_theta', type=float, default=10000.0)
p.add_argument('--norm_eps', type=float, default=1e-5)
p.add_argument('--lora_rank', type=int, default=0, help='train LoRA adapters of this rank only (0: full fine-tuning)')
p.add_argument('--lora_alpha', type=float, default=0, help='LoRA alpha (default: the rank)')
p.add_argument('--lora_targets', default='q,k,v,o,gate,up,down')
p.add_argument('--lr', type=float, default=1e-3)
p.add_argument('--weight_decay', type=float, default=0.1)
p.add_argument('--steps', type=int, default=10)
p.add_argument('--warmup', type=int, default=2)
p.add_argument('--seed', type=int, default=0)
p.add_argument('--json', action='store_true', help='print one JSON object instead of text')
args = p.parse_args()
# OpenMP's default is to spin after each parallel region: on a machine shared with other processes the
# spinning threads take the cores the working ones need (the reference step ran ~4x slower); PASSIVE
# makes them sleep, as ggml's threadpool does between graphs. Measured best here with --blas_threads 1.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
if args.blas_threads > 0:
    os.environ['OPENBLAS_NUM_THREADS'] = str(args.blas_threads)  # before torch loads OpenBLAS

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(args.seed)
n_kv = args.n_kv_heads or args.n_heads
hd = args.head_dim or args.dim // args.n_heads
if args.n_heads % n_kv:
    sys.exit(f'n_heads {args.n_heads} is not a multiple of n_kv_heads {n_kv}')


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Linear(nn.Module):
    """y = W x (+ b), with an optional LoRA branch (alpha / r) B A x."""

    def __init__(self, d_in, d_out, bias=False, lora=0, alpha=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d_out, d_in) * 0.02)
        self.bias = nn.Parameter(torch.zeros(d_out)) if bias else None
        self.lora = lora
        if lora:
            bound = 1 / math.sqrt(d_in)  # A ~ U(-1/sqrt(d_in), 1/sqrt(d_in)), B = 0, as unlearnkit's lora.ts initLoraFactors
            self.a = nn.Parameter(torch.empty(lora, d_in).uniform_(-bound, bound))
            self.b = nn.Parameter(torch.zeros(d_out, lora))
            self.scale = (alpha or lora) / lora

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.lora:
            y = y + F.linear(F.linear(x, self.a), self.b) * self.scale
        return y


def rope_tables(seq_len, head_dim, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    f = torch.outer(torch.arange(seq_len).float(), inv)  # (T, hd/2)
    return f.cos(), f.sin()


def apply_rope(x, cos, sin, mode):  # x (B, H, T, hd)
    if mode == 'normal':  # adjacent pairs (2i, 2i+1)
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    half = x.shape[-1] // 2  # neox: (i, i + hd/2)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


def lora_of(name):
    return args.lora_rank if args.lora_rank and name in targets else 0


targets = set(t.strip() for t in args.lora_targets.split(',') if t.strip())


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        d, a = args.dim, args.lora_alpha
        self.wq = Linear(d, args.n_heads * hd, args.qkv_bias, lora_of('q'), a)
        self.wk = Linear(d, n_kv * hd, args.qkv_bias, lora_of('k'), a)
        self.wv = Linear(d, n_kv * hd, args.qkv_bias, lora_of('v'), a)
        self.wo = Linear(args.n_heads * hd, d, False, lora_of('o'), a)
        self.w_gate = Linear(d, args.ffn, False, lora_of('gate'), a)
        self.w_up = Linear(d, args.ffn, False, lora_of('up'), a)
        self.w_down = Linear(args.ffn, d, False, lora_of('down'), a)
        self.attn_norm = RMSNorm(d, args.norm_eps)
        self.ffn_norm = RMSNorm(d, args.norm_eps)
        if args.qk_norm:
            self.q_norm = RMSNorm(hd, args.norm_eps)
            self.k_norm = RMSNorm(hd, args.norm_eps)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, args.n_heads, hd)
        k = self.wk(h).view(B, T, n_kv, hd)
        v = self.wv(h).view(B, T, n_kv, hd)
        if args.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q, k = apply_rope(q, cos, sin, args.rope), apply_rope(k, cos, sin, args.rope)
        if n_kv != args.n_heads:
            rep = args.n_heads // n_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        att = att.masked_fill(mask, float('-inf')).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, args.n_heads * hd)
        x = x + self.wo(o)
        h2 = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h2)) * self.w_up(h2))


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(args.vocab, args.dim)
        nn.init.normal_(self.tok.weight, std=0.02)
        self.layers = nn.ModuleList([Block() for _ in range(args.n_layers)])
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.out = None if args.tied else nn.Parameter(torch.randn(args.vocab, args.dim) * 0.02)
        cos, sin = rope_tables(args.seq_len, hd, args.rope_theta)
        self.register_buffer('cos', cos)
        self.register_buffer('sin', sin)
        self.register_buffer('mask', torch.triu(torch.ones(args.seq_len, args.seq_len, dtype=torch.bool), 1))

    def forward(self, idx, targets_):
        T = idx.shape[1]
        x = self.tok(idx)
        for layer in self.layers:
            x = layer(x, self.cos[:T], self.sin[:T], self.mask[:T, :T])
        logits = F.linear(self.norm(x), self.tok.weight if self.out is None else self.out)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets_.view(-1))


model = Decoder()
if args.lora_rank:
    for n_, p_ in model.named_parameters():
        p_.requires_grad_(n_.endswith('.a') or n_.endswith('.b'))
trained = [p_ for p_ in model.parameters() if p_.requires_grad]
n_params = sum(p_.numel() for n_, p_ in model.named_parameters() if not (n_.endswith('.a') or n_.endswith('.b')))
n_trained = sum(p_.numel() for p_ in trained)
opt = torch.optim.AdamW(trained, lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=args.weight_decay)
x = torch.randint(0, args.vocab, (args.batch, args.seq_len))
y = torch.randint(0, args.vocab, (args.batch, args.seq_len))
tokens = args.batch * args.seq_len

times, losses = [], []
for i in range(args.warmup + args.steps):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = model(x, y)
    loss.backward()
    opt.step()
    dt = time.perf_counter() - t
    losses.append(loss.item())
    if i >= args.warmup:
        times.append(dt)

med = statistics.median(times)
peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
out = dict(
    engine='pytorch', version=torch.__version__, threads=torch.get_num_threads(),
    blas_threads=os.environ.get('OPENBLAS_NUM_THREADS'), mode='lora' if args.lora_rank else 'full',
    params=n_params, trained_params=n_trained, tokens_per_step=tokens,
    step_ms=[t_ * 1e3 for t_ in times], median_ms=med * 1e3, tokens_per_s=tokens / med,
    peak_rss_bytes=peak_rss, loss_first=losses[0], loss_last=losses[-1],
)
if args.json:
    print(json.dumps(out))
else:
    print(f"torch {out['version']}, {out['threads']} threads, OpenBLAS threads {out['blas_threads']}, {out['mode']}")
    print(f"parameters {n_params:,}, trained {n_trained:,}, {tokens} tokens per step")
    print(f"step ms {[round(t_ * 1e3, 1) for t_ in times]}; median {med * 1e3:.1f}, {tokens / med:,.0f} tokens/s")
    print(f"peak RSS {peak_rss / 2**30:.2f} GiB; loss {losses[0]:.4f} -> {losses[-1]:.4f} (ln vocab {math.log(args.vocab):.4f})")
