"""Reference sentence embeddings for all-MiniLM-L6-v2, computed in float64 with
numpy straight from the model files (BERT forward pass, mean pooling, L2
normalisation, as sentence-transformers does). Writes JSON to stdout.

    python3 reference.py MODEL_DIR > reference.json
"""
import json, math, sys
import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

TEXTS = [
    "How much does the premium plan cost?",
    "Do you repair electric bikes on weekends?",
    "Café opening hours: Mon–Fri 08:00–18:00 (closed on public holidays) — call +1 555 0100!",
    "model: Trailhawk 29 | category: mountain bike | price: 1,249.00 USD | in stock: yes",
    "x",
    " ".join(["Our warranty covers frames for the lifetime of the original owner, and"
              " components for two years from the date of purchase, provided the bike"
              " was serviced at least once a year by an authorised workshop."] * 8),
]

def main(model_dir):
    cfg = json.load(open(f"{model_dir}/config.json"))
    w = {k.removeprefix("bert."): v.astype(np.float64) for k, v in load_file(f"{model_dir}/model.safetensors").items()}
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(256)
    erf = np.vectorize(math.erf)
    H, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    d = H // heads

    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    def lin(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    out = {"model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": 256, "texts": [], "ids": [], "vectors": []}
    for text in TEXTS:
        ids = tok.encode(text).ids
        L = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L] + w["embeddings.token_type_embeddings.weight"][0]
        x = ln(x, "embeddings.LayerNorm")
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}"
            q = lin(x, p + ".attention.self.query").reshape(L, heads, d).transpose(1, 0, 2)
            k = lin(x, p + ".attention.self.key").reshape(L, heads, d).transpose(1, 0, 2)
            v = lin(x, p + ".attention.self.value").reshape(L, heads, d).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
            x = ln(lin(ctx, p + ".attention.output.dense") + x, p + ".attention.output.LayerNorm")
            inner = lin(x, p + ".intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
            x = ln(lin(inner, p + ".output.dense") + x, p + ".output.LayerNorm")
        pooled = x.mean(0)
        pooled /= np.linalg.norm(pooled)
        out["texts"].append(text)
        out["ids"].append(ids)
        out["vectors"].append([round(float(f), 7) for f in pooled])
    json.dump(out, sys.stdout, ensure_ascii=False)

main(sys.argv[1])
