//! Learning-rate schedules of the paper's Table 7: `Constant`, and `Linear` / `Cosine` with a
//! warm-up that starts at a small learning rate ("Warmup LR") and lasts a fraction of the steps
//! ("Ratio"), e.g. Linear (1e-6, 0.1) for RoBERTa and GPT-2, Cosine (1e-6, 0.05) for ViT.

use ledger::ScheduleKind;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub kind: ScheduleKind,
    /// The peak learning rate.
    pub base_lr: f64,
    /// Where the warm-up starts (Table 7's "Warmup LR").
    pub warmup_init_lr: f64,
    /// Fraction of all steps spent warming up (Table 7's "Ratio").
    pub warmup_ratio: f64,
    pub total_steps: usize,
}

impl LrSchedule {
    pub fn constant(base_lr: f64, total_steps: usize) -> Self {
        Self { kind: ScheduleKind::Constant, base_lr, warmup_init_lr: base_lr, warmup_ratio: 0.0, total_steps }
    }

    pub fn warmup_steps(&self) -> usize {
        (self.warmup_ratio * self.total_steps as f64).ceil() as usize
    }

    /// The learning rate of step `step` (0-based): during warm-up a straight line from
    /// `warmup_init_lr` to `base_lr`; then constant, or decaying to 0 at `total_steps` linearly or
    /// along a half cosine.
    pub fn lr_at(&self, step: usize) -> f64 {
        if self.kind == ScheduleKind::Constant {
            return self.base_lr;
        }
        let warm = self.warmup_steps();
        if step < warm {
            let t = step as f64 / warm as f64;
            return self.warmup_init_lr + (self.base_lr - self.warmup_init_lr) * t;
        }
        let decay_steps = self.total_steps.saturating_sub(warm).max(1);
        let progress = ((step - warm) as f64 / decay_steps as f64).min(1.0);
        match self.kind {
            ScheduleKind::Linear => self.base_lr * (1.0 - progress),
            ScheduleKind::Cosine => self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            ScheduleKind::Constant => unreachable!(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_with_warmup_on_hand_computed_steps() {
        let s = LrSchedule { kind: ScheduleKind::Linear, base_lr: 3e-4, warmup_init_lr: 1e-6, warmup_ratio: 0.1, total_steps: 100 };
        assert_eq!(s.warmup_steps(), 10);
        assert!((s.lr_at(0) - 1e-6).abs() < 1e-15);
        assert!((s.lr_at(5) - (1e-6 + (3e-4 - 1e-6) * 0.5)).abs() < 1e-15);
        assert!((s.lr_at(10) - 3e-4).abs() < 1e-15);
        assert!((s.lr_at(55) - 1.5e-4).abs() < 1e-15); // half way through the 90 decay steps
        assert_eq!(s.lr_at(100), 0.0);
        assert_eq!(s.lr_at(150), 0.0);
    }

    #[test]
    fn cosine_and_constant() {
        let s = LrSchedule { kind: ScheduleKind::Cosine, base_lr: 1e-3, warmup_init_lr: 1e-6, warmup_ratio: 0.05, total_steps: 200 };
        assert_eq!(s.warmup_steps(), 10);
        assert!((s.lr_at(10) - 1e-3).abs() < 1e-15);
        assert!((s.lr_at(105) - 5e-4).abs() < 1e-12); // cos(π/2) = 0 → half the peak
        assert!(s.lr_at(200).abs() < 1e-15);
        let c = LrSchedule::constant(1e-4, 50);
        assert_eq!(c.lr_at(0), 1e-4);
        assert_eq!(c.lr_at(49), 1e-4);
    }
}
