//! Gateway leases belong to one vault instance: after a vault restart a client reconnects
//! without needing a second place, and a client of the earlier instance that never reconnects
//! blocks no place of the new one (`capvault clients` and connect agree).

use std::time::Duration;

use capvault::{clients, BookId, Builder, Client, ConnectError, Grant, LedgerConfig, ServeConfig};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#;

fn serve(name: &str) -> capvault::Handle {
    let config = ServeConfig::new(name).others(Some(Grant::all())).slots(2);
    Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap()).unwrap().serve(config).spawn().unwrap()
}

#[test]
fn after_a_vault_restart_reconnects_fit_in_the_places_there_are() {
    let name = format!("t-reconnect-{}", std::process::id());
    let vault = serve(&name);
    let mut first = Client::connect(&name, "first").unwrap();
    let stuck = Client::connect(&name, "stuck").unwrap();
    assert!(matches!(Client::connect(&name, "third"), Err(ConnectError::Full { slots: 2 })));
    first.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap();
    vault.shutdown().unwrap();

    // A new instance of the vault, every place taken before by a client of the old one.
    let vault = serve(&name);
    assert_eq!(clients(&name).unwrap().len(), 0, "no place of the new vault is in use");
    first.reconnect_within(Duration::from_secs(5)).expect("a reconnect needs no second place");
    first.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap();
    // `stuck` still holds its old lease and never reconnects: the other place is free.
    let mut fresh = Client::connect(&name, "fresh").expect("the stale client blocks no place");
    fresh.allocate(BookId::new(0), 2, "1".parse().unwrap()).unwrap();
    let listed = clients(&name).unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(matches!(Client::connect(&name, "third"), Err(ConnectError::Full { slots: 2 })));
    // Reconnecting a connected client keeps the count: it gives up its place first.
    first.reconnect_within(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(clients(&name).unwrap().len() <= 2);
    drop((first, stuck, fresh));
    vault.shutdown().unwrap();
}
