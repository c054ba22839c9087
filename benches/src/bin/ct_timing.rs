//! Time one CT projector operation on a benchmark geometry, for the peer comparison
//! (`benches/peers/ct_projectors.py`).
//!
//! ```text
//! ct_timing --case 512|lodopab --op forward|adjoint [--repeat N] [--warmup W]
//!           [--input FILE] [--output FILE]
//! ```
//! `--input` is a raw little-endian `f32` file holding the operation's input (an image `(ny, nx)`
//! for `forward`, a sinogram `(n_angles, n_det)` for `adjoint`, row-major); without it the input
//! is the modified Shepp–Logan phantom (for `adjoint`: its Joseph sinogram). `--output` writes the
//! result the same way. Prints one `time_ms: <float>` line per timed repetition on stdout (after
//! `warmup` untimed ones) and, on Linux, a `cpu_ms: <float>` line with the CPU time all threads
//! of the process spent in it (from `/proc/self/task/*/schedstat`; unlike the wall time it is
//! hardly affected by other processes competing for the cores), and a `# …` description line on
//! stderr.

use fedrecon_benches::case;
use fedrecon_physics::LinearOperator;
use fedrecon_physics::ct::JosephProjector;
use fedrecon_physics::phantom::Phantom;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    case: String,
    op: String,
    repeat: usize,
    warmup: usize,
    input: Option<String>,
    output: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        case: "512".into(),
        op: "forward".into(),
        repeat: 5,
        warmup: 1,
        input: None,
        output: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--case" => a.case = val()?,
            "--op" => a.op = val()?,
            "--repeat" => a.repeat = val()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "--warmup" => a.warmup = val()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--input" => a.input = Some(val()?),
            "--output" => a.output = Some(val()?),
            "-h" | "--help" => return Err("usage: ct_timing --case 512|lodopab --op forward|adjoint [--repeat N] [--warmup W] [--input FILE] [--output FILE]".into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if a.repeat == 0 {
        return Err("--repeat must be ≥ 1".into());
    }
    Ok(a)
}

fn read_f32(path: &str, len: usize) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    if bytes.len() != 4 * len {
        return Err(format!(
            "{path}: {} bytes, expected {} ({len} f32)",
            bytes.len(),
            4 * len
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn write_f32(path: &str, v: &[f32]) -> Result<(), String> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| format!("writing {path}: {e}"))
}

fn run() -> Result<(), String> {
    let args = parse()?;
    let c =
        case(&args.case).ok_or_else(|| format!("unknown --case {:?} (512, lodopab)", args.case))?;
    let geom = c.geom.clone();
    let op = JosephProjector::new(geom.clone());
    let forward = match args.op.as_str() {
        "forward" => true,
        "adjoint" | "back" => false,
        other => return Err(format!("unknown --op {other:?} (forward, adjoint)")),
    };
    let (n_in, n_out) = if forward {
        (op.domain_len(), op.range_len())
    } else {
        (op.range_len(), op.domain_len())
    };
    let input = match &args.input {
        Some(p) => read_f32(p, n_in)?,
        None => {
            let img = Phantom::modified_shepp_logan()
                .fit_to(&geom.image)
                .rasterize(&geom.image, 2);
            if forward {
                img
            } else {
                op.forward_vec(&img).map_err(|e| e.to_string())?
            }
        }
    };
    eprintln!(
        "# ct_timing case={} op={} image={:?} sino={:?} threads={}",
        c.name,
        args.op,
        op.domain_shape(),
        op.range_shape(),
        rayon::current_num_threads()
    );
    let mut out = vec![0.0f32; n_out];
    let apply = |out: &mut [f32]| {
        if forward {
            op.forward(&input, out)
        } else {
            op.adjoint(&input, out)
        }
    };
    for _ in 0..args.warmup {
        apply(&mut out).map_err(|e| e.to_string())?;
    }
    for _ in 0..args.repeat {
        let c = cpu_ns();
        let t = Instant::now();
        apply(&mut out).map_err(|e| e.to_string())?;
        let wall = t.elapsed();
        println!("time_ms: {:.3}", wall.as_secs_f64() * 1e3);
        if let (Some(c0), Some(c1)) = (c, cpu_ns()) {
            println!("cpu_ms: {:.3}", c1.saturating_sub(c0) as f64 * 1e-6);
        }
    }
    if let Some(p) = &args.output {
        write_f32(p, &out)?;
    }
    Ok(())
}

/// CPU time (ns) spent so far by all threads of this process, if `/proc` tells it.
fn cpu_ns() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ct_timing: {e}");
            ExitCode::FAILURE
        }
    }
}
