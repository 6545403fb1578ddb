#!/usr/bin/env python3
"""Loads models kept by finished cells (results/runs/<suite>/<experiment>/weights/<hash>/) with
HF PEFT / transformers as a user would, and compares their logits with the harness's.

Each directory holds what `models::peft::export` wrote — an HF PEFT LoRA adapter
(`adapter_config.json` + `adapter_model.safetensors`, the base checkpoint named by
`base_model_name_or_path`) or a transformers checkpoint (`config.json` + `model.safetensors`) —
and `check.safetensors`: the first test examples the cell saw and the harness's logits on them
(for a vocabulary, each position's top 16 logits and their token ids).
Adapters load with `PeftModel.from_pretrained(Auto…from_pretrained(base), dir)`, checkpoints with
`Auto…from_pretrained(dir)`, in float32, eval mode, eager attention.

Usage: python3 bench/peft_check.py [--tolerance 1e-4] [--base-dir DIR] DIR [DIR ...]
Prints one JSON object per directory ({"dir", "format", "max_abs_diff", "ok"}) and exits 1 if
any differs by more than the tolerance. It creates bench/.venv with the pinned requirements on
first use (as torch_step.py does).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import ensure_venv  # noqa: E402


def task_class(task_type, head_keys):
    from transformers import AutoModelForCausalLM, AutoModelForImageClassification, AutoModelForSequenceClassification

    if task_type == "CAUSAL_LM":
        return AutoModelForCausalLM
    if task_type == "SEQ_CLS":
        return AutoModelForSequenceClassification
    return AutoModelForImageClassification


def num_labels(tensors):
    # The classifier's output layer: `classifier.weight` (BERT, ViT) or `classifier.out_proj.weight` (RoBERTa).
    for key in ("classifier.out_proj.weight", "classifier.weight"):
        for k, v in tensors.items():
            if k.endswith(key):
                return v.shape[0]
    return None


def check(d, tolerance, base_dir):
    import torch
    from safetensors.torch import load_file

    ref = load_file(os.path.join(d, "check.safetensors"))
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    if os.path.exists(os.path.join(d, "adapter_config.json")):
        from peft import PeftModel

        cfg = json.load(open(os.path.join(d, "adapter_config.json")))
        base = base_dir or cfg["base_model_name_or_path"]
        adapter = load_file(os.path.join(d, "adapter_model.safetensors"))
        cls = task_class(cfg.get("task_type"), adapter)
        n = num_labels(adapter)
        if n is not None:
            kwargs["num_labels"] = n
            kwargs["ignore_mismatched_sizes"] = True
        model = PeftModel.from_pretrained(cls.from_pretrained(base, **kwargs), d)
        fmt = "peft-lora"
        causal = cfg.get("task_type") == "CAUSAL_LM"
    else:
        from transformers import AutoConfig

        arch = AutoConfig.from_pretrained(d).architectures[0]
        import transformers

        model = getattr(transformers, arch).from_pretrained(d, **kwargs)
        fmt = "transformers"
        causal = arch.endswith("LMHeadModel") or arch.endswith("ForCausalLM")
    model.eval()
    with torch.no_grad():
        if "pixel_values" in ref:
            got = model(pixel_values=ref["pixel_values"]).logits
        else:
            inputs = dict(input_ids=ref["input_ids"], attention_mask=ref["attention_mask"])
            if not causal:
                inputs["token_type_ids"] = ref["token_type_ids"]
            got = model(**inputs).logits
    keep = None
    if "top_ids" in ref:
        # A vocabulary: the harness kept each position's top logits and their token ids.
        want = ref["top_logits"]
    else:
        want = ref["logits"]
    if causal:
        # The harness's next-token logits: positions 0..seq-2, flattened; compare where the
        # position is a real token (padding positions are not predictions anyone reads).
        v = got.shape[-1]
        got = got[:, :-1, :].reshape(-1, v)
        if "top_ids" in ref:
            got = got.gather(1, ref["top_ids"])
        keep = ref["attention_mask"][:, :-1].reshape(-1).bool()
        got, want = got[keep], want[keep]
    diff = (got - want).abs().max().item()
    return {"dir": d, "format": fmt, "max_abs_diff": diff, "ok": diff <= tolerance}


def main():
    ensure_venv()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser()
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--base-dir", default=None, help="the base checkpoint, instead of each adapter's base_model_name_or_path")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    bad = 0
    for d in args.dirs:
        try:
            r = check(d, args.tolerance, args.base_dir)
        except Exception as e:  # a directory HF cannot load is a failed check, reported as such
            r = {"dir": d, "ok": False, "error": f"{type(e).__name__}: {e}"}
        bad += not r["ok"]
        print(json.dumps(r), flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
