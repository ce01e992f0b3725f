"""Reference sentence embeddings for all-mpnet-base-v2, computed in float64
with numpy straight from the model files, following Hugging Face's MPNet
modeling code (transformers/models/mpnet/modeling_mpnet.py) step by step:

- embeddings: word + position, positions from padding_idx + 1 (ids equal to
  the padding id keep padding_idx, as `create_position_ids_from_input_ids`
  does), no token types, LayerNorm (eps from config.json: 1e-5);
- `MPNetEncoder.compute_position_bias`: relative position key − query,
  `relative_position_bucket` (32 buckets, max_distance 128; computed in
  float32 as torch does: log of a float32 tensor, divided by the Python
  float log(16), truncated to long), looked up in one table
  (`encoder.relative_attention_bias.weight`) shared by every layer;
- each layer: q, k, v; scores q·kᵀ/√d + bias; softmax; context·o; residual
  + LayerNorm; intermediate GELU (erf); output; residual + LayerNorm;
- sentence-transformers: mean pooling over tokens, L2 normalisation;
  max_seq_length 384 (the tokenizer keeps the closing </s>).

Writes JSON to stdout.

    python3 mpnet_reference.py MODEL_DIR > all-mpnet-base-v2.reference.json
"""
import json, math, sys
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

LONG = (" Our warranty covers frames for the lifetime of the original owner, and"
        " components for two years from the date of purchase, provided the bike"
        " was serviced at least once a year by an authorised workshop.")
TEXTS = [
    "How much does the premium plan cost?",
    "Do you repair electric bikes on weekends?",
    "Café opening hours: Mon–Fri 08:00–18:00 (closed on public holidays) — call +1 555 0100!",
    "model: Trailhawk 29 | category: mountain bike | price: 1,249.00 USD | in stock: yes",
    "x",
    "what about saturdays then",
    "Order #A-10293 was shipped to 14 Elm Street on 3 March; the tracking code is 1Z999AA10123456784.",
    # About 150 tokens: distances past 128 share the last bucket.
    ("Cancellation policy. " + LONG * 4).strip(),
    # About 250 tokens.
    ("Membership terms. " + LONG * 7).strip(),
    # Far past 384 tokens: cut at 384, keeping </s>.
    ("Full service manual. " + LONG * 16).strip(),
]

def bucket(relative_position, num_buckets=32, max_distance=128):
    ret = np.zeros_like(relative_position)
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).astype(np.int64) * num_buckets
    n = np.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    with np.errstate(divide="ignore"):
        val = (np.log(n.astype(np.float32) / np.float32(max_exact))
               / np.float32(math.log(max_distance / max_exact))
               * np.float32(num_buckets - max_exact))
    val_if_large = max_exact + np.where(is_small, 0, val).astype(np.int64)
    val_if_large = np.minimum(val_if_large, num_buckets - 1)
    ret += np.where(is_small, n, val_if_large)
    return ret

def main(model_dir):
    cfg = json.load(open(f"{model_dir}/config.json"))
    assert cfg["model_type"] == "mpnet"
    max_tokens = json.load(open(f"{model_dir}/sentence_bert_config.json"))["max_seq_length"]
    w = {k.removeprefix("mpnet."): v.astype(np.float64)
         for k, v in load_file(f"{model_dir}/model.safetensors").items()}
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_tokens)
    erf = np.vectorize(math.erf)
    H, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    pad = cfg["pad_token_id"]
    d = H // heads

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    def lin(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    out = {"model": "sentence-transformers/all-mpnet-base-v2", "max_tokens": max_tokens,
           "texts": [], "ids": [], "vectors": []}
    for text in TEXTS:
        ids = np.array(tok.encode(text).ids)
        L = len(ids)
        mask = (ids != pad).astype(np.int64)
        positions = np.cumsum(mask) * mask + pad
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
        x = ln(x, "embeddings.LayerNorm")
        rel = np.arange(L)[None, :] - np.arange(L)[:, None]
        bias = w["encoder.relative_attention_bias.weight"][bucket(rel, cfg["relative_attention_num_buckets"])]
        bias = bias.transpose(2, 0, 1)  # heads × L × L
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            q = lin(x, p + ".attention.attn.q").reshape(L, heads, d).transpose(1, 0, 2)
            k = lin(x, p + ".attention.attn.k").reshape(L, heads, d).transpose(1, 0, 2)
            v = lin(x, p + ".attention.attn.v").reshape(L, heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
            x = ln(lin(ctx, p + ".attention.attn.o") + x, p + ".attention.LayerNorm")
            inner = lin(x, p + ".intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
            x = ln(lin(inner, p + ".output.dense") + x, p + ".output.LayerNorm")
        pooled = x.mean(0)
        pooled /= np.linalg.norm(pooled)
        out["texts"].append(text)
        out["ids"].append([int(i) for i in ids])
        out["vectors"].append([round(float(f), 7) for f in pooled])
        print(f"{len(ids)} tokens: {text[:40]!r}", file=sys.stderr)
    json.dump(out, sys.stdout, ensure_ascii=False)

main(sys.argv[1])
