//! The gateway: other processes command a served vault through shared memory.

use std::time::{Duration, Instant};

use capvault::{
    BookId, Builder, Client, CommandKind, ConnectError, Grant, LedgerConfig, OrderState, Rejection,
    ServeConfig, Side, SubmitError, WaitStrategy,
};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 }, { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#;

fn name(test: &str) -> String {
    format!("t-{test}-{}", std::process::id())
}

fn serve(test: &str) -> (capvault::Handle, String) {
    let name = name(test);
    let config = ServeConfig::new(&name)
        .client("ops", Grant::all())
        .client("grid", Grant::strategy(BookId::new(0), 2));
    let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
        .unwrap()
        .serve(config)
        .spawn()
        .unwrap();
    (handle, name)
}

#[test]
fn a_client_commands_the_vault_and_reads_its_snapshot() {
    let (handle, name) = serve("basic");
    let mut client = Client::connect(&name, "ops").unwrap();
    let id = "1790000000000000001".parse().unwrap();
    let reserved = client.reserve(id, BookId::new(0), 2, Side::Buy, 1, "1000".parse().unwrap()).unwrap();
    assert_eq!(reserved.repeated, None);
    let again = client.reserve(id, BookId::new(0), 2, Side::Buy, 1, "1000".parse().unwrap()).unwrap();
    assert_eq!(again.repeated, Some(OrderState::Pending));
    let fill = client.fill(id, "400".parse().unwrap()).unwrap();
    assert_eq!(fill.remaining, "600".parse().unwrap());
    let error = client.fill("1790000000000000009".parse().unwrap(), "1".parse().unwrap()).unwrap_err();
    assert!(matches!(error, SubmitError::Rejected(Rejection::UnknownOrder { .. })), "{error:?}");
    // The vault's own view agrees, once it shows the client's last command.
    let own = handle.reader().wait_for(fill.seq, Duration::from_secs(2)).unwrap();
    assert_eq!(own.books()[0].pool(), "299000".parse().unwrap());
    let seen = client.reader().unwrap().wait_for(fill.seq, Duration::from_secs(2)).unwrap();
    assert_eq!(seen.books()[0].pool(), "299000".parse().unwrap());
    drop(client);
    handle.shutdown().unwrap();
}

#[test]
fn grants_bound_what_a_client_may_do() {
    let (handle, name) = serve("grants");
    let mut ops = Client::connect(&name, "ops").unwrap();
    let mut grid = Client::connect(&name, "grid").unwrap();
    let (book, amount) = (BookId::new(0), "100".parse().unwrap());
    // Its own slot: allowed.
    let mine = "1790000000000000001".parse().unwrap();
    let before = grid.reserve(mine, book, 2, Side::Buy, 1, amount).unwrap().seq;
    // Another strategy's slot, an operator's command, another's order: refused, nothing changes.
    let theirs = "1790000000000000002".parse().unwrap();
    let refused = grid.reserve(theirs, book, 3, Side::Buy, 1, amount).unwrap_err();
    assert_eq!(
        refused,
        SubmitError::Rejected(Rejection::NotGranted {
            kind: CommandKind::Reserve,
            book: Some(book),
            slot: Some(3)
        })
    );
    let refused = grid.allocate(book, 2, amount).unwrap_err();
    assert!(matches!(
        refused,
        SubmitError::Rejected(Rejection::NotGranted { kind: CommandKind::Allocate, .. })
    ));
    let reserved = ops.reserve(theirs, book, 3, Side::Buy, 1, amount).unwrap();
    assert_eq!(reserved.seq, before + 1, "the refused commands were not applied");
    let refused = grid.cancel(theirs).unwrap_err();
    assert!(
        matches!(refused, SubmitError::Rejected(Rejection::NotGranted { slot: Some(3), .. })),
        "{refused:?}"
    );
    let after = ops.allocate(book, 3, amount).unwrap();
    assert_eq!(after.seq, before + 2, "the refused cancel was not applied");
    // A name with no grant is refused at connect.
    assert!(matches!(Client::connect(&name, "stranger"), Err(ConnectError::NoGrant { .. })));
    drop((ops, grid));
    handle.shutdown().unwrap();
}

#[test]
fn garbage_and_wrong_versions_are_refused_for_that_client_only() {
    let (handle, name) = serve("garbage");
    let mut bad = Client::connect(&name, "ops").unwrap();
    let mut good = Client::connect(&name, "ops").unwrap();
    let before = handle.snapshot().seq(); // nothing submitted yet: the snapshot is current
    assert_eq!(
        bad.submit_raw(capvault::WIRE_VERSION, &[0xee; 40]).unwrap_err(),
        SubmitError::Refused(capvault::Refusal::Malformed)
    );
    assert_eq!(
        bad.submit_raw(capvault::WIRE_VERSION, &[]).unwrap_err(),
        SubmitError::Refused(capvault::Refusal::Malformed)
    );
    assert_eq!(
        bad.submit_raw(capvault::WIRE_VERSION, &[7; 300]).unwrap_err(),
        SubmitError::Refused(capvault::Refusal::Malformed)
    );
    assert_eq!(
        bad.submit_raw(9, &[1, 2, 3]).unwrap_err(),
        SubmitError::Refused(capvault::Refusal::WireVersion { found: 9, expected: capvault::WIRE_VERSION })
    );
    // Both clients go on working, and nothing was applied for the refused requests.
    let first = bad.allocate(BookId::new(0), 2, "5".parse().unwrap()).unwrap();
    assert_eq!((first.seq, first.amount), (before + 1, "5".parse().unwrap()));
    assert_eq!(good.allocate(BookId::new(0), 2, "5".parse().unwrap()).unwrap().amount, "10".parse().unwrap());
    drop((bad, good));
    handle.shutdown().unwrap();
}

#[test]
fn limits_on_clients_and_on_requests_in_flight_are_enforced() {
    let name = name("limits");
    let config = ServeConfig::new(&name).others(Some(Grant::all())).slots(2).in_flight_max(4);
    let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
        .unwrap()
        .serve(config)
        .spawn()
        .unwrap();
    let mut first = Client::connect(&name, "a").unwrap();
    let second = Client::connect(&name, "b").unwrap();
    assert!(matches!(Client::connect(&name, "c"), Err(ConnectError::Full { slots: 2 })));
    // A freed place is taken again once the vault notices.
    drop(second);
    let third =
        wait_until(Duration::from_secs(1), || Client::connect(&name, "c").ok()).expect("the place is freed");
    // In flight: four detached submits fill the ring, a fifth waits; try_submit says Full.
    let mut tickets = Vec::new();
    let mut full = false;
    for _ in 0..64 {
        match first.try_submit(capvault::Command::Allocate {
            book: BookId::new(0),
            slot: 2,
            amount: "1".parse().unwrap(),
        }) {
            Ok(ticket) => tickets.push(ticket),
            Err(capvault::TrySubmitError::Full(_)) => {
                full = true;
                break;
            }
            Err(other) => panic!("{other:?}"),
        }
        assert!(first.in_flight() <= 4);
    }
    assert!(full, "64 submits never filled a ring of 4");
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(2);
    while seen < tickets.len() && Instant::now() < deadline {
        if let Some(outcome) = first.try_outcome() {
            assert_eq!(outcome.ticket, tickets[seen]);
            seen += 1;
        }
    }
    assert_eq!(seen, tickets.len());
    drop((first, third));
    handle.shutdown().unwrap();
}

#[test]
fn service_files_are_the_vault_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let (handle, name) = serve("modes");
    let dir = capvault::service_dir(&name);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.metadata().unwrap().permissions().mode() & 0o777, 0o600, "{:?}", entry.path());
    }
    // Another user cannot connect (CI runs as root, which can become another user).
    if unsafe_free_is_root() {
        let status = child_command(&format!("connect:{name}")).uid(65534).gid(65534).status().unwrap();
        assert_eq!(status.code(), Some(0), "the other user's connect was not refused with PermissionDenied");
    }
    handle.shutdown().unwrap();
}

fn unsafe_free_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// This test binary run again as a child process, doing what `role` says.
fn child_command(role: &str) -> std::process::Command {
    use std::os::unix::process::CommandExt as _;
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", "child", "--nocapture", "--test-threads=1"])
        .env("CAPVAULT_CHILD", role);
    let _ = command.process_group(0);
    command
}

use std::os::unix::process::CommandExt;

/// Not a test on its own: the child processes of the tests above.
#[test]
#[ignore = "run by the other tests as a child process"]
fn child() {
    let Ok(role) = std::env::var("CAPVAULT_CHILD") else { return };
    let parts: Vec<&str> = role.split(':').collect();
    match parts.as_slice() {
        ["connect", name] => match Client::connect(name, "ops") {
            Err(ConnectError::PermissionDenied { .. }) => std::process::exit(0),
            other => {
                eprintln!("{other:?}");
                std::process::exit(1)
            }
        },
        ["vault", name, dir] => {
            let config = ServeConfig::new(*name).client("ops", Grant::all());
            let handle = Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap())
                .unwrap()
                .data_dir(dir)
                .serve(config)
                .spawn()
                .unwrap();
            println!("serving");
            std::thread::sleep(Duration::from_secs(60));
            drop(handle);
        }
        ["worker", name, client, seed, log] => worker(name, client, seed.parse().unwrap(), log),
        _ => panic!("unknown role {role}"),
    }
}

#[test]
fn a_killed_vault_disconnects_its_clients_and_a_restart_answers_resubmits() {
    let name = name("vaultkill");
    let dir = std::env::temp_dir().join(format!("capvault-{name}-data"));
    let _ = std::fs::remove_dir_all(&dir);
    let role = format!("vault:{name}:{}", dir.display());
    let start_vault = || {
        let mut child = child_command(&role).stdout(std::process::Stdio::piped()).spawn().unwrap();
        // The test harness prints its own lines first.
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let serving = std::io::BufRead::lines(out).map_while(Result::ok).any(|line| line.contains("serving"));
        assert!(serving, "the vault process did not start");
        child
    };
    let mut vault = start_vault();
    let mut client = Client::connect_with(&name, "ops", WaitStrategy::Blocking).unwrap();
    let id = "1790000000000000001".parse().unwrap();
    let (book, amount) = (BookId::new(0), "1000".parse().unwrap());
    assert_eq!(client.reserve(id, book, 2, Side::Buy, 1, amount).unwrap().repeated, None);
    vault.kill().unwrap();
    vault.wait().unwrap();
    let start = Instant::now();
    let error = client.allocate(book, 2, "1".parse().unwrap()).unwrap_err();
    assert_eq!(error, SubmitError::Disconnected);
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    // Every later call says so at once.
    assert_eq!(client.fill(id, "1".parse().unwrap()).unwrap_err(), SubmitError::Disconnected);
    let mut vault = start_vault();
    client.reconnect_within(Duration::from_secs(5)).unwrap();
    let again = client.reserve(id, book, 2, Side::Buy, 1, amount).unwrap();
    assert_eq!(
        again.repeated,
        Some(OrderState::Pending),
        "the acknowledged reservation survived the restart"
    );
    vault.kill().unwrap();
    vault.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_client_is_freed_and_the_others_go_on() {
    let (handle, name) = serve("clientkill");
    let log = std::env::temp_dir().join(format!("capvault-{name}.log"));
    let mut worker = child_command(&format!("worker:{name}:ops:7:{}", log.display())).spawn().unwrap();
    let mut other = Client::connect(&name, "ops").unwrap();
    // Let the worker get going, then kill it mid-stream.
    wait_until(Duration::from_secs(60), || (handle.snapshot().seq() > 200).then_some(()))
        .expect("the worker runs");
    worker.kill().unwrap();
    worker.wait().unwrap();
    let start = Instant::now();
    let freed = wait_until(Duration::from_secs(1), || {
        capvault::clients(&name).unwrap().iter().all(|c| c.slot == other.slot()).then_some(())
    });
    assert!(freed.is_some(), "the dead client's place was not freed within 1 s");
    assert!(start.elapsed() < Duration::from_secs(1));
    // The vault and the other client are unaffected.
    other.allocate(BookId::new(0), 3, "1".parse().unwrap()).unwrap();
    drop(other);
    handle.shutdown().unwrap();
    let _ = std::fs::remove_file(&log);
}

/// A random command of worker `seed`: valid and invalid, on slot 2 and slot 3, which every
/// worker shares.
fn random_command(
    rng: &mut u64,
    seed: u64,
    n: u64,
    ids: &mut Vec<capvault::ClientOrderId>,
) -> capvault::Command {
    use capvault::Command;
    let mut next = |bound: u64| {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng % bound
    };
    let book = BookId::new(0);
    let slot = 2 + next(2) as u8;
    let amount = |value: u64| capvault::Amount::from_raw((value * 100) as i64).unwrap();
    let known = |next: &mut dyn FnMut(u64) -> u64| {
        if ids.is_empty() {
            "1790000000000000000".parse().unwrap()
        } else {
            ids[next(ids.len() as u64) as usize]
        }
    };
    match next(10) {
        0..=2 => {
            let id: capvault::ClientOrderId =
                (1_790_000_000_000_000_000 + seed * 1_000_000 + n).to_string().parse().unwrap();
            ids.push(id);
            Command::Reserve {
                id,
                book,
                slot,
                side: Side::Buy,
                layer: 1 + next(3) as u32,
                amount: amount(next(2000)),
            }
        }
        3 | 4 => Command::Fill { id: known(&mut next), amount: amount(1 + next(500)) },
        5 => Command::Cancel { id: known(&mut next) },
        6 => Command::ReleaseOrder { id: known(&mut next) },
        7 => Command::Allocate { book, slot, amount: amount(1 + next(100)) },
        8 => Command::Release { book, slot, amount: amount(1 + next(100)) },
        _ => Command::Allocate { book, slot: 9, amount: amount(1) },
    }
}

/// A worker process: 10,000 random commands, each logged before it is sent ("I") and with its
/// sequence once acknowledged ("A"), or "R" when rejected. One `write` per line, so a kill
/// leaves whole lines.
fn worker(name: &str, client: &str, seed: u64, log: &str) {
    use std::io::Write as _;
    let mut client = Client::connect(name, client).unwrap();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let (mut rng, mut ids) = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, Vec::new());
    for n in 0..10_000 {
        let command = random_command(&mut rng, seed, n, &mut ids);
        let json = serde_json::to_string(&command).unwrap();
        log.write_all(format!("I {json}\n").as_bytes()).unwrap();
        let line = match client.submit(command) {
            Ok(receipt) if matches!(receipt.outcome, capvault::Outcome::AlreadyReserved { .. }) => {
                "R\n".to_owned()
            }
            Ok(receipt) => format!("A {} {json}\n", receipt.seq),
            Err(SubmitError::Rejected(_)) => "R\n".to_owned(),
            Err(other) => panic!("worker {seed}: {other}"),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
}

/// Four client processes × 10,000 random commands, two of them killed mid-run: the vault's
/// state is the acknowledged commands replayed in sequence order (plus, for a killed client,
/// the one command it had in flight, if the vault applied it).
#[test]
fn cross_process_stress_replays_to_the_same_ledger() {
    let name = name("stress");
    let dir = std::env::temp_dir().join(format!("capvault-{name}-data"));
    let _ = std::fs::remove_dir_all(&dir);
    let config = LedgerConfig::from_json(CONFIG).unwrap();
    let handle = Builder::from_config(&config)
        .unwrap()
        .data_dir(&dir)
        .serve(ServeConfig::new(&name).others(Some(Grant::all())))
        .spawn()
        .unwrap();
    let logs: Vec<_> =
        (0..4).map(|k| std::env::temp_dir().join(format!("capvault-{name}-{k}.log"))).collect();
    let mut workers: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(k, log)| {
            let _ = std::fs::remove_file(log);
            child_command(&format!("worker:{name}:w{k}:{}:{}", k + 1, log.display())).spawn().unwrap()
        })
        .collect();
    wait_until(Duration::from_secs(60), || (handle.snapshot().seq() > 3_000).then_some(()))
        .expect("workers run");
    for worker in &mut workers[..2] {
        worker.kill().unwrap();
        worker.wait().unwrap();
    }
    for worker in &mut workers[2..] {
        assert!(worker.wait().unwrap().success(), "a worker that was not killed failed");
    }
    let last = handle.shutdown().unwrap();
    let (acked, in_flight) = read_logs(&logs);
    assert!(acked.len() > 3_000, "only {} commands acknowledged", acked.len());
    let missing: Vec<u64> = (1..=last.seq()).filter(|seq| !acked.contains_key(seq)).collect();
    assert!(missing.len() <= in_flight.len(), "sequences {missing:?} were never acknowledged nor in flight");
    let (recovered, _) = capvault::recover(&dir).unwrap().expect("a journal");
    let replay = |order: &[capvault::Command]| {
        let mut ledger = capvault::Ledger::from_config(&config).unwrap();
        let mut fills = order.iter();
        for seq in 1..=last.seq() {
            let command = acked.get(&seq).or_else(|| fills.next()).expect("a command per sequence");
            ledger.apply(command).ok()?;
        }
        Some(ledger)
    };
    // The killed clients' in-flight commands fill the gaps in some order.
    let orders: Vec<Vec<capvault::Command>> = match in_flight.as_slice() {
        [a, b] => vec![vec![*a, *b], vec![*b, *a], vec![*a], vec![*b]],
        [a] => vec![vec![*a]],
        _ => vec![Vec::new()],
    };
    let matched = orders.iter().filter_map(|order| replay(order)).find(|ledger| *ledger == recovered);
    let ledger = matched.expect("no replay of the acknowledged commands gives the vault's state");
    ledger.audit().unwrap();
    for book in ledger.books() {
        let committed = book
            .strategies()
            .fold(capvault::Amount::ZERO, |sum, (_, s)| sum.checked_add(s.committed()).unwrap());
        assert_eq!(book.total(), book.pool().checked_add(committed).unwrap(), "total == pool + strategies");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_parked_vault_wakes_for_a_client_command() {
    let (handle, name) = serve("parked");
    let mut client = Client::connect(&name, "ops").unwrap();
    // Each pause lets the owner park; each command must wake it through the doorbell.
    let mut balance = capvault::Amount::ZERO;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(2));
        balance = client.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap().amount;
    }
    assert_eq!(balance, "20".parse().unwrap());
    drop(client);
    handle.shutdown().unwrap();
}

/// The workers' logs: every acknowledged command by sequence, and each killed worker's last
/// command if it was sent and never answered.
fn read_logs(
    logs: &[std::path::PathBuf],
) -> (std::collections::BTreeMap<u64, capvault::Command>, Vec<capvault::Command>) {
    let (mut acked, mut in_flight) = (std::collections::BTreeMap::new(), Vec::new());
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap();
        let mut pending = None;
        for line in text.lines() {
            if let Some(json) = line.strip_prefix("I ") {
                pending = Some(serde_json::from_str::<capvault::Command>(json).unwrap());
            } else if let Some(rest) = line.strip_prefix("A ") {
                let (seq, json) = rest.split_once(' ').unwrap();
                acked.insert(
                    seq.parse::<u64>().unwrap(),
                    serde_json::from_str::<capvault::Command>(json).unwrap(),
                );
                pending = None;
            } else {
                pending = None;
            }
        }
        in_flight.extend(pending);
        let _ = std::fs::remove_file(log);
    }
    (acked, in_flight)
}

#[test]
fn the_cli_submits_a_command_and_lists_the_clients() {
    let (handle, name) = serve("cli");
    let held = Client::connect(&name, "grid").unwrap();
    let cli = env!("CARGO_BIN_EXE_capvault");
    let out = std::process::Command::new(cli)
        .args(["submit", &name, r#"{"op":"allocate","book":0,"slot":2,"amount":500}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["seq"], 1);
    assert_eq!(answer["outcome"]["outcome"], "allocated");
    // The grid client may not allocate: refused, exit status 1, nothing applied.
    let out = std::process::Command::new(cli)
        .args(["submit", &name, "--client", "grid", r#"{"op":"allocate","book":0,"slot":2,"amount":1}"#])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["rejection"]["rejection"], "not_granted");
    let out = std::process::Command::new(cli).args(["clients", &name, "--json"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"grid\"") && text.contains("\"active\""), "{text}");
    drop(held);
    handle.shutdown().unwrap();
}
