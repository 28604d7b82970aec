//! The replicated rows: a synchronous command through a vault that replicates its journal to a
//! three-server JetStream cluster (R3), against a raw R3 publish-ack of the same bytes on the
//! same cluster, interleaved in one run (the targets are ratios to that publish).
//!
//! `-- --replicated` runs them alone; `-- --sync-always` sets `sync_interval: always` on every
//! server (each server syncs before it acknowledges).

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use capvault::replication::ReplicationConfig;
use capvault::{Builder, Durability};

use super::remote::nats_server;
use super::{allocate, histogram, ledger, record, release, Settings};

/// The three servers, killed and their folder removed on drop.
struct Cluster {
    children: Vec<Child>,
    dir: PathBuf,
    urls: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, std::io::Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_cluster(
    binary: &Path,
    dir: &Path,
    sync_always: bool,
) -> Result<Cluster, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let mut ports = Vec::new();
    for _ in 0..3 {
        ports.push((free_port()?, free_port()?));
    }
    let routes: Vec<String> =
        ports.iter().map(|(_, route)| format!("nats-route://127.0.0.1:{route}")).collect();
    let sync = if sync_always { "sync_interval: always, " } else { "" };
    let mut cluster = Cluster { children: Vec::new(), dir: dir.to_owned(), urls: Vec::new() };
    for (n, (port, route)) in ports.iter().enumerate() {
        let config = dir.join(format!("n{n}.conf"));
        std::fs::write(
            &config,
            format!(
                "server_name: n{n}\nlisten: 127.0.0.1:{port}\njetstream {{ {sync}store_dir: \"{}\" }}\n\
                 cluster {{ name: latency, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                dir.join(format!("js{n}")).display(),
                routes.join(", ")
            ),
        )?;
        let child = Process::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        cluster.children.push(child);
        cluster.urls.push(format!("nats://127.0.0.1:{port}"));
    }
    Ok(cluster)
}

/// A stream of its own on the same cluster, and a publisher that awaits each acknowledgement.
struct Raw {
    runtime: tokio::runtime::Runtime,
    jetstream: jetstream::Context,
}

impl Raw {
    /// Connects and creates the raw stream, retrying while the cluster elects its leaders.
    fn connect(urls: &[String]) -> Result<Raw, Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let servers: Vec<async_nats::ServerAddr> =
            urls.iter().map(|url| url.parse()).collect::<Result<_, _>>()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let jetstream = loop {
            let attempt = runtime.block_on(async {
                let client = async_nats::connect(servers.clone()).await?;
                let jetstream = jetstream::new(client);
                let config = stream::Config {
                    name: "LATENCY_RAW".into(),
                    subjects: vec!["latency.raw".into()],
                    num_replicas: 3,
                    storage: stream::StorageType::File,
                    ..Default::default()
                };
                jetstream.get_or_create_stream(config).await?;
                Ok::<_, Box<dyn std::error::Error>>(jetstream)
            });
            match attempt {
                Ok(jetstream) => break jetstream,
                Err(error) if Instant::now() > deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        Ok(Raw { runtime, jetstream })
    }

    /// One publish of `body`, acknowledged by the stream's quorum.
    fn publish(&self, body: &bytes::Bytes) -> Result<(), Box<dyn std::error::Error>> {
        self.runtime.block_on(async { self.jetstream.publish("latency.raw", body.clone()).await?.await })?;
        Ok(())
    }

    /// Messages per second with `in_flight` publishers, each awaiting its acknowledgement
    /// before its next publish.
    fn rate(
        &self,
        body: &bytes::Bytes,
        in_flight: usize,
        each: u64,
    ) -> Result<f64, Box<dyn std::error::Error>> {
        let start = Instant::now();
        self.runtime.block_on(async {
            let tasks: Vec<_> = (0..in_flight)
                .map(|_| {
                    let (jetstream, body) = (self.jetstream.clone(), body.clone());
                    tokio::spawn(async move {
                        for _ in 0..each {
                            jetstream.publish("latency.raw", body.clone()).await?.await?;
                        }
                        Ok::<_, async_nats::Error>(())
                    })
                })
                .collect();
            for task in tasks {
                task.await?.map_err(|e| e.to_string())?;
            }
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
        Ok((in_flight as u64 * each) as f64 / start.elapsed().as_secs_f64())
    }

    /// The payload of the vault stream's last message: a one-command batch, as replicated.
    fn last_batch(&self, stream: &str) -> Result<bytes::Bytes, Box<dyn std::error::Error>> {
        self.runtime.block_on(async {
            let mut stream = self.jetstream.get_stream(stream).await?;
            let last = stream.info().await?.state.last_sequence;
            Ok(stream.get_raw_message(last).await?.payload)
        })
    }
}

/// An allocation and its release per pair of samples: the book stays level.
fn command(n: u64) -> capvault::Command {
    if n.is_multiple_of(2) {
        allocate(1)
    } else {
        release(1)
    }
}

/// `replicated_*` keys: the synchronous round trip of a replicated vault (local journal
/// `FsyncBatch`, then `Write`) beside a raw R3 publish-ack of the batch's own bytes, in
/// interleaved blocks, and 8 concurrent callers against 8 raw publishers in flight. Empty
/// when no nats-server is found.
pub fn report(settings: &Settings, sync_always: bool) -> Result<String, Box<dyn std::error::Error>> {
    let Some(binary) = nats_server() else {
        println!("replicated rows: no nats-server (set NATS_SERVER or put it on PATH): skipped");
        return Ok(String::new());
    };
    let dir = std::env::temp_dir().join(format!("capvault-latency-replicated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = start_cluster(&binary, &dir, sync_always)?;
    let raw = Raw::connect(&cluster.urls)?;
    println!();
    println!(
        "replicated (three nats-servers on loopback, R3 streams, sync_interval {}):",
        if sync_always { "always" } else { "default" }
    );
    let mut keys = Vec::new();
    for (name, durability) in [("fsync", Durability::FsyncBatch), ("write", Durability::Write)] {
        keys.push(one_mode(settings, &cluster, &raw, name, durability)?);
    }
    Ok(keys.join(","))
}

fn one_mode(
    settings: &Settings,
    cluster: &Cluster,
    raw: &Raw,
    name: &str,
    durability: Durability,
) -> Result<String, Box<dyn std::error::Error>> {
    let stream = format!("LATENCY_{}", name.to_uppercase());
    let config: ReplicationConfig = serde_json::from_value(serde_json::json!({
        "servers": cluster.urls, "stream": stream, "subject": format!("latency.{name}"),
    }))?;
    let data = cluster.dir.join(format!("vault-{name}"));
    let mut handle =
        Builder::new(ledger()?).data_dir(&data).durability(durability).replicate(config).spawn()?;
    for n in 0..100 {
        handle.submit(command(n))?;
    }
    let body = raw.last_batch(&stream)?;
    let (mut vault, mut publish) = (histogram(), histogram());
    let block = settings.samples(2_000).max(100);
    let mut n = 0_u64;
    for pair in 0..4 {
        for vault_first in [pair % 2 != 0, pair % 2 == 0] {
            for _ in 0..block {
                let start = Instant::now();
                if vault_first {
                    handle.submit(command(n))?;
                    record(&mut vault, start);
                    n += 1;
                } else {
                    raw.publish(&body)?;
                    record(&mut publish, start);
                }
            }
        }
    }
    let (p50, raw_p50) = (vault.value_at_quantile(0.5), publish.value_at_quantile(0.5));
    let ratio = p50 as f64 / raw_p50.max(1) as f64;
    println!(
        "  local journal {name}: command p50 {p50} ns, p99 {} ns; raw R3 publish-ack of its {} bytes p50 {raw_p50} ns, p99 {} ns; ratio {ratio:.2}",
        vault.value_at_quantile(0.99),
        body.len(),
        publish.value_at_quantile(0.99),
    );
    let each = settings.samples(2_000).max(100);
    let start = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let mut handle = handle.clone();
            std::thread::spawn(move || -> Result<(), String> {
                for n in 0..each {
                    handle.submit(command(n)).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for caller in callers {
        caller.join().map_err(|_| "a caller panicked")??;
    }
    let rate = 8.0 * each as f64 / start.elapsed().as_secs_f64();
    let raw_rate = raw.rate(&body, 8, each)?;
    let throughput = rate / raw_rate.max(1.0);
    println!(
        "  local journal {name}, 8 callers: {rate:.0} commands/s; raw stream, 8 publishes in flight: {raw_rate:.0}/s; ratio {throughput:.2}"
    );
    handle.shutdown().map_err(|e| e.to_string())?;
    Ok(format!(
        "\"replicated_{name}_p50_ns\":{p50},\"replicated_{name}_p99_ns\":{},\"replicated_{name}_raw_p50_ns\":{raw_p50},\"replicated_{name}_vs_raw_p50\":{ratio:.3},\"replicated_{name}_8c_cmds_per_s\":{rate:.0},\"replicated_{name}_raw_8_per_s\":{raw_rate:.0},\"replicated_{name}_8c_vs_raw\":{throughput:.3}",
        vault.value_at_quantile(0.99)
    ))
}
