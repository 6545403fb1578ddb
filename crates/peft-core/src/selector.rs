//! Column selectors: which input coordinates a selector-based adapter (cLA, PaCA and their
//! variants) sees in each chain. A selector A = [I_r | 0] with permuted columns is fully
//! described by the list of coordinates it picks, so that list is what we keep.

use serde::{Deserialize, Serialize};

use crate::{Rng, Selector};

/// The column-selection state of one adapted layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSelector {
    pub kind: Selector,
    pub in_features: usize,
    pub rank: usize,
    /// For [`Selector::RandomNoReplacement`]: coordinates not yet used in the current pass,
    /// in the order they will be drawn.
    pub pool: Vec<usize>,
}

impl ColumnSelector {
    pub fn new(kind: Selector, in_features: usize, rank: usize) -> Self {
        Self { kind, in_features, rank, pool: Vec::new() }
    }

    /// The coordinates chain `chain` (0-based) adapts. Random kinds draw from `rng`; call this
    /// once per chain, in order.
    pub fn columns_for_chain(&mut self, chain: usize, rng: &mut Rng) -> Vec<usize> {
        let (n, r) = (self.in_features, self.rank);
        match self.kind {
            Selector::None => Vec::new(),
            Selector::First => (0..r).collect(),
            // Drawn once; a non-chained method never asks for a second chain.
            Selector::Random => rng.sample_distinct(n, r),
            Selector::Circulant => (0..r).map(|j| (chain * r + j) % n).collect(),
            Selector::RandomNoReplacement => {
                let mut picked = Vec::with_capacity(r);
                while picked.len() < r {
                    if self.pool.is_empty() {
                        // A new pass over all coordinates; those already picked for this
                        // chain are left out so one chain never repeats a coordinate.
                        let mut fresh: Vec<usize> =
                            (0..n).filter(|c| !picked.contains(c)).collect();
                        rng.shuffle(&mut fresh);
                        self.pool = fresh;
                    }
                    picked.push(self.pool.remove(0));
                }
                picked
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circulant_shifts_by_r_and_wraps() {
        let mut s = ColumnSelector::new(Selector::Circulant, 10, 4);
        let mut rng = Rng::seed_from(0);
        assert_eq!(s.columns_for_chain(0, &mut rng), vec![0, 1, 2, 3]);
        assert_eq!(s.columns_for_chain(1, &mut rng), vec![4, 5, 6, 7]);
        assert_eq!(s.columns_for_chain(2, &mut rng), vec![8, 9, 0, 1]);
        assert_eq!(s.columns_for_chain(3, &mut rng), vec![2, 3, 4, 5]);
    }

    #[test]
    fn random_no_replacement_uses_every_column_before_any_repeat() {
        let (n, r) = (23, 4);
        let mut s = ColumnSelector::new(Selector::RandomNoReplacement, n, r);
        let mut rng = Rng::seed_from(5);
        let mut seen = Vec::new();
        // ceil(23/4) = 6 chains cover the first pass; check no repeat within it.
        for k in 0..5 {
            let cols = s.columns_for_chain(k, &mut rng);
            for c in &cols {
                assert!(!seen.contains(c), "column {c} repeated in chain {k} before all were used");
            }
            seen.extend(cols);
        }
        // Chain 5 takes the 3 remaining columns plus one from a new pass.
        let cols = s.columns_for_chain(5, &mut rng);
        let mut distinct = cols.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), r, "a chain never repeats a column: {cols:?}");
        let unseen: Vec<usize> = (0..n).filter(|c| !seen.contains(c)).collect();
        assert_eq!(unseen.len(), 3);
        for c in &unseen {
            assert!(cols.contains(c), "the leftover column {c} must be used first: {cols:?}");
        }
    }
}
