#!/usr/bin/env python3
"""One training step of transformers' RobertaForSequenceClassification (RoBERTa-base shapes,
random init) with HF PEFT LoRA on query/value (r=16, alpha=32) or full fine-tuning, timed the
same way as `cargo xtask bench step` (median of N steps after 2 warm-up steps, AdamW with
eps=1e-8, batch 8 x 128, torch threads = 2). Prints one JSON object.

Usage: python3 bench/torch_step.py --method lora|fft [--steps 5] [--layers 12]
It creates bench/.venv with the pinned requirements on first use.
"""
import argparse
import json
import os
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")


def ensure_venv():
    # BEYOND_LORA_BENCH_PYTHON_OK=1: the current interpreter already has the requirements.
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV) or os.environ.get("BEYOND_LORA_BENCH_PYTHON_OK"):
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        venv.create(VENV, with_pip=True)
        subprocess.check_call([py, "-m", "pip", "install", "-q", "-r", os.path.join(HERE, "requirements.txt")])
    os.execv(py, [py] + sys.argv)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["lora", "fft"], required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import resource
    import time

    import torch
    from transformers import RobertaConfig, RobertaForSequenceClassification

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    cfg = RobertaConfig(vocab_size=50265, hidden_size=768, num_hidden_layers=args.layers, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, num_labels=2)
    model = RobertaForSequenceClassification(cfg)
    head = sum(p.numel() for p in model.classifier.parameters())
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=args.rank, lora_alpha=2 * args.rank, target_modules=["query", "value"],
                                                 lora_dropout=0.0, modules_to_save=["classifier"]))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 50003, (args.batch, args.seq), generator=g)
    ids[:, 0] = 0
    mask = torch.ones_like(ids)
    labels = torch.arange(args.batch) % 2
    times = []
    for step in range(args.steps + 2):
        t0 = time.perf_counter()
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({
        "impl": "pytorch-peft",
        "method": args.method,
        "seconds_per_step": median,
        "samples_per_s": args.batch / median,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "trainable_params": trainable,
        "head_params": head,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    ensure_venv()
    main()
