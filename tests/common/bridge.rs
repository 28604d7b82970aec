//! The executor bridge's fixtures: a seed 000 vault in a scratch folder, a simulated broker
//! that fills at once, and signals as strategy nodes write them.

use std::fs;
use std::path::{Path, PathBuf};

use capvault::bridge::{Bridge, BridgeConfig, Signal, SimBroker};
use capvault::{Amount, Builder, Durability, Handle, Limits, Side};

use super::{amount, seed_000, units, CNY};

/// An empty folder named after the test and this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capvault-bridge-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Seed 000's vault, journalled in `dir/vault`.
pub fn vault(dir: &Path) -> Handle {
    Builder::new(seed_000(Limits::default()))
        .data_dir(dir.join("vault"))
        .durability(Durability::Write)
        .spawn()
        .unwrap()
}

/// A broker with 300,000 that fills at once, never rejects and never splits.
pub fn broker() -> SimBroker {
    broker_after(0)
}

/// [`broker`] whose orders reach the market `latency_ms` after they are placed.
pub fn broker_after(latency_ms: u64) -> SimBroker {
    let mut broker = SimBroker::new(7, units(300_000)).with_behaviour(latency_ms, 0, 0);
    broker.set_price("159201.SZ", amount("1.153"));
    broker.set_price("512890.SH", amount("1.02"));
    broker
}

/// A bridge writing `dir/order_result.jsonl`.
pub fn bridge(dir: &Path, handle: Handle, broker: SimBroker, expiry_ms: Option<u64>) -> Bridge<SimBroker> {
    let config = BridgeConfig { results: dir.join("order_result.jsonl"), expiry_ms, sync: false };
    Bridge::new(handle, broker, config, 0).unwrap()
}

/// A layer-1 signal with the seed's required fields.
pub fn signal(id: &str, code: &str, direction: Side, price: &str, shares: u64) -> Signal {
    Signal {
        signal_id: id.into(),
        client_order_id: None,
        code: code.into(),
        direction,
        price: amount(price),
        shares,
        amount: None,
        layer_index: 1,
        release_client_order_ids: Vec::new(),
    }
}

/// A sell of `shares` that releases `closes`.
pub fn sell(id: &str, code: &str, price: &str, shares: u64, closes: &[&str]) -> Signal {
    Signal {
        release_client_order_ids: closes.iter().map(|&c| c.to_owned()).collect(),
        ..signal(id, code, Side::Sell, price, shares)
    }
}

/// The CNY book's pool as the bridge last saw it.
pub fn pool<B: capvault::bridge::Broker>(bridge: &mut Bridge<B>) -> Amount {
    bridge.snapshot().balance(CNY, 1).unwrap()
}
