//! A Jepsen-style checker of the replicated vault: three nats-servers in a JetStream cluster (the
//! journal's stream has three replicas), two `capvault serve` processes (a leader and a
//! `--standby`), and remote clients sending allocations, releases, adjustments, reserves, fills,
//! cancels and order releases under request numbers, resending until answered. Each round runs
//! the load for a moment and then one fault, chosen at random: the leader `kill -9`ed, the
//! leader paused (`SIGSTOP`) until the standby took over and then resumed, a nats-server killed
//! and restarted, or a client that dies after sending (a request published and never awaited).
//! Vaults that stop are restarted as standbys.
//!
//! At the end: both vaults' journals, recovered, equal the stream replayed on a plain ledger;
//! every acknowledged command is in the stream exactly once, at the sequence it was answered
//! with; no rejected command is there; and every epoch's messages were appended by one vault
//! process. `CAPVAULT_CHECK_ROUNDS` sets the rounds (30 by default, as CI runs it); the takeover
//! times are printed (`takeover_*`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capvault::remote::{RemoteClient, RemoteOptions};
use capvault::replication::{read_stream, replay, ReplicationConfig};
use capvault::{
    BookId, Builder, ClientOrderId, Command, Ledger, LedgerConfig, RequestKey, Side, SubmitError,
};
use common::nats::{free_port, nats_server, wait_port};
use common::{units, KillOnDrop};

const CNY: BookId = BookId::new(0);
const LEDGER: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 10000000,
    "strategies": [ { "slot": 2, "label": "159201" }, { "slot": 3, "label": "512890" } ] } ] }"#;
const TTL_MS: u64 = 1_000;
const CLIENTS: usize = 3;

/// `SplitMix64`: the rounds are fixed by the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One nats-server of the cluster.
struct Server {
    config: PathBuf,
    port: u16,
    process: Option<KillOnDrop>,
}

impl Server {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.config.with_extension("log"))
            .unwrap();
        let child = Process::new(nats_server())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.process = Some(KillOnDrop(child));
        wait_port("127.0.0.1", self.port);
    }
}

fn cluster(dir: &Path) -> Vec<Server> {
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes: Vec<String> = ports.iter().map(|(_, c)| format!("nats-route://127.0.0.1:{c}")).collect();
    let mut servers: Vec<Server> = ports
        .iter()
        .enumerate()
        .map(|(n, (port, cluster_port))| {
            let config = dir.join(format!("n{n}.conf"));
            let text = format!(
                "server_name: n{n}\nlisten: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: capvault, listen: 127.0.0.1:{cluster_port}, routes: [{}] }}\n",
                dir.join(format!("js-n{n}")).display(),
                routes.join(", ")
            );
            std::fs::write(&config, text).unwrap();
            Server { config, port: *port, process: None }
        })
        .collect();
    for server in &mut servers {
        server.start();
    }
    servers
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Leader,
    Standby,
    Starting,
    Dead,
}

/// One `capvault serve` process and what it printed.
struct Vault {
    config: PathBuf,
    data: PathBuf,
    process: Option<KillOnDrop>,
    lines: Option<Receiver<(Instant, String)>>,
    role: Role,
    /// When it last printed `ready`.
    ready_at: Option<Instant>,
}

impl Vault {
    fn start(&mut self, standby: bool) {
        let mut command = Process::new(env!("CARGO_BIN_EXE_capvault"));
        // Each vault's log, appended across its restarts, for a failed run to be read.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.config.with_extension("log"))
            .unwrap();
        command.arg("serve").arg(&self.config).stdout(Stdio::piped()).stderr(log);
        if standby {
            command.arg("--standby");
        }
        let mut child = command.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        self.process = Some(KillOnDrop(child));
        self.lines = Some(rx);
        self.role = Role::Starting;
    }

    /// Reads what it printed, and whether it is still running.
    fn poll(&mut self) {
        if let Some(lines) = &self.lines {
            loop {
                match lines.try_recv() {
                    Ok((at, line)) if line.starts_with("ready ") => {
                        self.role = Role::Leader;
                        self.ready_at = Some(at);
                    }
                    Ok((_, line)) if line.starts_with("standby ") => self.role = Role::Standby,
                    Ok(_) | Err(TryRecvError::Disconnected | TryRecvError::Empty) => break,
                }
            }
        }
        if let Some(process) = &mut self.process {
            if !matches!(process.0.try_wait(), Ok(None)) {
                self.role = Role::Dead;
            }
        }
    }

    fn signal(&self, signal: &str) {
        if let Some(process) = &self.process {
            let _ = Process::new("kill").args([signal, &process.0.id().to_string()]).status();
        }
    }
}

fn write_config(dir: &Path, which: &str, urls: &[String]) -> (PathBuf, PathBuf) {
    let file = dir.join(format!("vault-{which}.json"));
    let data = dir.join(format!("data-{which}"));
    let text = serde_json::json!({
        "name": "ha", "ledger": serde_json::from_str::<serde_json::Value>(LEDGER).unwrap(),
        "data_dir": data, "gateway": false,
        "nats": { "servers": urls, "kv": false,
                  "others": { "kinds": ["allocate", "release", "adjust", "reserve", "fill_to", "cancel", "release_order"] } },
        "replication": replication(urls),
    });
    std::fs::write(&file, text.to_string()).unwrap();
    (file, data)
}

fn replication(urls: &[String]) -> serde_json::Value {
    serde_json::json!({ "servers": urls, "stream": "CAPVAULT_HA", "subject": "capvault.ha.journal",
        "replicas": 3, "lease_ttl_ms": TTL_MS, "ack_timeout_ms": 3_000 })
}

/// What the clients were told: per client name, request number -> the sequence it was answered
/// with (`Some`) or a rejection (`None`).
type Told = Arc<Mutex<BTreeMap<String, BTreeMap<u64, Option<u64>>>>>;

/// A client's load until `stop`: commands of every kind on its own orders and slots.
fn client(
    name: String,
    urls: Vec<String>,
    seed: u64,
    stop: Arc<AtomicBool>,
    told: Told,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut options = RemoteOptions::new(&urls[0], "ha", &name);
        options.servers = urls;
        options.attempt = Duration::from_millis(400);
        options.deadline = Duration::from_secs(90);
        let mut vault = RemoteClient::connect(options).unwrap();
        let mut rng = Rng(seed);
        let mut orders: Vec<ClientOrderId> = Vec::new();
        let mut n = 0_u64;
        while !stop.load(Ordering::Relaxed) {
            let slot = 2 + u8::try_from(rng.below(2)).unwrap();
            let command = match (rng.below(7), orders.last()) {
                (0, _) => Command::Allocate { book: CNY, slot, amount: units(3) },
                (1, _) => Command::Release { book: CNY, slot, amount: units(1) },
                (2, _) => Command::Adjust { book: CNY, slot, delta: units(1) },
                (4, Some(&id)) => {
                    Command::FillTo { id, filled: units(1 + i64::try_from(rng.below(5)).unwrap()) }
                }
                (5, Some(&id)) => Command::Cancel { id },
                (6, Some(_)) => Command::ReleaseOrder { id: orders.remove(0) },
                _ => {
                    n += 1;
                    let id = ClientOrderId::snowflake(seed * 1_000_000_000 + n).unwrap();
                    orders.push(id);
                    Command::Reserve { id, book: CNY, slot, side: Side::Buy, layer: 1, amount: units(10) }
                }
            };
            let request = vault.next_request();
            let answer = match vault.submit_once(request, command) {
                Ok(receipt) => Some(Some(receipt.seq)),
                Err(SubmitError::Rejected(_)) => Some(None),
                // No answer before the deadline: in doubt, not counted.
                Err(_) => None,
            };
            if let Some(answer) = answer {
                told.lock().unwrap().entry(name.clone()).or_default().insert(request, answer);
            }
        }
    })
}

/// A client that dies after sending: one request published, its answer never awaited.
fn dying_client(urls: &[String], n: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        if let Ok(client) = async_nats::connect(urls[0].as_str()).await {
            let body = serde_json::json!({ "v": 1, "request": n,
                "command": { "op": "allocate", "book": 0, "slot": 2, "amount": 1 } });
            let _ = client
                .publish_with_reply("capvault.ha.cmd.dying", "_INBOX.dead", body.to_string().into())
                .await;
            let _ = client.flush().await;
        }
    });
}

/// Waits until one vault leads and the other follows, restarting a stopped one as a standby.
fn settle(vaults: &mut [Vault; 2]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for vault in vaults.iter_mut() {
            vault.poll();
        }
        let leaders = vaults.iter().filter(|v| v.role == Role::Leader).count();
        for n in 0..2 {
            if vaults[n].role == Role::Dead {
                // A leader refused at start (the cluster not ready) starts again as a leader if
                // no one leads; anything else rejoins as a standby.
                let standby = leaders > 0 || vaults[1 - n].role != Role::Dead;
                vaults[n].start(standby);
            }
        }
        if leaders == 1 && vaults.iter().all(|v| matches!(v.role, Role::Leader | Role::Standby)) {
            return vaults.iter().position(|v| v.role == Role::Leader).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no leader and standby within 60 s: {:?}",
            vaults.iter().map(|v| v.role).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until a vault other than `paused` leads again, restarting a stopped one as a standby;
/// how long after `fault` it printed `ready`.
fn ready_after(vaults: &mut [Vault; 2], fault: Instant, paused: Option<usize>) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for (n, vault) in vaults.iter_mut().enumerate() {
            if Some(n) == paused {
                continue;
            }
            vault.poll();
            if let Some(at) = vault.ready_at.filter(|at| *at > fault) {
                return at - fault;
            }
            if vault.role == Role::Dead {
                vault.start(true);
            }
        }
        assert!(Instant::now() < deadline, "no vault took over within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `q` quantile of `sorted`, in milliseconds (0 for none).
fn percentile_ms(sorted: &[Duration], q: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_millis()
}

#[test]
fn the_replicated_vault_survives_faults_with_every_acknowledged_command_once() {
    let rounds: u64 = std::env::var("CAPVAULT_CHECK_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(30);
    let dir = std::env::temp_dir().join(format!("capvault-checker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut servers = cluster(&dir);
    let urls: Vec<String> = servers.iter().map(|s| format!("nats://127.0.0.1:{}", s.port)).collect();
    let mut vaults = ["a", "b"].map(|which| {
        let (config, data) = write_config(&dir, which, &urls);
        Vault { config, data, process: None, lines: None, role: Role::Dead, ready_at: None }
    });
    vaults[0].start(false);
    while vaults[0].role != Role::Leader {
        // The cluster may still be electing its JetStream leader: a refused start is retried.
        vaults[0].poll();
        if vaults[0].role == Role::Dead {
            std::thread::sleep(Duration::from_millis(500));
            vaults[0].start(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    vaults[1].start(true);
    settle(&mut vaults);

    let (stop, told) = (Arc::new(AtomicBool::new(false)), Told::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| client(format!("c{n}"), urls.clone(), n as u64 + 1, stop.clone(), told.clone()))
        .collect();
    let mut rng = Rng(0x00C0_FFEE);
    let mut takeovers = Vec::new();
    let mut faults: BTreeMap<&str, u64> = BTreeMap::new();
    for round in 0..rounds {
        std::thread::sleep(Duration::from_millis(200 + rng.below(400)));
        let leader = settle(&mut vaults);
        let fault = ["kill_leader", "pause_leader", "kill_nats", "dying_client"][rng.below(4) as usize];
        *faults.entry(fault).or_default() += 1;
        if let Some(took) = inject(fault, round, leader, &mut vaults, &mut servers, &urls, &mut rng) {
            eprintln!("round {round}: taken over in {} ms", took.as_millis());
            takeovers.push(took);
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    settle(&mut vaults);
    check(&urls, &mut vaults, &told);
    takeovers.sort();
    let told_count: usize = told.lock().unwrap().values().map(BTreeMap::len).sum();
    println!(
        "checker: {rounds} rounds {faults:?}, {told_count} commands answered; takeover_p50_ms {} takeover_p99_ms {} takeover_max_ms {} ({} takeovers, lease {TTL_MS} ms)",
        percentile_ms(&takeovers, 0.5),
        percentile_ms(&takeovers, 0.99),
        takeovers.last().map_or(0, Duration::as_millis),
        takeovers.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Injects `fault` in round `round`; the takeover's time when the leader was the victim.
fn inject(
    fault: &str,
    round: u64,
    leader: usize,
    vaults: &mut [Vault; 2],
    servers: &mut [Server],
    urls: &[String],
    rng: &mut Rng,
) -> Option<Duration> {
    let at = Instant::now();
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    eprintln!(
        "round {round}: {fault} (leader {leader}) at {}.{:03} s since the epoch",
        wall.as_secs(),
        wall.subsec_millis()
    );
    match fault {
        "kill_leader" => {
            vaults[leader].process = None;
            vaults[leader].role = Role::Dead;
            return Some(ready_after(vaults, at, None));
        }
        "pause_leader" => {
            vaults[leader].signal("-STOP");
            let took = ready_after(vaults, at, Some(leader));
            vaults[leader].signal("-CONT");
            // Resumed, it finds itself fenced or without its lease, and stops.
            let deadline = Instant::now() + Duration::from_secs(30);
            while vaults[leader].role != Role::Dead {
                assert!(Instant::now() < deadline, "round {round}: a resumed stale leader kept running");
                vaults[leader].poll();
                std::thread::sleep(Duration::from_millis(10));
            }
            return Some(took);
        }
        "kill_nats" => {
            let n = rng.below(3) as usize;
            servers[n].process = None;
            std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
            servers[n].start();
        }
        _ => dying_client(urls, round + 1),
    }
    None
}

/// The final checks: the stream against what clients were told and against both journals.
fn check(urls: &[String], vaults: &mut [Vault; 2], told: &Told) {
    let config: ReplicationConfig = serde_json::from_value(replication(urls)).unwrap();
    let batches = read_stream(&config).unwrap();
    let mut ledger = Ledger::from_config(&LedgerConfig::from_json(LEDGER).unwrap()).unwrap();
    let last = replay(&batches, &mut ledger).unwrap();

    // Every epoch was appended by one vault process.
    let mut writers: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for batch in &batches {
        writers.entry(batch.epoch).or_default().insert(&batch.writer);
    }
    assert!(writers.values().all(|w| w.len() == 1), "an epoch with two writers: {writers:?}");

    // Every acknowledged command is in the stream once, at its sequence; no rejected one is.
    let mut in_stream: HashMap<(u64, u64), Vec<u64>> = HashMap::new();
    for (seq, key, _) in batches.iter().flat_map(|b| &b.records) {
        if let Some(key) = key {
            in_stream.entry((key.client(), key.request())).or_default().push(*seq);
        }
    }
    assert!(in_stream.values().all(|seqs| seqs.len() == 1), "a request applied twice");
    for (name, answers) in told.lock().unwrap().iter() {
        let tag = RequestKey::client_tag(name);
        for (request, answer) in answers {
            let found = in_stream.get(&(tag, *request));
            match answer {
                Some(seq) => {
                    assert_eq!(found, Some(&vec![*seq]), "{name} request {request}: acknowledged at {seq}");
                }
                None => assert_eq!(found, None, "{name} request {request}: rejected, yet in the stream"),
            }
        }
    }

    // Both vaults, stopped and recovered from their own journals, equal the stream replayed: the
    // leader first; then the standby, once it has taken over from it (it reads to the stream's end
    // before it leads, however far behind the last faults left it).
    let leader = vaults.iter().position(|v| v.role == Role::Leader).expect("a leader at the end");
    vaults.swap(0, leader);
    for (turn, vault) in vaults.iter_mut().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while turn == 1 && vault.role != Role::Leader {
            assert!(Instant::now() < deadline, "{}: did not take over within 60 s", vault.data.display());
            vault.poll();
            std::thread::sleep(Duration::from_millis(20));
        }
        vault.signal("-TERM");
        if let Some(mut process) = vault.process.take() {
            let _ = process.0.wait();
        }
        let recovered = Builder::from_config(&LedgerConfig::from_json(LEDGER).unwrap())
            .unwrap()
            .data_dir(&vault.data)
            .spawn()
            .unwrap();
        let snapshot = recovered.snapshot();
        assert_eq!(snapshot.seq(), last, "{}: at the stream's end", vault.data.display());
        assert_eq!(
            serde_json::to_value(snapshot.book(CNY).unwrap()).unwrap(),
            serde_json::to_value(ledger.book(CNY).unwrap()).unwrap(),
            "{}: equals the stream replayed",
            vault.data.display()
        );
        drop(snapshot);
        recovered.shutdown().unwrap();
    }
}
