//! The operator's view of running vaults: `capvault list`, `capvault inspect NAME` against the
//! `serve` example and the main job (`dual_grid`) while they run, and a SIGTERM that shuts each
//! down cleanly (its mirror reads `closed`, its registry entry goes).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An example built beside this test (`cargo test` builds the examples).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let path = deps.parent().unwrap().join("examples").join(name);
    // `cargo test` builds the examples; `cargo test --test operator` alone does not (run
    // `cargo build --examples` first, or an old build is tested).
    assert!(path.is_file(), "{} is not built: run the tests with `cargo test`", path.display());
    path
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_capvault")).args(args).output().unwrap()
}

/// `capvault list --json`, one value per running vault.
fn listed() -> Vec<Value> {
    let output = cli(&["list", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Waits until `capvault list` shows `name` for the child's process.
fn wait_listed(name: &str, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = listed().into_iter().find(|v| v["name"] == name && v["pid"] == child.id()) {
            return found;
        }
        assert!(child.try_wait().unwrap().is_none(), "{name} ended before it was listed");
        assert!(Instant::now() < deadline, "{name} never listed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn inspect(name: &str) -> Value {
    let output = cli(&["inspect", name, "--json"]);
    assert!(output.status.success(), "inspect {name}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn terminate(child: &Child) {
    // SAFETY: kill(2) on the pid of a child this test started and has not yet waited for.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
}

#[test]
fn the_serve_example_is_found_by_name_and_closes_on_sigterm() {
    let mut child = Command::new(example("serve")).arg("120").stdout(Stdio::null()).spawn().unwrap();
    let entry = wait_listed("capvault-demo", &mut child);
    assert_eq!(entry["service"], "capvault-demo");
    assert_eq!(entry["state"], "alive");
    let seen = inspect("capvault-demo");
    assert_eq!(seen["writer"]["state"], "alive");
    assert_eq!(seen["books"][0]["currency"], "CNY");
    terminate(&child);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "the signal still ends the process: {status:?}");
    assert_eq!(inspect("capvault-demo")["writer"]["state"], "closed", "shut down cleanly, not dead");
    assert!(listed().iter().all(|v| v["pid"] != child.id()), "its registry entry went with it");
}

#[test]
fn the_main_job_is_found_by_name_while_it_runs() {
    let out = std::env::temp_dir().join(format!("capvault-operator-{}", std::process::id()));
    let mut child = Command::new(example("dual_grid"))
        .args(["--days", "400", "--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let entry = wait_listed("dual_grid", &mut child);
    assert!(entry["data_dir"].as_str().is_some_and(|dir| dir.ends_with("vault")), "{entry}");
    let seen = inspect("dual_grid");
    assert_eq!(seen["writer"]["state"], "alive");
    assert_eq!(seen["books"][0]["strategies"][0]["label"], "159201");
    terminate(&child);
    let output = child.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("stopped by a signal"), "{printed}");
    assert!(printed.contains("reconciled exactly with the broker's cash"), "{printed}");
    assert_eq!(inspect("dual_grid")["writer"]["state"], "closed");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_name_nobody_uses_is_a_clear_error() {
    let output = cli(&["inspect", "no-such-vault-anywhere"]);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("no vault named \"no-such-vault-anywhere\"") && said.contains("capvault list"),
        "{said}"
    );
    let output = cli(&["latency", "no-such-vault-anywhere"]);
    assert!(!output.status.success());
}
