//! The cross-process rows: a client process commanding this process's vault through the
//! gateway, against the in-process rows of the same run.

use std::process::{Command as Process, Stdio};
use std::time::Instant;

use capvault::{Builder, Client, Grant, ServeConfig, WaitStrategy};

use super::{cancel, histogram, ledger, record, reserve, Settings};

/// Runs in the child process: `--ipc-client NAME WAIT SAMPLES [FIRST_ID]` times reserve round
/// trips (order ids from `FIRST_ID`, default 1: ids a ledger has resolved are not reused) and
/// prints `p50 p999`; `--ipc-detached NAME COUNT` sends detached commands and prints the count
/// per second.
pub fn child(args: &[String]) -> Result<bool, Box<dyn std::error::Error>> {
    match args {
        [flag, name, wait, samples, rest @ ..] if flag == "--ipc-client" => {
            let first: u64 = rest.first().map_or(Ok(1), |id| id.parse())?;
            let wait = match wait.as_str() {
                "spin" => WaitStrategy::BusySpin,
                "park" => WaitStrategy::default(),
                _ => WaitStrategy::Blocking,
            };
            let mut client = Client::connect_with(name, "bench", wait)?;
            let mut h = histogram();
            let samples: u64 = samples.parse()?;
            for n in first..first + samples {
                let start = Instant::now();
                client.submit(reserve(n, 2))?;
                record(&mut h, start);
                client.submit(cancel(n))?;
            }
            println!("{} {}", h.value_at_quantile(0.5), h.value_at_quantile(0.999));
            Ok(true)
        }
        [flag, name, count, ..] if flag == "--ipc-detached" => {
            let mut client = Client::connect_with(name, "bench", WaitStrategy::BusySpin)?;
            let count: u64 = count.parse()?;
            let start = Instant::now();
            let mut answered = 0;
            for n in 0..count {
                // An allocation and its release: the book stays level.
                let command = if n % 2 == 0 { super::allocate(1) } else { super::release(1) };
                client.submit_detached(command)?;
                while client.try_outcome().is_some() {
                    answered += 1;
                }
            }
            while answered < count {
                if client.try_outcome().is_some() {
                    answered += 1;
                }
            }
            println!("{:.0}", count as f64 / start.elapsed().as_secs_f64());
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// The C++ client's round trip (`benches/cpp/round_trip.cpp`, built by `.ci/cpp.sh`, named by
/// `CAPVAULT_CPP_CLIENT`) beside the Rust client's, both busy-spinning, in interleaved pairs
/// (Rust, C++, C++, Rust, ...): `ipc_cpp_spin_*` and the ratio of the medians of their p50s.
fn cpp_rows(
    name: &str,
    cpp: &std::ffi::OsStr,
    settings: &Settings,
    keys: &mut Vec<String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let count = settings.samples(100_000);
    let samples = count.to_string();
    // Each run its own ids, above the other rows' (a resolved id is not reused).
    let mut next_id = 1_000_000_000_u64;
    let parse = |line: String| -> Result<(u64, u64), Box<dyn std::error::Error>> {
        let mut parts = line.split(' ').map(str::parse::<u64>);
        Ok((parts.next().ok_or("no p50")??, parts.next().ok_or("no p99.9")??))
    };
    let (mut rust, mut cpp_runs) = (Vec::new(), Vec::new());
    for pair in 0..4 {
        for first_rust in [pair % 2 == 0, pair % 2 != 0] {
            let first = next_id.to_string();
            next_id += count;
            if first_rust {
                rust.push(parse(output(spawn(&["--ipc-client", name, "spin", &samples, &first])?)?)?);
            } else {
                let args = [name, samples.as_str(), first.as_str()];
                let child = Process::new(cpp).args(args).stdout(Stdio::piped()).spawn()?;
                cpp_runs.push(parse(output(child)?)?);
            }
        }
    }
    let median = |runs: &mut Vec<(u64, u64)>, pick: fn(&(u64, u64)) -> u64| {
        let mut values: Vec<u64> = runs.iter().map(pick).collect();
        values.sort_unstable();
        values[values.len() / 2]
    };
    let (rust_p50, cpp_p50) = (median(&mut rust, |r| r.0), median(&mut cpp_runs, |r| r.0));
    let (rust_p999, cpp_p999) = (median(&mut rust, |r| r.1), median(&mut cpp_runs, |r| r.1));
    let ratio = cpp_p50 as f64 / rust_p50.max(1) as f64;
    println!(
        "ipc round trip, C++ client spin: p50 {cpp_p50} ns, p99.9 {cpp_p999} ns; Rust client in the same pairs: p50 \
         {rust_p50} ns, p99.9 {rust_p999} ns; C++/Rust p50 {ratio:.2}"
    );
    keys.push(format!(
        "\"ipc_cpp_spin_p50_ns\":{cpp_p50},\"ipc_cpp_spin_p999_ns\":{cpp_p999},\"ipc_cpp_rust_pair_p50_ns\":{rust_p50},\"ipc_cpp_vs_rust_p50\":{ratio:.3}"
    ));
    Ok(())
}

fn spawn(args: &[&str]) -> Result<std::process::Child, Box<dyn std::error::Error>> {
    Ok(Process::new(std::env::current_exe()?).args(args).stdout(Stdio::piped()).spawn()?)
}

fn output(child: std::process::Child) -> Result<String, Box<dyn std::error::Error>> {
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err("an ipc client process failed".into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// The IPC rows: round trips with the client busy-spinning, spin-parking and blocking (the vault
/// busy-spins, as in the in-process busy-spin row), and two detached clients' throughput.
/// Returns the rows and the JSON keys.
pub fn report(settings: &Settings) -> Result<(super::Rows, String), Box<dyn std::error::Error>> {
    let name = format!("latency-{}", std::process::id());
    let serve = ServeConfig::new(&name).client("bench", Grant::all()).in_flight_max(256);
    let mut builder = Builder::new(ledger()?).wait(WaitStrategy::BusySpin).serve(serve);
    if let Some(core) = settings.owner_core {
        builder = builder.pin_to_core(core);
    }
    let handle = builder.spawn()?;
    let mut keys = Vec::new();
    let mut rows = Vec::new();
    for (label, wait, samples) in
        [("spin", "spin", 200_000), ("park", "park", 200_000), ("blocking", "blocking", 3_000)]
    {
        let samples = settings.samples(samples).to_string();
        let line = output(spawn(&["--ipc-client", &name, wait, &samples])?)?;
        let mut parts = line.split(' ').map(str::parse::<u64>);
        let (p50, p999) = (parts.next().ok_or("no p50")??, parts.next().ok_or("no p99.9")??);
        println!("ipc round trip, client {label}: p50 {p50} ns, p99.9 {p999} ns");
        keys.push(format!("\"ipc_{label}_p50_ns\":{p50},\"ipc_{label}_p999_ns\":{p999}"));
        let mut h = histogram();
        let _ = h.record(p50);
        rows.push((format!("ipc: client {label} (p50 only)"), h));
    }
    if let Some(cpp) = std::env::var_os("CAPVAULT_CPP_CLIENT") {
        cpp_rows(&name, &cpp, settings, &mut keys)?;
    }
    let count = settings.samples(2_000_000).to_string();
    let children = [spawn(&["--ipc-detached", &name, &count])?, spawn(&["--ipc-detached", &name, &count])?];
    let mut total = 0.0;
    for child in children {
        total += output(child)?.parse::<f64>()?;
    }
    println!("ipc detached, two client processes: {total:.0} commands/s together");
    keys.push(format!("\"ipc_detached_2p_cmds_per_s\":{total:.0}"));
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok((rows, keys.join(",")))
}
