//! Intruder dimensions (Shuttleworth et al., 2024, "LoRA vs Full Fine-tuning: An Illusion of
//! Equivalence"; the paper's §E.4.2): a singular vector of the fine-tuned W₀ + ΔW among its
//! top k is an intruder at threshold ε when its |cosine| with every singular vector of the
//! pretrained W₀ is below ε.
//!
//! The singular vectors compared are the **output-side** (left) ones of the weight in HF's
//! [out, in] orientation, U of W = U Σ Vᵀ: vectors in the layer's output space. burn stores
//! linears [in, out] and GPT-2's `Conv1D` is stored [in, out] too; both are turned to
//! [out, in] before the SVD (faer's, in f64).

use faer::Mat;
use ledger::analysis::IntruderRecord;

use crate::AnalysisError;
use crate::source::CellSource;

/// Fine-tuned singular vectors examined by default (Shuttleworth et al.'s k).
pub const DEFAULT_TOP_K: usize = 10;

/// The thresholds swept by default: 0.05, 0.10, …, 1.00.
pub fn default_epsilons() -> Vec<f64> {
    (1..=20).map(|i| i as f64 * 0.05).collect()
}

/// A matrix in HF's [out, in] orientation, row-major.
pub struct OutIn<'a> {
    pub values: &'a [f32],
    pub out: usize,
    pub inp: usize,
}

impl<'a> OutIn<'a> {
    /// A checkpoint tensor of shape `shape`: [out, in], or [in, out] for a `Conv1D`.
    pub fn from_checkpoint(values: &'a [f32], shape: &[usize], fan_in_fan_out: bool) -> Result<(Self, bool), AnalysisError> {
        let [a, b] = shape else { return Err(AnalysisError::msg(format!("intruder dimensions need a matrix, not a tensor of shape {shape:?}"))) };
        Ok(if fan_in_fan_out { (Self { values, out: *b, inp: *a }, true) } else { (Self { values, out: *a, inp: *b }, false) })
    }
}

/// The left singular vectors (columns, singular values nonincreasing) and singular values of the
/// [out, in] matrix, stored [in, out] when `transposed`.
pub fn left_singular(m: &OutIn, transposed: bool) -> Result<(Mat<f64>, Vec<f64>), AnalysisError> {
    let a = Mat::<f64>::from_fn(m.out, m.inp, |o, i| if transposed { m.values[i * m.out + o] } else { m.values[o * m.inp + i] } as f64);
    let svd = a.thin_svd().map_err(|e| AnalysisError::msg(format!("SVD did not converge: {e:?}")))?;
    let s = svd.S().column_vector();
    Ok((svd.U().to_owned(), (0..s.nrows()).map(|i| s[i]).collect()))
}

/// For each of the top `k` left singular vectors of `tuned`, the largest |cosine| with any
/// left singular vector of `base` (both unit vectors: the cosine is their dot product).
pub fn max_cosines(base: &Mat<f64>, tuned: &Mat<f64>, k: usize) -> Vec<f64> {
    let k = k.min(tuned.ncols());
    let overlap = tuned.get(.., ..k).transpose() * base;
    (0..k).map(|j| (0..overlap.ncols()).map(|c| overlap[(j, c)].abs()).fold(0.0, f64::max)).collect()
}

/// How many of the top `k` are intruders at each ε.
pub fn counts(max_cos: &[f64], epsilons: &[f64]) -> Vec<usize> {
    epsilons.iter().map(|&e| max_cos.iter().filter(|&&c| c < e).count()).collect()
}

/// The intruder counts of one matrix pair (W₀, W₀ + ΔW) at each ε.
pub fn intruder_counts(base: &OutIn, base_t: bool, tuned: &OutIn, tuned_t: bool, k: usize, epsilons: &[f64]) -> Result<Vec<usize>, AnalysisError> {
    if (base.out, base.inp) != (tuned.out, tuned.inp) {
        return Err(AnalysisError::msg(format!("W₀ is {}×{}, the fine-tuned matrix {}×{}", base.out, base.inp, tuned.out, tuned.inp)));
    }
    let (u0, _) = left_singular(base, base_t)?;
    let (u1, _) = left_singular(tuned, tuned_t)?;
    Ok(counts(&max_cosines(&u0, &u1, k), epsilons))
}

/// The intruder counts of every targeted matrix of `src` at the trajectory point ending
/// `epoch` (`None`: its last), against the pretrained checkpoint's W₀.
pub fn of_cell(src: &CellSource, top_k: usize, epsilons: &[f64], epoch: Option<usize>) -> Result<IntruderRecord, AnalysisError> {
    let point = src.path(epoch)?.last().expect("a path has points").clone();
    let last_point = src.index.points.last() == Some(&point);
    let keys = &src.index.matrices;
    if keys.is_empty() {
        return Err(AnalysisError::msg(format!("{}: its trajectory names no adapted matrices", src.label())));
    }
    let tuned = src.point(&point, keys)?;
    let base = src.base_tensors(keys)?;
    let fan = src.index.fan_in_fan_out;
    let mut matrices = Vec::new();
    for (b, t) in base.0.iter().zip(&tuned.0) {
        let (bm, bt) = OutIn::from_checkpoint(&b.values, &b.shape, fan)?;
        let (tm, tt) = OutIn::from_checkpoint(&t.values, &t.shape, fan)?;
        matrices.push((b.key.clone(), intruder_counts(&bm, bt, &tm, tt, top_k, epsilons)?));
    }
    let mean_counts = (0..epsilons.len()).map(|e| matrices.iter().map(|(_, c)| c[e] as f64).sum::<f64>() / matrices.len() as f64).collect();
    let cell = &src.result.cell;
    Ok(IntruderRecord {
        cell: src.result.hash.clone(),
        label: cell.label(),
        model: cell.model.clone(),
        dataset: cell.dataset.clone(),
        method: cell.method.clone(),
        top_k,
        epsilons: epsilons.to_vec(),
        mean_counts,
        matrices,
        epoch: point.epoch,
        last_point,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A = U diag(σ) Vᵀ with U, V orthogonal (products of Givens rotations), σ distinct.
    fn known(n: usize, seed: u64) -> (Mat<f64>, Vec<f64>, Mat<f64>) {
        let mut rng = seeded::Rng::seed_from(seed);
        let orth = |rng: &mut seeded::Rng| {
            let mut q = Mat::<f64>::identity(n, n);
            for _ in 0..3 * n {
                let (i, j) = (rng.below(n), rng.below(n));
                if i == j {
                    continue;
                }
                let t = rng.normal();
                let (c, s) = (t.cos(), t.sin());
                for r in 0..n {
                    let (a, b) = (q[(r, i)], q[(r, j)]);
                    q[(r, i)] = c * a - s * b;
                    q[(r, j)] = s * a + c * b;
                }
            }
            q
        };
        let u = orth(&mut rng);
        let v = orth(&mut rng);
        let sigma: Vec<f64> = (0..n).map(|i| 10.0 / (1.0 + i as f64)).collect();
        (u, sigma, v)
    }

    fn compose(u: &Mat<f64>, sigma: &[f64], v: &Mat<f64>) -> Vec<f32> {
        let n = sigma.len();
        let mut s = Mat::<f64>::zeros(n, n);
        for i in 0..n {
            s[(i, i)] = sigma[i];
        }
        let a = u * s * v.transpose();
        (0..n).flat_map(|r| (0..n).map(move |c| (r, c))).map(|(r, c)| a[(r, c)] as f32).collect()
    }

    #[test]
    fn the_svd_reconstructs_its_input() {
        let (u, sigma, v) = known(12, 5);
        let a = compose(&u, &sigma, &v);
        let m = OutIn { values: &a, out: 12, inp: 12 };
        let (uu, s) = left_singular(&m, false).unwrap();
        for (got, want) in s.iter().zip(&sigma) {
            assert!((got - want).abs() < 1e-5, "σ {got} vs {want}");
        }
        // A = Σ σᵢ uᵢ vᵢᵀ: rebuild from U, Σ and Aᵀ U / σ.
        let am = Mat::<f64>::from_fn(12, 12, |r, c| a[r * 12 + c] as f64);
        let vv = am.transpose() * &uu;
        let mut err = 0.0f64;
        for r in 0..12 {
            for c in 0..12 {
                let back: f64 = (0..12).map(|i| uu[(r, i)] * vv[(c, i)]).sum();
                err = err.max((back - am[(r, c)]).abs());
            }
        }
        assert!(err < 1e-5, "reconstruction error {err}");
        // Stored transposed ([in, out]), the same output-side vectors come out.
        let at: Vec<f32> = (0..144).map(|k| a[(k % 12) * 12 + k / 12]).collect();
        let (ut, _) = left_singular(&OutIn { values: &at, out: 12, inp: 12 }, true).unwrap();
        for i in 0..12 {
            let dot: f64 = (0..12).map(|r| ut[(r, i)] * uu[(r, i)]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-6);
        }
    }

    /// Rotating one top singular vector u₀ of W₀ by 75° towards a bottom one's complement gives
    /// a fine-tuned matrix with exactly one vector far from all of W₀'s.
    #[test]
    fn a_planted_rotation_is_exactly_one_intruder() {
        let n = 12;
        let (u, sigma, v) = known(n, 9);
        let base = compose(&u, &sigma, &v);
        // u₀' = cos θ · u₀ + sin θ · (u₁₀ + u₁₁)/√2 against the base; its cosines with u₀, u₁₀, u₁₁
        // are cos θ ≈ 0.26 and sin θ/√2 ≈ 0.68; so below ε = 0.5 it is no intruder — rotate
        // into many: spread the sine over the 8 bottom vectors (each sin θ/√8 ≈ 0.34).
        let theta = 75f64.to_radians();
        let mut ut = u.clone();
        for r in 0..n {
            let spread: f64 = (4..n).map(|i| u[(r, i)]).sum::<f64>() / (8f64).sqrt();
            ut[(r, 0)] = theta.cos() * u[(r, 0)] + theta.sin() * spread;
        }
        // Keep U orthonormal: re-orthogonalise the other columns against the new u₀ (they move
        // little) by Gram–Schmidt.
        for c in 1..n {
            for p in 0..c {
                let d: f64 = (0..n).map(|r| ut[(r, c)] * ut[(r, p)]).sum();
                for r in 0..n {
                    ut[(r, c)] -= d * ut[(r, p)];
                }
            }
            let s: f64 = (0..n).map(|r| ut[(r, c)].powi(2)).sum::<f64>().sqrt();
            for r in 0..n {
                ut[(r, c)] /= s;
            }
        }
        let tuned = compose(&ut, &sigma, &v);
        let (b, t) = (OutIn { values: &base, out: n, inp: n }, OutIn { values: &tuned, out: n, inp: n });
        let c = intruder_counts(&b, false, &t, false, 1, &[0.5, 1e-3]).unwrap();
        assert_eq!(c, vec![1, 0], "one intruder at ε = 0.5, none at a tiny ε");
        // The untouched matrix has none among its top 10 at ε = 0.5.
        assert_eq!(intruder_counts(&b, false, &b, false, 10, &[0.5]).unwrap(), vec![0]);
    }
}
