//! When chained methods (CoLA, RAC-LoRA, c3LA, r-c3LA, C-PaCA) start a new chain.

use serde::{Deserialize, Serialize};

/// The unit of [`ChainSchedule::every`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetUnit {
    Epochs,
    Steps,
}

/// Reset every `every` epochs (the paper's Table 7 "chain reset frequency") or steps, for at
/// most `max_chains` chains.
///
/// A reset happens after epoch (or step) `every`, `2·every`, …, but never after the last
/// one: merging then would train nothing more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSchedule {
    pub every: usize,
    pub unit: ResetUnit,
    /// No reset once this many chains have started (`None`: no limit).
    #[serde(default)]
    pub max_chains: Option<usize>,
}

impl ChainSchedule {
    pub fn every_epochs(every: usize) -> Self {
        Self { every, unit: ResetUnit::Epochs, max_chains: None }
    }

    pub fn every_steps(every: usize) -> Self {
        Self { every, unit: ResetUnit::Steps, max_chains: None }
    }

    /// Algorithm 3's chain length: `k` chains over `total_steps`, a reset after every
    /// ⌊T/k⌋ steps; the last chain also takes the T mod k steps left over.
    pub fn chains_over_steps(k: usize, total_steps: usize) -> Self {
        Self { every: (total_steps / k.max(1)).max(1), unit: ResetUnit::Steps, max_chains: Some(k.max(1)) }
    }

    /// Whether to reset after `done` units (1-based: after the first epoch, `done` = 1) out of
    /// `total`.
    pub fn reset_after(&self, done: usize, total: usize) -> bool {
        self.every > 0
            && done > 0
            && done < total
            && done.is_multiple_of(self.every)
            && self.max_chains.is_none_or(|k| done / self.every < k)
    }

    /// How many chains a run of `total` units trains (the paper's k).
    pub fn chain_count(&self, total: usize) -> usize {
        1 + (1..total).filter(|&d| self.reset_after(d, total)).count()
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

    /// k chains whether or not k divides T: resets after j·⌊T/k⌋ steps, j < k.
    #[test]
    fn chain_length_gives_exactly_k_chains() {
        for (k, t) in [(3, 80), (3, 81), (4, 10), (1, 50), (5, 5)] {
            let s = ChainSchedule::chains_over_steps(k, t);
            assert_eq!(s.chain_count(t), k, "k = {k}, T = {t}");
        }
        let s = ChainSchedule::chains_over_steps(3, 80);
        let resets: Vec<usize> = (1..=80).filter(|&d| s.reset_after(d, 80)).collect();
        assert_eq!(resets, vec![26, 52]);
    }
}
