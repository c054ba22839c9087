//! A pure-Rust [`SiteTrainer`]: least-squares linear regression `y ≈ w·x + b`, for tests,
//! examples and checking the runtime without a network crate.
//!
//! Site data are drawn from `y = w*·x + b* + σ·ε` with `x` uniform in `[−√3, √3]^d` (unit variance)
//! and `ε` uniform in `[−√3, √3]`, seeded. Local training is full-batch gradient descent on
//! `L(w, b) = (1/2n) Σ (w·x_j + b − y_j)²` for `steps` (or `epochs`) steps, plus FedProx's
//! `μ(θ − θ_g)` on the downloaded tensors. With one step per round and all sites participating,
//! sample-weighted FedAvg is exactly gradient descent on the pooled objective, so it converges to
//! the pooled least-squares solution ([`least_squares`]).

use crate::error::{FedError, Result};
use crate::params::{Param, ParamSet};
use crate::runtime::{LocalTrainConfig, SiteMetrics, SiteTrainer, TrainReport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Inputs and targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    /// Feature vectors.
    pub x: Vec<Vec<f64>>,
    /// Targets.
    pub y: Vec<f64>,
}

impl Samples {
    /// `n` samples of `y = w·x + b + σε`.
    pub fn draw(w: &[f64], b: f64, n: usize, noise: f64, rng: &mut StdRng) -> Self {
        let s3 = 3f64.sqrt();
        let mut out = Self::default();
        for _ in 0..n {
            let x: Vec<f64> = w.iter().map(|_| rng.random_range(-s3..s3)).collect();
            let y = w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()
                + b
                + noise * rng.random_range(-s3..s3);
            out.x.push(x);
            out.y.push(y);
        }
        out
    }
    /// Concatenation.
    pub fn concat(parts: &[&Samples]) -> Self {
        Self {
            x: parts.iter().flat_map(|p| p.x.iter().cloned()).collect(),
            y: parts.iter().flat_map(|p| p.y.iter().copied()).collect(),
        }
    }
}

/// The least-squares solution `(w, b)` of `min Σ (w·x + b − y)²` by the normal equations
/// (Gaussian elimination with partial pivoting).
pub fn least_squares(s: &Samples) -> Result<(Vec<f64>, f64)> {
    let d = s.x.first().map_or(0, Vec::len);
    let m = d + 1;
    let mut a = vec![0.0; m * m];
    let mut r = vec![0.0; m];
    for (x, &y) in s.x.iter().zip(&s.y) {
        let z: Vec<f64> = x.iter().copied().chain([1.0]).collect();
        for i in 0..m {
            r[i] += z[i] * y;
            for j in 0..m {
                a[i * m + j] += z[i] * z[j];
            }
        }
    }
    for c in 0..m {
        let p = (c..m)
            .max_by(|&i, &j| a[i * m + c].abs().total_cmp(&a[j * m + c].abs()))
            .expect("non-empty");
        if a[p * m + c].abs() < 1e-12 {
            return Err(FedError::field(
                "samples",
                s.y.len(),
                "normal equations are singular",
            ));
        }
        for j in 0..m {
            a.swap(c * m + j, p * m + j);
        }
        r.swap(c, p);
        for i in c + 1..m {
            let f = a[i * m + c] / a[c * m + c];
            for j in c..m {
                a[i * m + j] -= f * a[c * m + j];
            }
            r[i] -= f * r[c];
        }
    }
    let mut sol = vec![0.0; m];
    for i in (0..m).rev() {
        let s: f64 = (i + 1..m).map(|j| a[i * m + j] * sol[j]).sum();
        sol[i] = (r[i] - s) / a[i * m + i];
    }
    let b = sol.pop().expect("m ≥ 1");
    Ok((sol, b))
}

/// A least-squares site with parameters `w_name` (shape `[d]`) and `b_name` (shape `[1]`).
#[derive(Debug, Clone)]
pub struct LeastSquaresSite {
    w_name: String,
    b_name: String,
    params: ParamSet,
    /// Training data.
    pub train: Samples,
    /// Held-out data.
    pub val: Samples,
    /// Parameters passed to the last [`SiteTrainer::evaluate`] call.
    pub last_evaluated: Option<ParamSet>,
}

impl LeastSquaresSite {
    /// A site with data from `(w*, b*)`, parameters initialised to zero.
    pub fn new(
        names: (&str, &str),
        true_w: &[f64],
        true_b: f64,
        (n_train, n_val): (usize, usize),
        noise: f64,
        seed: u64,
    ) -> Result<Self> {
        let mut rng = StdRng::seed_from_u64(seed);
        let train = Samples::draw(true_w, true_b, n_train, noise, &mut rng);
        let val = Samples::draw(true_w, true_b, n_val, noise, &mut rng);
        Self::with_data(names, true_w.len(), train, val)
    }
    /// A site over given data.
    pub fn with_data(names: (&str, &str), d: usize, train: Samples, val: Samples) -> Result<Self> {
        let params = ParamSet::from_tensors([
            (names.0, vec![d], vec![0.0f32; d]),
            (names.1, vec![1], vec![0.0f32]),
        ])?;
        Ok(Self {
            w_name: names.0.into(),
            b_name: names.1.into(),
            params,
            train,
            val,
            last_evaluated: None,
        })
    }
    fn wb(&self, p: &ParamSet) -> (Vec<f64>, f64) {
        let w = p
            .get(&self.w_name)
            .expect("own param")
            .data
            .iter()
            .map(|&v| v as f64)
            .collect();
        (w, p.get(&self.b_name).expect("own param").data[0] as f64)
    }
}

fn residuals(s: &Samples, w: &[f64], b: f64) -> Vec<f64> {
    s.x.iter()
        .zip(&s.y)
        .map(|(x, y)| w.iter().zip(x).map(|(a, c)| a * c).sum::<f64>() + b - y)
        .collect()
}

impl SiteTrainer for LeastSquaresSite {
    fn train_round(
        &mut self,
        _round: usize,
        global: &ParamSet,
        cfg: &LocalTrainConfig,
    ) -> Result<TrainReport> {
        let n = self.train.y.len();
        if n == 0 {
            return Ok(TrainReport {
                num_samples: 0,
                mean_loss: 0.0,
            });
        }
        let steps = cfg.steps.unwrap_or(cfg.epochs);
        let mut loss_sum = 0.0;
        for _ in 0..steps {
            let (w, b) = self.wb(&self.params);
            let r = residuals(&self.train, &w, b);
            loss_sum += r.iter().map(|v| v * v).sum::<f64>() / (2.0 * n as f64);
            let mut gw = vec![0.0; w.len()];
            for (x, rj) in self.train.x.iter().zip(&r) {
                for (g, xi) in gw.iter_mut().zip(x) {
                    *g += rj * xi / n as f64;
                }
            }
            let mut grad = ParamSet::from_tensors([
                (
                    self.w_name.as_str(),
                    vec![w.len()],
                    gw.iter().map(|&g| g as f32).collect(),
                ),
                (
                    self.b_name.as_str(),
                    vec![1],
                    vec![(r.iter().sum::<f64>() / n as f64) as f32],
                ),
            ])?;
            if cfg.proximal_mu > 0.0 {
                let prox =
                    crate::presets::proximal_gradient(&self.params, global, cfg.proximal_mu)?;
                grad.add_scaled(&prox, 1.0)?;
            }
            self.params.add_scaled(&grad, -cfg.learning_rate)?;
        }
        Ok(TrainReport {
            num_samples: n,
            mean_loss: loss_sum / steps.max(1) as f64,
        })
    }

    fn evaluate(&mut self, params: &ParamSet) -> Result<SiteMetrics> {
        self.params.check_compatible(params, "evaluate")?;
        self.last_evaluated = Some(params.clone());
        let (w, b) = self.wb(params);
        let r = residuals(&self.val, &w, b);
        let mse = r.iter().map(|v| v * v).sum::<f64>() / r.len().max(1) as f64;
        let ey = self
            .val
            .y
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        Ok(SiteMetrics {
            psnr: 10.0 * (1.0 / mse).log10(),
            ssim: 1.0 / (1.0 + mse),
            nmse: r.iter().map(|v| v * v).sum::<f64>() / ey,
        })
    }

    fn params(&self) -> ParamSet {
        self.params.clone()
    }

    fn load_params(&mut self, p: &ParamSet) -> Result<()> {
        self.params.check_compatible(p, "load_params")?;
        self.params = p.clone();
        Ok(())
    }
}

impl LeastSquaresSite {
    /// Set one tensor (e.g. a site-specific initial value).
    pub fn set(&mut self, name: &str, data: Vec<f32>) -> Result<()> {
        let shape = self
            .params
            .get(name)
            .ok_or_else(|| FedError::MissingParam {
                name: name.into(),
                context: "LeastSquaresSite".into(),
            })?
            .shape
            .clone();
        self.params.insert(name, Param::new(name, shape, data)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_noise_free_model_and_gd_converges_to_it() {
        let mut rng = StdRng::seed_from_u64(1);
        let s = Samples::draw(&[0.5, -1.0], 0.25, 20, 0.0, &mut rng);
        let (w, b) = least_squares(&s).unwrap();
        assert!(
            (w[0] - 0.5).abs() < 1e-10 && (w[1] + 1.0).abs() < 1e-10 && (b - 0.25).abs() < 1e-10
        );
        let noisy = Samples::draw(&[0.5, -1.0], 0.25, 30, 0.3, &mut rng);
        let (w, b) = least_squares(&noisy).unwrap();
        let mut site =
            LeastSquaresSite::with_data(("w", "b"), 2, noisy, Samples::default()).unwrap();
        let cfg = LocalTrainConfig {
            steps: Some(300),
            learning_rate: 0.5,
            ..Default::default()
        };
        site.train_round(0, &ParamSet::new(), &cfg).unwrap();
        let (gw, gb) = site.wb(&site.params);
        assert!(
            (gw[0] - w[0]).abs() < 1e-5 && (gw[1] - w[1]).abs() < 1e-5 && (gb - b).abs() < 1e-5
        );
    }
}
