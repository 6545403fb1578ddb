#!/usr/bin/env python3
"""The PyTorch + HF PEFT side of `cargo xtask crosscheck`: takes the very steps a harness cell
took and reports the loss of each and the final test metric.

DIR is what `runner::crosscheck` wrote for the cell:
  initial/             the model right after the method was applied (A drawn, B zero, a fresh
                       head) — an HF PEFT adapter over the base checkpoint, or for FFT a
                       transformers checkpoint
  batches.safetensors  train.<step>.{input_ids, token_type_ids, attention_mask, labels} in
                       order, test.<batch>.{…}
  steps.json           each step's learning rate, AdamW's betas/eps/weight decay, global-norm
                       clipping, the per-group rate multipliers (LoRA+'s B), whether A trains

The model loads with `PeftModel.from_pretrained(…, is_trainable=True)` (A frozen again where the
method keeps it fixed: Asym, cLA) or `from_pretrained` (FFT), float32, eager attention, dropout
off in the configs; the optimizer is torch.optim.AdamW with the harness's groups (decoupled
weight decay on everything but biases and norm weights), the step's rate set per group,
`clip_grad_norm_` before each step; the loss is cross-entropy, mean over the batch, read before
the step (as the harness logs it). Single-threaded. Writes DIR/torch.json.

Usage: python3 bench/crosscheck.py DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import ensure_venv  # noqa: E402


def group_of(name, peft):
    if "lora_B" in name:
        return "B"
    if "lora_A" in name:
        return "A"
    if peft or "classifier" in name or "pooler" in name:
        return "head"  # PEFT's modules_to_save copies; FFT's classifier (and BERT's pooler)
    return "base"


def decays(name):
    last = name.rsplit(".", 1)[-1]
    return last not in ("bias", "beta") and "LayerNorm" not in name and "layernorm" not in name and "norm." not in name


def main():
    ensure_venv()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import peft
    import torch
    import torch.nn.functional as F
    import transformers
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(1)
    d = sys.argv[1]
    plan = json.load(open(os.path.join(d, "steps.json")))
    batches = load_file(os.path.join(d, "batches.safetensors"))
    initial = os.path.join(d, "initial")
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    is_peft = os.path.exists(os.path.join(initial, "adapter_config.json"))
    if is_peft:
        from peft import PeftModel
        from safetensors.torch import load_file as lf

        cfg = json.load(open(os.path.join(initial, "adapter_config.json")))
        adapter = lf(os.path.join(initial, "adapter_model.safetensors"))
        n = next(v.shape[0] for k, v in adapter.items() if k.endswith("classifier.weight") or k.endswith("classifier.out_proj.weight"))
        base = AutoModelForSequenceClassification.from_pretrained(cfg["base_model_name_or_path"], num_labels=n, ignore_mismatched_sizes=True, **kwargs)
        model = PeftModel.from_pretrained(base, initial, is_trainable=True)
        if not plan["trains_a"]:
            for name, p in model.named_parameters():
                if "lora_A" in name:
                    p.requires_grad_(False)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(initial, **kwargs)
    model.train()

    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = (group_of(name, is_peft), decays(name))
        groups.setdefault(key, []).append(p)
    mult = plan["lr_multipliers"]
    param_groups = [
        {"params": ps, "kind": kind, "weight_decay": plan["weight_decay"] if decay else 0.0, "lr": 0.0}
        for (kind, decay), ps in sorted(groups.items())
    ]
    opt = torch.optim.AdamW(param_groups, betas=(plan["beta1"], plan["beta2"]), eps=plan["eps"], foreach=False)
    params = [p for g in param_groups for p in g["params"]]

    def inputs(prefix):
        return dict(
            input_ids=batches[f"{prefix}.input_ids"],
            token_type_ids=batches[f"{prefix}.token_type_ids"],
            attention_mask=batches[f"{prefix}.attention_mask"],
        )

    losses = []
    for step, lr in enumerate(plan["lr"]):
        for g in opt.param_groups:
            g["lr"] = lr * mult.get(g["kind"], 1.0)
        logits = model(**inputs(f"train.{step}")).logits
        loss = F.cross_entropy(logits, batches[f"train.{step}.labels"])
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        if plan["max_grad_norm"] is not None:
            torch.nn.utils.clip_grad_norm_(params, plan["max_grad_norm"])
        opt.step()

    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for i in range(plan["test_batches"]):
            logits = model(**inputs(f"test.{i}")).logits
            labels = batches[f"test.{i}.labels"]
            loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(-1) == labels).sum().item()
            total += labels.numel()
    out = {
        "method": plan["method"],
        "losses": losses,
        "test_accuracy": correct / total,
        "test_loss": loss_sum / total,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }
    json.dump(out, open(os.path.join(d, "torch.json"), "w"), indent=1)
    print(json.dumps({k: out[k] for k in ("method", "test_accuracy", "test_loss")}))


if __name__ == "__main__":
    main()
