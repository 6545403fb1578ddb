//! models: the paper's model families in burn (ViT, BERT/RoBERTa, DeBERTa, GPT-2, Llama),
//! loaded from Hugging Face files, with their linear layers exposed by name so that
//! `peft-core` adapters can replace the targeted ones.
//!
//! Not built yet: see the issue "models: the paper's ten checkpoints in burn". This crate must
//! not train, evaluate or format results.
