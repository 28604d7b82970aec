//! The remote rows: commands over NATS (`capvault::remote`) against a raw NATS request/reply
//! echo between the same processes on the same nats-server, in one run (the issue's targets are
//! ratios to that echo, not absolute figures).

use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use capvault::remote::{NatsConfig, NatsFront, RemoteClient, RemoteOptions};
use capvault::{Builder, Grant};
use futures_util::StreamExt;

use super::{allocate, histogram, ledger, record, release, Settings};

/// nats-server as a child, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn nats_server() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("nats-server")).find(|p| p.is_file())
}

fn start_server(binary: &std::path::Path) -> Result<(Server, String), Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Process::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server(child);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok((server, format!("nats://127.0.0.1:{port}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("nats-server did not open its port".into())
}

/// A raw responder on `subject` that answers each request with a body the size of the vault's
/// answer to an allocation: the floor a remote command is measured against.
fn echo(url: &str, subject: &str) -> Result<tokio::runtime::Runtime, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let client = runtime.block_on(async_nats::connect(url))?;
    let mut requests = runtime.block_on(client.subscribe(subject.to_owned()))?;
    runtime.spawn(async move {
        let answer = bytes::Bytes::from_static(
            br#"{"v":1,"seq":123456,"outcome":{"outcome":"allocated","balance":1}}"#,
        );
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                let _ = client.publish(reply, answer.clone()).await;
            }
        }
    });
    Ok(runtime)
}

/// A blocking requester of the echo, built as `RemoteClient` is (its own runtime, one request
/// at a time).
struct Echo {
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    body: bytes::Bytes,
}

impl Echo {
    fn connect(url: &str) -> Result<Echo, Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let client = runtime.block_on(async_nats::connect(url))?;
        let body = bytes::Bytes::from_static(
            br#"{"v":1,"request":1790000000000000,"command":{"op":"allocate","book":0,"slot":3,"amount":1}}"#,
        );
        Ok(Echo { runtime, client, body })
    }

    fn request(&self) -> Result<(), Box<dyn std::error::Error>> {
        self.runtime.block_on(self.client.request("latency.echo", self.body.clone()))?;
        Ok(())
    }
}

fn remote_client(url: &str, user: &str) -> Result<RemoteClient, Box<dyn std::error::Error>> {
    Ok(RemoteClient::connect(RemoteOptions::new(url, "latency", user))?)
}

/// An allocation and its release per pair of samples: the book stays level.
fn command(n: u64) -> capvault::Command {
    if n.is_multiple_of(2) {
        allocate(1)
    } else {
        release(1)
    }
}

/// `remote_*` keys: round-trip percentiles of a Rust remote command and of the raw echo,
/// interleaved in blocks (echo, remote, remote, echo, ...) so drift hits both alike, and the
/// throughput of 8 concurrent clients of each. Empty when no nats-server is found.
pub fn report(settings: &Settings) -> Result<String, Box<dyn std::error::Error>> {
    let Some(binary) = nats_server() else {
        println!("remote rows: no nats-server (set NATS_SERVER or put it on PATH): skipped");
        return Ok(String::new());
    };
    let (_server, url) = start_server(&binary)?;
    let handle = Builder::new(ledger()?).spawn()?;
    let config: NatsConfig = serde_json::from_value(serde_json::json!({
        "servers": [url], "kv": false, "clients": {}, "others": Grant::all(),
    }))?;
    let front = NatsFront::start("latency", &config, &handle)?;
    let _echo = echo(&url, "latency.echo")?;

    let (mut remote, mut raw) = (histogram(), histogram());
    let mut client = remote_client(&url, "bench")?;
    let requester = Echo::connect(&url)?;
    let block = settings.samples(5_000).max(200);
    let mut n = 0_u64;
    for pair in 0..4 {
        for remote_first in [pair % 2 != 0, pair % 2 == 0] {
            for _ in 0..block {
                let start = Instant::now();
                if remote_first {
                    client.submit(command(n))?;
                    record(&mut remote, start);
                    n += 1;
                } else {
                    requester.request()?;
                    record(&mut raw, start);
                }
            }
        }
    }
    let (remote_p50, raw_p50) = (remote.value_at_quantile(0.5), raw.value_at_quantile(0.5));
    let ratio = remote_p50 as f64 / raw_p50.max(1) as f64;
    println!(
        "remote round trip (Rust client, NATS loopback): p50 {remote_p50} ns, p99 {} ns; raw NATS echo: p50 {raw_p50} ns, p99 {} ns; remote/echo p50 {ratio:.2}",
        remote.value_at_quantile(0.99),
        raw.value_at_quantile(0.99),
    );
    let per_client = settings.samples(4_000).max(200);
    // One NATS user per client: request numbers are keyed by the client's name.
    let users = std::sync::atomic::AtomicUsize::new(0);
    let remote_rate = concurrent(8, per_client, || {
        let user = format!("bench-{}", users.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut client = remote_client(&url, &user)?;
        Ok(Box::new(move |n| client.submit(command(n)).map(|_| ()).map_err(|e| e.to_string().into())))
    })?;
    let raw_rate = concurrent(8, per_client, || {
        let requester = Echo::connect(&url)?;
        Ok(Box::new(move |_| requester.request()))
    })?;
    let throughput_ratio = remote_rate / raw_rate.max(1.0);
    println!(
        "remote throughput, 8 clients: {remote_rate:.0} commands/s; raw echo, 8 requesters: {raw_rate:.0}/s; ratio {throughput_ratio:.2}"
    );
    front.stop();
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(format!(
        "\"remote_rust_p50_ns\":{remote_p50},\"remote_rust_p99_ns\":{},\"remote_echo_p50_ns\":{raw_p50},\"remote_echo_p99_ns\":{},\"remote_rust_vs_echo_p50\":{ratio:.3},\"remote_8c_cmds_per_s\":{remote_rate:.0},\"remote_echo_8c_per_s\":{raw_rate:.0},\"remote_8c_vs_echo\":{throughput_ratio:.3}",
        remote.value_at_quantile(0.99),
        raw.value_at_quantile(0.99),
    ))
}

type Step = Box<dyn FnMut(u64) -> Result<(), Box<dyn std::error::Error>> + Send>;

/// Requests per second of `clients` threads, each making its own connection with `connect` and
/// sending `each` requests one after another.
fn concurrent(
    clients: usize,
    each: u64,
    connect: impl Fn() -> Result<Step, Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut steps = Vec::new();
    for _ in 0..clients {
        steps.push(connect()?);
    }
    let start = Instant::now();
    let threads: Vec<_> = steps
        .into_iter()
        .map(|mut step| {
            std::thread::spawn(move || -> Result<(), String> {
                for n in 0..each {
                    step(n).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a client thread panicked")??;
    }
    Ok((clients as u64 * each) as f64 / start.elapsed().as_secs_f64())
}
