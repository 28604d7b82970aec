//! Group mode serves only with the acknowledgement that group members are fully trusted: the
//! service file is one mapping every member can write, so client names are not bound to users.
//! Without `group_trusted` (`ServeConfig::trusted_group`), from Rust or from JSON, the vault
//! refuses to start and serves nothing.

use std::os::unix::fs::MetadataExt;

use capvault::{service_dir, Builder, Client, Grant, LedgerConfig, ServeConfig, SpawnError};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
    "strategies": [ { "slot": 2, "label": "159201", "cap": 200000 } ] } ] }"#;

fn my_gid() -> u32 {
    let probe = std::env::temp_dir().join(format!("capvault-gid-{}", std::process::id()));
    std::fs::write(&probe, b"").unwrap();
    let gid = std::fs::metadata(&probe).unwrap().gid();
    std::fs::remove_file(&probe).unwrap();
    gid
}

fn spawn(config: ServeConfig) -> Result<capvault::Handle, SpawnError> {
    Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap()).unwrap().serve(config).spawn()
}

#[test]
fn a_group_is_served_only_when_its_members_are_declared_trusted() {
    let name = format!("t-group-{}", std::process::id());
    let gid = my_gid();
    let refused = |result: Result<capvault::Handle, SpawnError>| match result {
        Err(SpawnError::Setting { name, reason }) => {
            assert_eq!(name, "serve group");
            assert!(reason.contains("group_trusted"), "{reason}");
        }
        other => panic!("group mode without the acknowledgement answered {other:?}"),
    };
    refused(spawn(ServeConfig::new(&name).others(Some(Grant::all())).group(gid)));
    let from_json: ServeConfig =
        serde_json::from_str(&format!(r#"{{ "name": "{name}", "others": null, "group": {gid} }}"#)).unwrap();
    refused(spawn(from_json));
    assert!(!service_dir(&name).join("service").exists(), "nothing was served");
    assert!(Client::connect(&name, "ops").is_err());

    let trusted: ServeConfig = serde_json::from_str(&format!(
        r#"{{ "name": "{name}", "clients": {{ "ops": {{ "kinds": ["allocate"] }} }}, "group": {gid}, "group_trusted": true }}"#
    ))
    .unwrap();
    let allocate = Grant { kinds: vec![capvault::CommandKind::Allocate], books: None, slots: None };
    assert_eq!(trusted, ServeConfig::new(&name).client("ops", allocate).trusted_group(gid));
    let handle = spawn(trusted).unwrap();
    let mode = std::fs::metadata(service_dir(&name).join("service")).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o660, "members of the group may write the service file");
    let mut client = Client::connect(&name, "ops").unwrap();
    client.allocate(capvault::BookId::new(0), 2, "1".parse().unwrap()).unwrap();
    drop(client);
    handle.shutdown().unwrap();
}
