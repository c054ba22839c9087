use super::*;
use crate::error::{FedError, Result};
use crate::params::ParamSet;
use crate::presets::{FedMethod, preset};
use crate::presets::{PresetOptions, build_method};
use crate::strategy::Strategy;
use crate::strategy::{ParamGroup, Policy, Rule, Weighting};
use crate::toy::{LeastSquaresSite, Samples, least_squares};
use std::collections::BTreeSet;
use std::path::PathBuf;

const W: [f64; 3] = [0.8, -0.5, 0.3];

fn sites(
    names: (&str, &str),
    biases: &[f64],
    n_train: &[usize],
    seed: u64,
) -> Vec<LeastSquaresSite> {
    biases
        .iter()
        .zip(n_train)
        .enumerate()
        .map(|(i, (&b, &n))| {
            LeastSquaresSite::new(names, &W, b, (n, 16), 0.1, seed + i as u64).unwrap()
        })
        .collect()
}

fn sim_sites(t: &mut [LeastSquaresSite]) -> Vec<SimSite<'_>> {
    t.iter_mut()
        .enumerate()
        .map(|(i, s)| SimSite::new(&format!("site{i}"), s as &mut dyn SiteTrainer))
        .collect()
}

fn gd_config(rounds: usize) -> SimulationConfig {
    SimulationConfig {
        local: LocalTrainConfig {
            steps: Some(1),
            learning_rate: 0.3,
            ..Default::default()
        },
        ..SimulationConfig::new(rounds)
    }
}

/// Records every tensor name that travels, by direction.
#[derive(Default)]
struct Audit {
    down: BTreeSet<String>,
    up: BTreeSet<String>,
    rounds: usize,
}
impl RunObserver for Audit {
    fn message(&mut self, e: MessageEvent<'_>) {
        match e {
            MessageEvent::Down {
                msg: ToSite::RoundStart { params, .. } | ToSite::Evaluate { params, .. },
                ..
            } => self.down.extend(params.names().map(String::from)),
            MessageEvent::Up(ToCoordinator::Update { params, .. }) => {
                self.up.extend(params.names().map(String::from))
            }
            _ => {}
        }
    }
    fn round_done(&mut self, _r: &RoundRecord) {
        self.rounds += 1;
    }
}

#[test]
fn fedavg_converges_to_the_pooled_least_squares_solution() {
    let mut t = sites(("w", "b"), &[0.2, 0.2, 0.2], &[10, 25, 40], 10);
    let pooled = Samples::concat(&t.iter().map(|s| &s.train).collect::<Vec<_>>());
    let (w_ls, b_ls) = least_squares(&pooled).unwrap();
    let initial = t[0].params();
    let mut audit = Audit::default();
    let out = simulate(
        &preset("fedavg").unwrap(),
        &initial,
        sim_sites(&mut t),
        &gd_config(80),
        &mut audit,
    )
    .unwrap();
    let g = &out.state.global;
    for k in 0..3 {
        assert!(
            (g.get("w").unwrap().data[k] as f64 - w_ls[k]).abs() < 1e-4,
            "w[{k}]"
        );
    }
    assert!((g.get("b").unwrap().data[0] as f64 - b_ls).abs() < 1e-4);
    assert_eq!(out.state.history.len(), 80);
    assert_eq!(audit.rounds, 80);
    // every site ends with the global model, and metrics improved
    for (_, p) in &out.site_params {
        assert_eq!(p, g);
    }
    let first = &out.state.history[0].metrics;
    let last = &out.state.history[79].metrics;
    assert_eq!(last.len(), 3);
    for (a, b) in first.iter().zip(last) {
        assert!(b.metrics.psnr > a.metrics.psnr + 5.0, "{a:?} → {b:?}");
    }
}

#[test]
fn local_groups_never_travel_and_stay_personal() {
    let biases = [-1.0, 0.0, 1.5];
    let mut t = sites(("shared.w", "local.b"), &biases, &[30, 30, 30], 20);
    let initial = t[0].params();
    let method = FedMethod {
        name: "fedavg+local".into(),
        strategy: Strategy::new(
            vec![ParamGroup::new("personal", &["local.**"], Policy::Local).unwrap()],
            Policy::FEDAVG,
        )
        .unwrap(),
        proximal_mu: 0.0,
    };
    let mut audit = Audit::default();
    let out = simulate(
        &method,
        &initial,
        sim_sites(&mut t),
        &gd_config(120),
        &mut audit,
    )
    .unwrap();
    assert_eq!(
        out.state.global.names().collect::<Vec<_>>(),
        vec!["shared.w"]
    );
    assert!(!audit.down.contains("local.b") && !audit.up.contains("local.b"));
    assert!(audit.up.contains("shared.w"));
    for (k, (_, p)) in out.site_params.iter().enumerate() {
        let b = p.get("local.b").unwrap().data[0] as f64;
        assert!((b - biases[k]).abs() < 0.1, "site {k}: b = {b}");
        for j in 0..3 {
            assert!((p.get("shared.w").unwrap().data[j] as f64 - W[j]).abs() < 0.1);
        }
    }
    // a server message naming a local tensor is refused by the site
    let mut lone = sites(("shared.w", "local.b"), &[0.0], &[4], 1)
        .pop()
        .unwrap();
    let before = lone.params();
    let mut agent = SiteAgent::new(
        "s",
        SiteRole::TrainAndEvaluate,
        &mut lone,
        method.strategy.clone(),
        None,
    );
    let e = agent
        .handle(&ToSite::RoundStart {
            round: 0,
            params: before.clone(),
            config: LocalTrainConfig::default(),
        })
        .unwrap_err()
        .to_string();
    assert!(e.contains("local.b") && e.contains("personal"), "{e}");
    assert_eq!(lone.params(), before);
}

#[test]
fn local_only_equals_training_each_site_alone() {
    let mut t = sites(("w", "b"), &[-1.0, 2.0], &[12, 20], 30);
    let mut alone = t.clone();
    let cfg = gd_config(7);
    let mut audit = Audit::default();
    let out = simulate_local_only(&t[0].params(), sim_sites(&mut t), &cfg, &mut audit).unwrap();
    assert!(out.state.global.is_empty() && audit.up.is_empty() && audit.down.is_empty());
    for (s, (_, p)) in alone.iter_mut().zip(&out.site_params) {
        for r in 0..7 {
            s.train_round(r, &ParamSet::new(), &cfg.local).unwrap();
        }
        assert_eq!(&s.params(), p);
    }
}

#[test]
fn no_overwrite_keeps_site_copies_and_serves_unseen_sites() {
    let biases = [-1.0, 0.5, 2.0];
    let n = [10, 20, 30];
    let mut t = sites(("w", "hyper.b"), &biases, &n, 40);
    let mut unseen = sites(("w", "hyper.b"), &[0.0], &[0], 99).pop().unwrap();
    let mut o = PresetOptions::named("hyperfed");
    o.hyper = crate::presets::HyperMode::AggregateNoOverwrite;
    let method = build_method(&o).unwrap();
    let initial = t[0].params();
    let mut audit = Audit::default();
    let out = {
        let mut ss = sim_sites(&mut t);
        ss.push(SimSite::evaluate_only("unseen", &mut unseen));
        simulate(&method, &initial, ss, &gd_config(60), &mut audit).unwrap()
    };
    assert!(audit.up.contains("hyper.b"));
    // the unseen site received the global hyper.b; no training site ever did
    let g = out.state.global.get("hyper.b").unwrap().data[0];
    let ev = unseen.last_evaluated.as_ref().unwrap();
    assert_eq!(ev.get("hyper.b").unwrap().data[0], g);
    assert_eq!(ev.get("w").unwrap(), out.state.global.get("w").unwrap());
    // sites keep their own (different) copies; the global one is their sample-weighted mean
    let own: Vec<f64> = out.site_params[..3]
        .iter()
        .map(|(_, p)| p.get("hyper.b").unwrap().data[0] as f64)
        .collect();
    for (k, b) in own.iter().enumerate() {
        assert!((b - biases[k]).abs() < 0.2, "site {k}: {b}");
    }
    let total: usize = n.iter().sum();
    let mean: f64 = own
        .iter()
        .zip(n)
        .map(|(b, n)| b * n as f64 / total as f64)
        .sum();
    assert_eq!(g, mean as f32);
    assert_eq!(out.state.history[0].participants.len(), 3);
    assert_eq!(out.state.history[0].metrics.len(), 4);
}

fn resume_setup() -> (Vec<LeastSquaresSite>, FedMethod) {
    let t = sites(
        ("shared.w", "local.b"),
        &[0.0, 1.0, -1.0, 0.5],
        &[8, 16, 24, 32],
        50,
    );
    let mut o = PresetOptions::named("fedavg");
    o.rule = Rule::fedadam(0.05);
    o.weighting = Weighting::Uniform;
    o.groups = vec![crate::presets::GroupConfig {
        name: "personal".into(),
        patterns: vec![crate::glob::NamePattern::new("local.**").unwrap()],
        policy: "local".into(),
        rule: None,
        weighting: None,
    }];
    (t, build_method(&o).unwrap())
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fedrecon-fed-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn resume_after_a_kill_is_bit_identical_and_runs_repeat() {
    let rounds = 9;
    let cfg = |dir: Option<PathBuf>| SimulationConfig {
        client_fraction: 0.5,
        seed: 7,
        checkpoint_dir: dir,
        local: LocalTrainConfig {
            steps: Some(3),
            learning_rate: 0.1,
            ..Default::default()
        },
        ..SimulationConfig::new(rounds)
    };
    let (mut t, m) = resume_setup();
    let initial = t[0].params();
    let da = tmpdir("a");
    let full = simulate(
        &m,
        &initial,
        sim_sites(&mut t),
        &cfg(Some(da.clone())),
        &mut NoObserver,
    )
    .unwrap();
    assert!(
        !full.state.server.m.is_empty(),
        "FedAdam state is exercised"
    );
    // client sampling: 2 of 4 sites per round, not always the same pair
    let parts: BTreeSet<Vec<String>> = full
        .state
        .history
        .iter()
        .map(|r| r.participants.clone())
        .collect();
    assert!(full.state.history.iter().all(|r| r.participants.len() == 2));
    assert!(parts.len() > 1);

    // killed after round 4, then a fresh process resumes
    let db = tmpdir("b");
    let (mut t1, _) = resume_setup();
    let killed = SimulationConfig {
        stop_after_rounds: Some(4),
        ..cfg(Some(db.clone()))
    };
    let part = simulate(&m, &initial, sim_sites(&mut t1), &killed, &mut NoObserver).unwrap();
    assert!(part.stopped_early && part.state.completed_rounds == 4);
    let (mut t2, _) = resume_setup();
    let resume = SimulationConfig {
        resume: true,
        ..cfg(Some(db.clone()))
    };
    let mut audit = Audit::default();
    let resumed = simulate(&m, &initial, sim_sites(&mut t2), &resume, &mut audit).unwrap();
    assert_eq!(audit.rounds, rounds - 4);
    let bits = |p: &ParamSet| -> Vec<u32> {
        p.iter()
            .flat_map(|(_, t)| t.data.iter().map(|v| v.to_bits()))
            .collect()
    };
    assert_eq!(bits(&resumed.state.global), bits(&full.state.global));
    assert_eq!(resumed.state, full.state);
    for ((_, a), (_, b)) in resumed.site_params.iter().zip(&full.site_params) {
        assert_eq!(bits(a), bits(b));
    }
    // only the last two site checkpoints are kept
    let files: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.iter().any(|f| f == "site-site0.after-9.safetensors"));
    assert!(
        !files.iter().any(|f| f == "site-site0.after-7.safetensors"),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.ends_with(".tmp")));

    // a repeated run without checkpoints gives the same everything
    let (mut t3, _) = resume_setup();
    let again = simulate(
        &m,
        &initial,
        sim_sites(&mut t3),
        &cfg(None),
        &mut NoObserver,
    )
    .unwrap();
    assert_eq!(again.state, full.state);
    assert_eq!(again.site_params, full.site_params);

    // resuming with other settings is refused, naming the field
    let (mut t4, _) = resume_setup();
    let e = simulate(
        &m,
        &initial,
        sim_sites(&mut t4),
        &SimulationConfig {
            seed: 8,
            ..resume.clone()
        },
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("seed"), "{e}");
    let _ = std::fs::remove_dir_all(&da);
    let _ = std::fs::remove_dir_all(&db);
}

#[test]
fn central_trains_the_pooled_model_and_every_site_evaluates_it() {
    let mut t = sites(("w", "b"), &[0.3, 0.3, 0.3], &[10, 20, 30], 60);
    let pooled_data = Samples::concat(&t.iter().map(|s| &s.train).collect::<Vec<_>>());
    let mut pooled =
        LeastSquaresSite::with_data(("w", "b"), 3, pooled_data.clone(), Samples::default())
            .unwrap();
    let mut reference = pooled.clone();
    let cfg = gd_config(5);
    let initial = t[0].params();
    let out = simulate_central(
        &mut pooled,
        &initial,
        sim_sites(&mut t),
        &cfg,
        &mut NoObserver,
    )
    .unwrap();
    for r in 0..5 {
        reference.train_round(r, &initial, &cfg.local).unwrap();
    }
    assert_eq!(out.state.global, reference.params());
    for rec in &out.state.history {
        assert_eq!(rec.participants, vec!["central".to_string()]);
        let names: Vec<&str> = rec.metrics.iter().map(|m| m.site.as_str()).collect();
        assert_eq!(names, vec!["site0", "site1", "site2"]);
    }
    for s in &t {
        assert_eq!(s.last_evaluated.as_ref().unwrap(), &reference.params());
    }
    // central runs resume too (the pooled trainer checkpoints after training)
    let dir = tmpdir("central");
    let mut p1 =
        LeastSquaresSite::with_data(("w", "b"), 3, pooled_data.clone(), Samples::default())
            .unwrap();
    let killed = SimulationConfig {
        checkpoint_dir: Some(dir.clone()),
        stop_after_rounds: Some(2),
        ..cfg.clone()
    };
    simulate_central(
        &mut p1,
        &initial,
        sim_sites(&mut t),
        &killed,
        &mut NoObserver,
    )
    .unwrap();
    let mut p2 =
        LeastSquaresSite::with_data(("w", "b"), 3, pooled_data, Samples::default()).unwrap();
    let resume = SimulationConfig {
        checkpoint_dir: Some(dir.clone()),
        resume: true,
        ..cfg.clone()
    };
    let again = simulate_central(
        &mut p2,
        &initial,
        sim_sites(&mut t),
        &resume,
        &mut NoObserver,
    )
    .unwrap();
    assert_eq!(again.state, out.state);
    let _ = std::fs::remove_dir_all(&dir);
}

struct Failing;
impl SiteTrainer for Failing {
    fn train_round(&mut self, _: usize, _: &ParamSet, _: &LocalTrainConfig) -> Result<TrainReport> {
        Err(FedError::field("data", "missing", "no training file"))
    }
    fn evaluate(&mut self, _: &ParamSet) -> Result<SiteMetrics> {
        panic!("not reached")
    }
    fn params(&self) -> ParamSet {
        ParamSet::from_tensors([("w", vec![3], vec![0.0f32; 3]), ("b", vec![1], vec![0.0])])
            .unwrap()
    }
    fn load_params(&mut self, _: &ParamSet) -> Result<()> {
        Ok(())
    }
}

#[test]
fn site_failures_and_bad_settings_are_reported() {
    let mut t = sites(("w", "b"), &[0.0], &[5], 70);
    let initial = t[0].params();
    let mut f = Failing;
    let mut ss = sim_sites(&mut t);
    ss.push(SimSite::new("broken", &mut f));
    let e = simulate(
        &preset("fedavg").unwrap(),
        &initial,
        ss,
        &gd_config(2),
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("broken") && e.contains("no training file"),
        "{e}"
    );
    let mut t = sites(("w", "b"), &[0.0, 0.0], &[5, 5], 70);
    let mut ss = sim_sites(&mut t);
    ss[1].name = "site0".into();
    let e = simulate(
        &preset("fedavg").unwrap(),
        &initial,
        ss,
        &gd_config(1),
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unique"), "{e}");
    let e = simulate(
        &preset("fedavg").unwrap(),
        &initial,
        sim_sites(&mut t),
        &SimulationConfig {
            client_fraction: 0.0,
            ..gd_config(1)
        },
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("client_fraction"), "{e}");
    let mut bad = gd_config(1);
    bad.local.learning_rate = -1.0;
    let e = simulate(
        &preset("fedavg").unwrap(),
        &initial,
        sim_sites(&mut t),
        &bad,
        &mut NoObserver,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("local.learning_rate"), "{e}");
    let c: SimulationConfig =
        toml::from_str("rounds = 3\n[local]\nsteps = 2\nlearning_rate = 0.01\n").unwrap();
    assert_eq!(
        (c.client_fraction, c.seed, c.local.steps),
        (1.0, 0, Some(2))
    );
}

#[test]
fn fedprox_sends_mu_and_messages_roundtrip_through_json() {
    let mut t = sites(("w", "b"), &[0.0, 1.0], &[5, 5], 80);
    let initial = t[0].params();
    #[derive(Default)]
    struct Mus(Vec<f64>, Vec<String>);
    impl RunObserver for Mus {
        fn message(&mut self, e: MessageEvent<'_>) {
            if let MessageEvent::Down { msg, .. } = e {
                if let ToSite::RoundStart { config, .. } = msg {
                    self.0.push(config.proximal_mu);
                }
                let text = serde_json::to_string(msg).unwrap();
                assert_eq!(&serde_json::from_str::<ToSite>(&text).unwrap(), msg);
                self.1.push(text);
            }
        }
    }
    let mut mus = Mus::default();
    let mut o = PresetOptions::named("fedprox");
    o.proximal_mu = Some(0.5);
    simulate(
        &build_method(&o).unwrap(),
        &initial,
        sim_sites(&mut t),
        &gd_config(2),
        &mut mus,
    )
    .unwrap();
    assert_eq!(mus.0, vec![0.5; 4]);
    let up = ToCoordinator::Metrics {
        round: 1,
        site: "a".into(),
        metrics: SiteMetrics {
            psnr: 30.0,
            ssim: 0.9,
            nmse: 0.01,
        },
    };
    let text = serde_json::to_string(&up).unwrap();
    assert_eq!(serde_json::from_str::<ToCoordinator>(&text).unwrap(), up);
    assert_eq!(
        sample_clients(3, 5, &[0, 2, 4, 6], 0.5),
        sample_clients(3, 5, &[0, 2, 4, 6], 0.5)
    );
    let _ = Rule::FedAvg;
}
