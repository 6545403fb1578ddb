//! A point in weight space: named tensors in the checkpoint's layout, in a fixed key order, and
//! the vector arithmetic the directions and projections need (f32 storage, f64 sums).

/// One tensor, as the checkpoint stores it (`nn.Linear`: [out, in]; GPT-2's `Conv1D`: [in, out]).
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    pub key: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A point in the space the trajectory's tensors span.
#[derive(Clone, Debug, PartialEq)]
pub struct Params(pub Vec<Named>);

impl Params {
    /// From (key, shape, values) triples, sorted by key so that two points line up.
    pub fn from_triples(mut t: Vec<(String, Vec<usize>, Vec<f32>)>) -> Self {
        t.sort_by(|a, b| a.0.cmp(&b.0));
        Params(t.into_iter().map(|(key, shape, values)| Named { key, shape, values }).collect())
    }

    pub fn into_triples(self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        self.0.into_iter().map(|n| (n.key, n.shape, n.values)).collect()
    }

    /// How many numbers.
    pub fn len(&self) -> usize {
        self.0.iter().map(|n| n.values.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same keys and shapes, all zero.
    pub fn zeros_like(&self) -> Self {
        Params(self.0.iter().map(|n| Named { key: n.key.clone(), shape: n.shape.clone(), values: vec![0.0; n.values.len()] }).collect())
    }

    /// Whether `other` has the same keys and shapes.
    pub fn same_layout(&self, other: &Params) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.key == b.key && a.shape == b.shape)
    }

    /// `self − other`.
    pub fn minus(&self, other: &Params) -> Params {
        debug_assert!(self.same_layout(other));
        let mut out = self.clone();
        for (a, b) in out.0.iter_mut().zip(&other.0) {
            for (x, y) in a.values.iter_mut().zip(&b.values) {
                *x -= y;
            }
        }
        out
    }

    /// `self += c · other`.
    pub fn add_scaled(&mut self, c: f64, other: &Params) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            for (x, y) in a.values.iter_mut().zip(&b.values) {
                *x = (*x as f64 + c * *y as f64) as f32;
            }
        }
    }

    pub fn scale(&mut self, c: f64) {
        for a in &mut self.0 {
            for x in &mut a.values {
                *x = (*x as f64 * c) as f32;
            }
        }
    }

    pub fn dot(&self, other: &Params) -> f64 {
        self.0.iter().zip(&other.0).map(|(a, b)| a.values.iter().zip(&b.values).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>()).sum()
    }

    pub fn norm(&self) -> f64 {
        self.dot(self).sqrt()
    }

    /// `centre + α·δ + β·η`.
    pub fn at(centre: &Params, alpha: f64, delta: &Params, beta: f64, eta: &Params) -> Params {
        let mut p = centre.clone();
        p.add_scaled(alpha, delta);
        p.add_scaled(beta, eta);
        p
    }
}
