//! When chained methods (CoLA, RAC-LoRA, c3LA, r-c3LA, C-PaCA) start a new chain.

use serde::{Deserialize, Serialize};

/// The unit of [`ChainSchedule::every`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetUnit {
    Epochs,
    Steps,
}

/// Reset every `every` epochs (the paper's Table 7 "chain reset frequency") or steps.
///
/// A reset happens after epoch (or step) `every`, `2·every`, …, but never after the last
/// one: merging then would train nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSchedule {
    pub every: usize,
    pub unit: ResetUnit,
}

impl ChainSchedule {
    pub fn every_epochs(every: usize) -> Self {
        Self { every, unit: ResetUnit::Epochs }
    }

    pub fn every_steps(every: usize) -> Self {
        Self { every, unit: ResetUnit::Steps }
    }

    /// Whether to reset after `done` units (1-based: after the first epoch, `done` = 1) out of
    /// `total`.
    pub fn reset_after(&self, done: usize, total: usize) -> bool {
        self.every > 0 && done > 0 && done < total && done.is_multiple_of(self.every)
    }

    /// How many chains a run of `total` units trains (the paper's k).
    pub fn chain_count(&self, total: usize) -> usize {
        if self.every == 0 || total == 0 {
            return 1;
        }
        1 + (1..total).filter(|d| d % self.every == 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_every_n_but_not_after_the_last() {
        let s = ChainSchedule::every_epochs(3);
        let resets: Vec<usize> = (1..=20).filter(|&e| s.reset_after(e, 20)).collect();
        assert_eq!(resets, vec![3, 6, 9, 12, 15, 18]);
        assert_eq!(s.chain_count(20), 7);
        let s = ChainSchedule::every_epochs(5);
        assert!(!s.reset_after(30, 30));
        assert_eq!(s.chain_count(30), 6);
        assert_eq!(ChainSchedule::every_steps(0).chain_count(100), 1);
    }
}
