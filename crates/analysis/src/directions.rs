//! The two directions a loss landscape is drawn along (the paper's §E.4.1, after Li et al.,
//! 2018, "Visualizing the Loss Landscape of Neural Nets"), and the trajectory's coordinates in
//! them.
//!
//! - [`pca`]: the top two principal components of the update path [W₀ − W_T; …; W_{T−1} − W_T]
//!   (centred, as `sklearn.decomposition.PCA` — what Li et al.'s code fits — through the T×T
//!   Gram matrix and faer's symmetric eigendecomposition);
//! - [`random`]: Gaussian, from a seed;
//! - [`filter_normalize`]: each filter (output unit) of a matrix direction scaled to the norm of
//!   the same filter of the weight; vectors (biases, normalisation weights) zeroed.

use faer::{Mat, Side};

use crate::AnalysisError;
use crate::params::Params;

/// The top two principal directions of the path `points` (W₀ … W_T, the last the centre),
/// each of unit norm, and the share of the path's variance each explains.
pub fn pca(points: &[Params]) -> Result<(Params, Params, [f64; 2]), AnalysisError> {
    let Some((centre, path)) = points.split_last() else { return Err(AnalysisError::msg("the trajectory is empty")) };
    if path.len() < 2 {
        return Err(AnalysisError::msg(format!(
            "PCA directions need at least 3 trajectory points (start, two more); this trajectory has {}: train 2+ epochs or record more points with `trajectory_every`",
            points.len()
        )));
    }
    let diffs: Vec<Params> = path.iter().map(|p| p.minus(centre)).collect();
    let t = diffs.len();
    let mut mean = diffs[0].zeros_like();
    for d in &diffs {
        mean.add_scaled(1.0 / t as f64, d);
    }
    let centred: Vec<Params> = diffs.iter().map(|d| d.minus(&mean)).collect();
    let gram = Mat::<f64>::from_fn(t, t, |i, j| centred[i].dot(&centred[j]));
    let eig = gram.self_adjoint_eigen(Side::Lower).map_err(|e| AnalysisError::msg(format!("eigendecomposition of the trajectory's Gram matrix failed: {e:?}")))?;
    let values: Vec<f64> = (0..t).map(|i| eig.S().column_vector()[i]).collect();
    let total: f64 = values.iter().filter(|v| **v > 0.0).sum();
    // Eigenvalues come in nondecreasing order: the last two are the top two.
    let component = |k: usize| -> Result<(Params, f64), AnalysisError> {
        let lambda = values[k];
        if !(lambda > total * 1e-12) {
            return Err(AnalysisError::msg("the trajectory spans fewer than two directions (its points are collinear or equal)"));
        }
        let mut dir = centred[0].zeros_like();
        for (i, c) in centred.iter().enumerate() {
            dir.add_scaled(eig.U()[(i, k)], c);
        }
        let n = dir.norm();
        dir.scale(1.0 / n);
        Ok((dir, lambda / total))
    };
    let (first, e1) = component(t - 1)?;
    let (second, e2) = component(t - 2)?;
    Ok((first, second, [e1, e2]))
}

/// A Gaussian direction with the layout of `like`, from `seed`.
pub fn random(like: &Params, seed: u64) -> Params {
    let mut rng = seeded::Rng::seed_from(seed);
    let mut d = like.zeros_like();
    for n in &mut d.0 {
        for x in &mut n.values {
            *x = rng.normal() as f32;
        }
    }
    d
}

/// Li et al.'s filter normalisation of `direction` against the weights `w`: every filter of a
/// matrix (its output unit: a row of an `nn.Linear`'s [out, in], a column of a `Conv1D`'s
/// [in, out] when `fan_in_fan_out`) rescaled to the norm of the weight's same filter; 1-D
/// tensors (biases, normalisation weights) zeroed, as their `ignore = 'biasbn'`.
pub fn filter_normalize(direction: &mut Params, w: &Params, fan_in_fan_out: bool) {
    for (d, w) in direction.0.iter_mut().zip(&w.0) {
        if d.shape.len() < 2 {
            d.values.iter_mut().for_each(|x| *x = 0.0);
            continue;
        }
        let (rows, cols) = (d.shape[0], d.values.len() / d.shape[0]);
        // Filters along rows (linear) or columns (Conv1D).
        let (filters, per, at): (usize, usize, Box<dyn Fn(usize, usize) -> usize>) =
            if fan_in_fan_out { (cols, rows, Box::new(move |f, i| i * cols + f)) } else { (rows, cols, Box::new(move |f, i| f * cols + i)) };
        for f in 0..filters {
            let (mut dn, mut wn) = (0.0f64, 0.0f64);
            for i in 0..per {
                dn += (d.values[at(f, i)] as f64).powi(2);
                wn += (w.values[at(f, i)] as f64).powi(2);
            }
            let c = wn.sqrt() / (dn.sqrt() + 1e-10);
            for i in 0..per {
                let k = at(f, i);
                d.values[k] = (d.values[k] as f64 * c) as f32;
            }
        }
    }
}

/// The coordinates (a, b) of `point − centre` in the plane of `delta` and `eta`: the least-
/// squares solution of a·δ + b·η ≈ point − centre (the directions need not be orthogonal once
/// filter-normalised).
pub fn project(point: &Params, centre: &Params, delta: &Params, eta: &Params) -> [f64; 2] {
    let d = point.minus(centre);
    let (dd, de, ee) = (delta.dot(delta), delta.dot(eta), eta.dot(eta));
    let (xd, xe) = (d.dot(delta), d.dot(eta));
    let det = dd * ee - de * de;
    if det.abs() <= 1e-300 {
        return [xd / dd.max(1e-300), 0.0];
    }
    [(xd * ee - xe * de) / det, (xe * dd - xd * de) / det]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Named;

    fn params(values: Vec<f32>, shape: Vec<usize>) -> Params {
        Params(vec![Named { key: "w".into(), shape, values }])
    }

    /// A path W_t = c + x_t·u + y_t·v + tiny noise, with u, v orthonormal: PCA finds span{u, v},
    /// u first (the larger spread).
    #[test]
    fn pca_recovers_the_planted_directions() {
        let n = 40;
        let mut u = vec![0.0f32; n];
        let mut v = vec![0.0f32; n];
        for i in 0..n {
            u[i] = ((i as f32) * 0.37).sin();
            v[i] = ((i as f32) * 1.91).cos();
        }
        let unit = |x: &mut Vec<f32>| {
            let s = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            x.iter_mut().for_each(|a| *a /= s);
        };
        unit(&mut u);
        // Gram–Schmidt v against u.
        let uv: f32 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(&u).for_each(|(b, a)| *b -= uv * a);
        unit(&mut v);
        let mut rng = seeded::Rng::seed_from(3);
        let points: Vec<Params> = (0..8)
            .map(|t| {
                let (x, y) = (3.0 * (t as f32 - 3.5), 0.8 * ((t as f32) * 1.3).sin());
                params((0..n).map(|i| 0.5 + x * u[i] + y * v[i] + 1e-4 * rng.normal() as f32).collect(), vec![4, 10])
            })
            .collect();
        let (d1, d2, explained) = pca(&points).unwrap();
        let (pu, pv) = (params(u.clone(), vec![4, 10]), params(v.clone(), vec![4, 10]));
        assert!((d1.dot(&pu).abs() - 1.0).abs() < 1e-4, "first direction · u = {}", d1.dot(&pu));
        assert!((d2.dot(&pv).abs() - 1.0).abs() < 1e-3, "second direction · v = {}", d2.dot(&pv));
        assert!(d1.dot(&d2).abs() < 1e-5);
        assert!(explained[0] > explained[1] && explained[0] + explained[1] > 0.999, "{explained:?}");
        // The path's coordinates reproduce its points (up to the noise).
        let c = project(&points[0], &points[7], &d1, &d2);
        let mut back = points[7].clone();
        back.add_scaled(c[0], &d1);
        back.add_scaled(c[1], &d2);
        assert!(back.minus(&points[0]).norm() < 1e-2, "{}", back.minus(&points[0]).norm());
    }

    #[test]
    fn pca_needs_three_points() {
        let p = params(vec![1.0; 4], vec![2, 2]);
        let err = pca(&[p.clone(), p]).unwrap_err().to_string();
        assert!(err.contains("at least 3 trajectory points"), "{err}");
    }

    #[test]
    fn random_directions_take_the_weights_row_norms() {
        let w = Params(vec![
            Named { key: "a.weight".into(), shape: vec![3, 4], values: (0..12).map(|i| i as f32 - 5.0).collect() },
            Named { key: "a.bias".into(), shape: vec![3], values: vec![1.0, 2.0, 3.0] },
        ]);
        for fan_in_fan_out in [false, true] {
            let mut d = random(&w, 11);
            assert_eq!(d, random(&w, 11), "seeded");
            filter_normalize(&mut d, &w, fan_in_fan_out);
            let m = &d.0[0].values;
            let wv = &w.0[0].values;
            let norm = |v: &[f32], idx: &[usize]| idx.iter().map(|&k| (v[k] as f64).powi(2)).sum::<f64>().sqrt();
            let filters: Vec<Vec<usize>> =
                if fan_in_fan_out { (0..4).map(|c| (0..3).map(|r| r * 4 + c).collect()).collect() } else { (0..3).map(|r| (0..4).map(|c| r * 4 + c).collect()).collect() };
            for f in &filters {
                assert!((norm(m, f) - norm(wv, f)).abs() < 1e-5, "filter norm {} vs weight's {}", norm(m, f), norm(wv, f));
            }
            assert!(d.0[1].values.iter().all(|x| *x == 0.0), "bias entries zeroed");
        }
    }
}
