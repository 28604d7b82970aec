//! Linked reservations from another process: a chain sent through the gateway is applied all or
//! none, under the client's grant, answered part by part, and journalled whole.

use std::time::Duration;

use capvault::{
    Amount, BookId, Builder, Client, ClientOrderId, Command, CommandKind, Durability, Grant, LedgerConfig,
    LinkedError, OrderState, Outcome, Refusal, Rejection, ServeConfig, Side, SubmitError, LINKED_MAX,
};

const CONFIG: &str = r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 10000,
    "strategies": [ { "slot": 2, "label": "159201" }, { "slot": 3, "label": "512890" } ] } ] }"#;

fn name(test: &str) -> String {
    format!("t-link-{test}-{}", std::process::id())
}

fn builder() -> Builder {
    Builder::from_config(&LedgerConfig::from_json(CONFIG).unwrap()).unwrap()
}

fn serve(test: &str, in_flight: usize) -> (capvault::Handle, String) {
    let name = name(test);
    let config = ServeConfig::new(&name)
        .client("ops", Grant::all())
        .client("grid", Grant::strategy(BookId::new(0), 2))
        .in_flight_max(in_flight);
    (builder().serve(config).spawn().unwrap(), name)
}

fn id(n: u64) -> ClientOrderId {
    ClientOrderId::snowflake(1_790_000_000_000_000_000 + n).unwrap()
}

fn amount(units: i64) -> Amount {
    Amount::from_units(units).unwrap()
}

fn buy(n: u64, slot: u8, units: i64) -> Command {
    Command::Reserve {
        id: id(n),
        book: BookId::new(0),
        slot,
        side: Side::Buy,
        layer: 1,
        amount: amount(units),
    }
}

fn pool(client: &mut Client, seq: u64) -> Amount {
    client.reader().unwrap().wait_for(seq, Duration::from_secs(2)).unwrap().books()[0].pool()
}

#[test]
fn a_chain_through_the_gateway_is_reserved_all_or_none() {
    let (handle, name) = serve("whole", 64);
    let mut client = Client::connect(&name, "ops").unwrap();
    let ladder = [buy(1, 2, 3000), buy(2, 2, 3000), buy(3, 3, 3000)];
    let receipt = client.submit_linked(&ladder).unwrap();
    assert_eq!(receipt.outcomes.len(), 3);
    assert!(receipt.outcomes.iter().all(|outcome| matches!(outcome, Outcome::Reserved { .. })));
    assert_eq!(pool(&mut client, receipt.seq), amount(1000));
    let snapshot = client.reader().unwrap().wait_for(receipt.seq, Duration::from_secs(2)).unwrap();
    assert_eq!(snapshot.order(id(3)).map(capvault::Order::state), Some(OrderState::Pending));

    // 1,000 is left: the second part of this chain does not fit, and the first is taken back.
    let refused = client.submit_linked(&[buy(4, 2, 600), buy(5, 3, 600), buy(6, 2, 1)]).unwrap_err();
    let LinkedError::Rejected(refused) = refused else { panic!("{refused:?}") };
    assert_eq!(refused.part, 1);
    assert!(matches!(refused.rejection, Rejection::ExceedsCreditLimit { .. }), "{:?}", refused.rejection);
    let after = client.allocate(BookId::new(0), 2, amount(1)).unwrap();
    assert_eq!(after.seq, receipt.seq + 1, "the refused chain changed nothing");
    assert_eq!(pool(&mut client, after.seq), amount(999));
    assert!(client.snapshot().unwrap().order(id(4)).is_none());

    // The same chain again: every part already reserved, nothing applied twice.
    let again = client.submit_linked(&ladder).unwrap();
    assert_eq!(again.seq, after.seq);
    assert!(again.outcomes.iter().all(|outcome| matches!(outcome, Outcome::AlreadyReserved { .. })));
    drop(client);
    handle.shutdown().unwrap();
}

#[test]
fn every_part_passes_the_clients_grant() {
    let (handle, name) = serve("grant", 64);
    let mut grid = Client::connect(&name, "grid").unwrap();
    let refused = grid.submit_linked(&[buy(1, 2, 100), buy(2, 3, 100)]).unwrap_err();
    assert_eq!(
        refused,
        LinkedError::Rejected(capvault::LinkedRejection {
            part: 1,
            rejection: Rejection::NotGranted {
                kind: CommandKind::Reserve,
                book: Some(BookId::new(0)),
                slot: Some(3)
            },
        })
    );
    assert!(grid.snapshot().unwrap().order(id(1)).is_none(), "part 0 was taken back");
    let mine = grid.submit_linked(&[buy(1, 2, 100), buy(2, 2, 100)]).unwrap();
    assert_eq!(pool(&mut grid, mine.seq), amount(9800));
    drop(grid);
    handle.shutdown().unwrap();
}

#[test]
fn chains_the_vault_cannot_take_are_refused_before_anything_changes() {
    let (handle, name) = serve("shape", 16);
    let mut client = Client::connect(&name, "ops").unwrap();
    // Found by the client before it sends: no part, too many, a part that is not a reservation.
    let empty = client.submit_linked(&[]).unwrap_err();
    assert!(
        matches!(empty, LinkedError::Rejected(r) if matches!(r.rejection, Rejection::LinkLength { parts: 0, .. }))
    );
    let many: Vec<Command> = (0..=LINKED_MAX as u64).map(|n| buy(n, 2, 1)).collect();
    let long = client.submit_linked(&many).unwrap_err();
    assert!(
        matches!(long, LinkedError::Rejected(r) if matches!(r.rejection, Rejection::LinkLength { parts: 65, .. }))
    );
    let allocate = Command::Allocate { book: BookId::new(0), slot: 2, amount: amount(1) };
    let mixed = client.submit_linked(&[buy(1, 2, 1), allocate]).unwrap_err();
    assert!(
        matches!(mixed, LinkedError::Rejected(r) if r.part == 1 && matches!(r.rejection, Rejection::NotLinkable { .. }))
    );
    // Longer than the requests this client may have in flight (16 here): it could never be sent.
    let seventeen: Vec<Command> = (0..17).map(|n| buy(n, 2, 1)).collect();
    assert_eq!(
        client.submit_linked(&seventeen).unwrap_err(),
        LinkedError::Failed(SubmitError::Refused(Refusal::InFlightLimit { limit: 16 }))
    );
    // Sixteen fit, even with detached requests still unanswered: the chain waits for room.
    let tickets: Vec<u64> = (0..8)
        .map(|_| {
            client
                .submit_detached(Command::Allocate { book: BookId::new(0), slot: 3, amount: amount(1) })
                .unwrap()
        })
        .collect();
    let sixteen: Vec<Command> = (0..16).map(|n| buy(100 + n, 2, 10)).collect();
    let receipt = client.submit_linked(&sixteen).unwrap();
    assert_eq!(receipt.outcomes.len(), 16);
    let mut answered = Vec::new();
    while let Some(outcome) = client.try_outcome() {
        assert!(outcome.result.is_ok());
        answered.push(outcome.ticket);
    }
    assert_eq!(answered, tickets, "the detached answers are kept for try_outcome");
    assert_eq!(pool(&mut client, receipt.seq), amount(10000 - 8 - 160));
    drop(client);
    handle.shutdown().unwrap();
}

#[test]
fn a_chain_with_a_part_that_does_not_decode_is_refused_whole() {
    let (handle, name) = serve("garbage", 64);
    let mut client = Client::connect(&name, "ops").unwrap();
    let good = Client::request_bytes(&buy(1, 2, 100));
    let before = handle.snapshot().seq();
    for parts in [
        vec![good.clone(), vec![0xee; 40]],
        vec![vec![0xee; 40], good.clone()],
        vec![good.clone(), vec![7; 300]],
    ] {
        assert_eq!(
            client.submit_linked_raw(&parts).unwrap_err(),
            LinkedError::Failed(SubmitError::Refused(Refusal::Malformed))
        );
    }
    // The client goes on working; nothing of the refused chains was applied.
    let next = client.allocate(BookId::new(0), 2, amount(1)).unwrap();
    assert_eq!(next.seq, before + 1);
    assert!(client.snapshot().unwrap().order(id(1)).is_none());
    let raw = client.submit_linked_raw(&[good]).unwrap();
    assert!(matches!(raw.outcomes[..], [Outcome::Reserved { .. }]));
    drop(client);
    handle.shutdown().unwrap();
}

/// Two clients send chains that race for one pool: each chain is either wholly reserved or not
/// at all, and the pool ends exactly at what the accepted chains hold.
#[test]
fn racing_chains_from_two_clients_never_split() {
    let (handle, name) = serve("race", 64);
    let mut threads = Vec::new();
    for (client_no, slot) in [(0_u64, 2_u8), (1, 3)] {
        let name = name.clone();
        threads.push(std::thread::spawn(move || {
            let mut client = Client::connect(&name, "ops").unwrap();
            let mut accepted = Vec::new();
            for chain in 0..40_u64 {
                let base = (client_no * 1000 + chain) * 10;
                let parts: Vec<Command> = (0..3).map(|n| buy(base + n, slot, 97 + n as i64)).collect();
                match client.submit_linked(&parts) {
                    Ok(_) => accepted.push(base),
                    Err(LinkedError::Rejected(r)) => {
                        assert!(matches!(r.rejection, Rejection::ExceedsCreditLimit { .. }), "{r:?}");
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
            accepted
        }));
    }
    let accepted: Vec<Vec<u64>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut client = Client::connect(&name, "ops").unwrap();
    let last = client.allocate(BookId::new(0), 2, amount(1)).unwrap();
    let snapshot = client.reader().unwrap().wait_for(last.seq, Duration::from_secs(2)).unwrap();
    let held: usize = accepted.iter().map(Vec::len).sum();
    assert!(held > 0 && held < 80, "the pool ran out part way: {held} chains held");
    for client_no in 0..2_u64 {
        for chain in 0..40_u64 {
            let base = (client_no * 1000 + chain) * 10;
            let present: Vec<bool> = (0..3).map(|n| snapshot.order(id(base + n)).is_some()).collect();
            let expected = accepted[client_no as usize].contains(&base);
            assert_eq!(present, vec![expected; 3], "chain {base}");
        }
    }
    assert_eq!(snapshot.books()[0].pool(), amount(10000 - 294 * held as i64 - 1));
    drop(client);
    handle.shutdown().unwrap();
}

#[test]
fn a_chain_from_a_client_survives_a_restart_whole() {
    let dir = std::env::temp_dir().join(format!("capvault-link-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let name = name("journal");
    let start = || {
        builder()
            .data_dir(&dir)
            .durability(Durability::FsyncBatch)
            .serve(ServeConfig::new(&name).client("ops", Grant::all()))
            .spawn()
            .unwrap()
    };
    let handle = start();
    let mut client = Client::connect(&name, "ops").unwrap();
    let receipt = client.submit_linked(&[buy(1, 2, 4000), buy(2, 3, 4000)]).unwrap();
    drop(client);
    handle.shutdown().unwrap();
    let handle = start();
    let snapshot = handle.snapshot();
    assert_eq!(snapshot.seq(), receipt.seq);
    assert_eq!(snapshot.books()[0].pool(), amount(2000));
    assert!(snapshot.order(id(1)).is_some() && snapshot.order(id(2)).is_some());
    handle.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
