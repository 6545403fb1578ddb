//! Which epoch a cell reports: the one with the lowest validation loss (the paper's rule),
//! or, for CoLA, the best validation Matthews correlation (Table 7's exception). Its test
//! metric is the reported result; its train and test losses give G(W) ≈ test − train loss.

use ledger::{EpochRecord, Selection};

/// The selected epoch; ties go to the earlier epoch; NaN values never win. `None` for no
/// epochs or only NaN ones.
pub fn select_best(epochs: &[EpochRecord], rule: Selection) -> Option<&EpochRecord> {
    let key = |e: &EpochRecord| match rule {
        Selection::LowestValLoss => e.val_loss,
        Selection::HighestValMetric => -e.val_metric,
    };
    epochs.iter().filter(|e| !key(e).is_nan()).fold(None, |best: Option<&EpochRecord>, e| match best {
        Some(b) if key(b) <= key(e) => Some(b),
        _ => Some(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val_loss: f64, val_metric: f64, test_metric: f64) -> EpochRecord {
        EpochRecord { epoch, train_loss: 0.1 * epoch as f64, train_eval_loss: Some(0.2), val_loss, val_metric, test_loss: 0.5, test_metric }
    }

    #[test]
    fn lowest_val_loss_wins_and_ties_go_early() {
        let e = vec![rec(1, 0.9, 0.5, 0.50), rec(2, 0.4, 0.7, 0.71), rec(3, 0.4, 0.8, 0.80), rec(4, f64::NAN, 0.9, 0.9)];
        let b = select_best(&e, Selection::LowestValLoss).unwrap();
        assert_eq!(b.epoch, 2);
        assert_eq!(b.test_metric, 0.71);
        assert!((b.generalization_gap().unwrap() - 0.3).abs() < 1e-12);
        // CoLA's rule picks the best validation MCC instead.
        assert_eq!(select_best(&e, Selection::HighestValMetric).unwrap().epoch, 4);
        assert!(select_best(&[], Selection::LowestValLoss).is_none());
    }
}
