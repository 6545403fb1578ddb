//! Cost measured under control (Tables 14 and 15): before a cell trains, a timing phase runs
//! `warmup + steps` training steps on its own batches while no other cell of the same results
//! directory steps or evaluates, and records the median step and the peak memory
//! ([`ledger::TimedCost`]). Cells running side by side (`--jobs`, Slurm tasks on one node) then
//! cannot slow each other's figures down.
//!
//! The steps run at learning rate 0 — AdamW's update is then exactly zero (p·(1 − 0) − 0), so
//! the weights do not move — and the optimizer's moments are restored afterwards, so a timed
//! cell trains exactly as an untimed one.
//!
//! "Alone" is two file locks under `<results>/locks/`: a timing phase announces itself with an
//! exclusive lock on `timing.intent` (other cells block at their next step), then takes
//! `timing.lock` exclusively, which waits for the steps under way (each training step and
//! evaluation holds `timing.lock` shared). The announcement keeps a stream of short shared
//! holds from starving the timing phase.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use crate::RunError;

/// How many steps a timing phase runs.
#[derive(Clone, Debug)]
pub struct TimingOptions {
    /// `<results>/locks`: where the locks are (one set per results directory).
    pub lock_dir: std::path::PathBuf,
    pub warmup_steps: usize,
    pub steps: usize,
}

impl TimingOptions {
    /// 3 warm-up and 20 timed steps.
    pub fn new(results_dir: &Path) -> Self {
        Self { lock_dir: results_dir.join("locks"), warmup_steps: 3, steps: 20 }
    }
}

/// The locks of one results directory.
pub struct Gate {
    intent: File,
    lock: File,
}

/// Held while a step or an evaluation runs (released on drop).
pub struct Shared<'a>(&'a File);

impl Drop for Shared<'_> {
    fn drop(&mut self) {
        self.0.unlock().ok();
    }
}

/// Held while a timing phase runs.
pub struct Alone<'a>(&'a Gate);

impl Drop for Alone<'_> {
    fn drop(&mut self) {
        self.0.lock.unlock().ok();
        self.0.intent.unlock().ok();
    }
}

impl Gate {
    pub fn open(o: &TimingOptions) -> Result<Self, RunError> {
        std::fs::create_dir_all(&o.lock_dir).map_err(|e| RunError::msg(format!("{}: {e}", o.lock_dir.display())))?;
        let open = |name: &str| {
            let path = o.lock_dir.join(name);
            std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| RunError::msg(format!("{}: {e}", path.display())))
        };
        Ok(Self { intent: open("timing.intent")?, lock: open("timing.lock")? })
    }

    /// Waits while a timing phase runs elsewhere, then holds the shared lock.
    pub fn shared(&self) -> Shared<'_> {
        // Blocks only while a timing phase has announced itself.
        if self.intent.lock_shared().is_ok() {
            self.intent.unlock().ok();
        }
        self.lock.lock_shared().ok();
        Shared(&self.lock)
    }

    /// Waits until no other cell steps or evaluates, and keeps it so.
    pub fn alone(&self) -> Alone<'_> {
        self.intent.lock().ok();
        self.lock.lock().ok();
        Alone(self)
    }
}

/// Times `steps` calls of `step` after `warmup` untimed ones: (median, 10th, 90th percentile)
/// in seconds.
pub fn time(warmup: usize, steps: usize, mut step: impl FnMut(usize) -> Result<(), RunError>) -> Result<(f64, f64, f64), RunError> {
    for i in 0..warmup {
        step(i)?;
    }
    let mut t: Vec<f64> = Vec::with_capacity(steps);
    for i in 0..steps {
        let start = Instant::now();
        step(warmup + i)?;
        t.push(start.elapsed().as_secs_f64());
    }
    Ok(percentiles(&mut t))
}

/// (median, 10th, 90th percentile) of `t` (nearest rank); zeros for none.
pub fn percentiles(t: &mut [f64]) -> (f64, f64, f64) {
    if t.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    t.sort_by(f64::total_cmp);
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_steps() {
        let mut t: Vec<f64> = (1..=11).map(|i| i as f64).collect();
        t.reverse();
        assert_eq!(percentiles(&mut t), (6.0, 2.0, 10.0));
        assert_eq!(percentiles(&mut []), (0.0, 0.0, 0.0));
    }

    /// While one gate is alone, another's shared lock waits until it is released.
    #[test]
    fn a_timing_phase_holds_other_cells_back() {
        let dir = tempfile::tempdir().unwrap();
        let o = TimingOptions::new(dir.path());
        let (a, b) = (Gate::open(&o).unwrap(), Gate::open(&o).unwrap());
        let alone = a.alone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _s = b.shared();
            tx.send(Instant::now()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        let released = Instant::now();
        drop(alone);
        let got = rx.recv().unwrap();
        waiter.join().unwrap();
        assert!(got >= released, "the shared lock came before the timing phase ended");
    }
}
