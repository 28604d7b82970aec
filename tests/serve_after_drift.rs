//! `Builder::spawn` opens the gateway last: while configuration drift is being applied after a
//! restart, the service is not served, so no remote command runs under the old settings.

use std::sync::{Arc, Mutex};

use capvault::{clients, Builder, ConnectError, DriftPolicy, Durability, Grant, LedgerConfig, ServeConfig};

fn config(cap: u32) -> LedgerConfig {
    LedgerConfig::from_json(&format!(
        r#"{{ "books": [ {{ "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
        "strategies": [ {{ "slot": 2, "label": "159201", "cap": {cap} }}, {{ "slot": 3, "label": "512890", "cap": {cap} }} ] }} ] }}"#
    ))
    .unwrap()
}

#[test]
fn the_service_opens_only_after_drift_is_applied() {
    let name = format!("t-serve-drift-{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("capvault-{name}-data"));
    let _ = std::fs::remove_dir_all(&dir);
    let serve = || ServeConfig::new(&name).others(Some(Grant::all()));
    let first = Builder::from_config(&config(200_000))
        .unwrap()
        .data_dir(&dir)
        .durability(Durability::Write)
        .serve(serve())
        .spawn()
        .unwrap();
    first.shutdown().unwrap();

    // Restarted with lower caps: every snapshot published while spawn applies them is
    // checked against what a client would find at that moment. The hook of the last drift
    // command's snapshot may run after its answer, so after the service opened: a snapshot seen
    // served must already show every new cap.
    let seen: Arc<Mutex<Vec<(u64, bool, bool)>>> = Arc::default();
    let record = seen.clone();
    let watched = name.clone();
    let handle = Builder::from_config(&config(100_000))
        .unwrap()
        .data_dir(&dir)
        .durability(Durability::Write)
        .on_config_drift(DriftPolicy::Apply)
        .serve(serve())
        .on_publish(move |snapshot| {
            let served = match clients(&watched) {
                Ok(_) => true,
                Err(ConnectError::NotServed { .. }) => false,
                Err(other) => panic!("{other:?}"),
            };
            let lowered =
                snapshot.books()[0].strategies().all(|(_, s)| s.config().cap == "100000".parse().ok());
            record.lock().unwrap().push((snapshot.seq(), served, lowered));
        })
        .spawn()
        .unwrap();
    let during: Vec<(u64, bool, bool)> = seen.lock().unwrap().clone();
    assert!(!during.is_empty(), "the caps changed by journalled commands, published during spawn");
    assert!(
        during.iter().all(|&(_, served, lowered)| !served || lowered),
        "served while drift was applied: {during:?}"
    );
    assert!(!during[0].1, "not served before the first drift command: {during:?}");
    assert!(clients(&name).is_ok(), "served once spawn returned");
    let caps: Vec<String> =
        handle.snapshot().books()[0].strategies().map(|(_, s)| s.config().cap.unwrap().to_string()).collect();
    assert_eq!(caps, ["100000", "100000"]);
    handle.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
