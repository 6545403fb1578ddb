//! What a cell logs while it trains: one [`StepLine`] per optimisation step (a JSONL file) and,
//! at the end, HF Trainer's `trainer_state.json` ([`TrainerState`]) built from those lines and
//! the epoch records, so that tools that read the Trainer's state read ours.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cell::EpochRecord;

/// One training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    /// 1-based, over the whole run.
    pub step: usize,
    /// 1-based epoch the step belongs to.
    pub epoch: usize,
    /// The learning rate of each parameter group (`A`, `B`, `head`, …) at this step.
    pub learning_rate: BTreeMap<String, f64>,
    /// The batch's training loss (training mode).
    pub loss: f64,
    /// The global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// Training samples per second of this step.
    pub samples_per_s: f64,
}

/// HF Trainer's `trainer_state.json`, with the fields a reader of it uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// The selected epoch's validation loss (the paper's rule; CoLA: its validation metric).
    pub best_metric: Option<f64>,
    pub best_global_step: Option<usize>,
    pub best_model_checkpoint: Option<String>,
    pub epoch: f64,
    pub global_step: usize,
    pub max_steps: usize,
    pub num_train_epochs: usize,
    pub train_batch_size: usize,
    /// Training lines (`loss`, `learning_rate`, `grad_norm`) and, after every epoch, the
    /// evaluation (`eval_loss`, `eval_<metric>`, `test_loss`, `test_<metric>`,
    /// `train_eval_loss`).
    pub log_history: Vec<serde_json::Value>,
}

impl TrainerState {
    /// The state of a run from its step lines and epoch records; `best` is the selected epoch.
    pub fn from_run(steps: &[StepLine], epochs: &[EpochRecord], best: Option<&EpochRecord>, metric: &str, steps_per_epoch: usize, num_train_epochs: usize, batch_size: usize) -> Self {
        let mut log = Vec::new();
        for e in epochs {
            for s in steps.iter().filter(|s| s.epoch == e.epoch) {
                log.push(serde_json::json!({
                    "epoch": (s.step as f64 / steps_per_epoch.max(1) as f64),
                    "step": s.step,
                    "loss": s.loss,
                    "grad_norm": s.grad_norm,
                    "learning_rate": s.learning_rate.values().copied().fold(0.0, f64::max),
                    "learning_rate_by_group": s.learning_rate,
                }));
            }
            log.push(serde_json::json!({
                "epoch": e.epoch as f64,
                "step": e.epoch * steps_per_epoch,
                "eval_loss": e.val_loss,
                format!("eval_{metric}"): e.val_metric,
                "test_loss": e.test_loss,
                format!("test_{metric}"): e.test_metric,
                "train_eval_loss": e.train_eval_loss,
                "train_loss": e.train_loss,
            }));
        }
        let done = epochs.len();
        TrainerState {
            best_metric: best.map(|b| b.val_loss),
            best_global_step: best.map(|b| b.epoch * steps_per_epoch),
            best_model_checkpoint: None,
            epoch: done as f64,
            global_step: steps.last().map(|s| s.step).unwrap_or(0),
            max_steps: steps_per_epoch * num_train_epochs,
            num_train_epochs,
            train_batch_size: batch_size,
            log_history: log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trainer_state_interleaves_steps_and_evaluations() {
        let line = |step: usize, epoch: usize| StepLine { step, epoch, learning_rate: BTreeMap::from([("A".into(), 1e-3), ("head".into(), 2e-3)]), loss: 1.0 / step as f64, grad_norm: 0.5, samples_per_s: 100.0 };
        let steps = vec![line(1, 1), line(2, 1), line(3, 2), line(4, 2)];
        let e = |epoch: usize, val_loss: f64| EpochRecord { epoch, train_loss: 0.6, train_eval_loss: Some(0.5), val_loss, val_metric: 0.7, test_loss: 0.8, test_metric: 0.65 };
        let epochs = vec![e(1, 0.9), e(2, 0.4)];
        let s = TrainerState::from_run(&steps, &epochs, Some(&epochs[1]), "accuracy", 2, 3, 8);
        assert_eq!((s.global_step, s.max_steps, s.best_global_step, s.best_metric), (4, 6, Some(4), Some(0.4)));
        assert_eq!(s.log_history.len(), 6, "two steps and one evaluation per epoch");
        assert_eq!(s.log_history[1]["learning_rate"], 2e-3);
        assert_eq!(s.log_history[2]["eval_accuracy"], 0.7);
        assert_eq!(s.log_history[2]["step"], 2);
        assert_eq!(s.log_history[3]["epoch"], 1.5);
    }
}
