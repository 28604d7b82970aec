//! Memory: bytes per live order and per book, counted by a global allocator that tracks live
//! heap bytes (`docs/performance.md`, "Memory").
//!
//! Run: `cargo run --release --example memory`

#![allow(unsafe_code)] // the counting allocator below; the library itself has none

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use capvault::{Ledger, LedgerConfig, Limits};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's layout contract passes through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes `make` leaves allocated, with its result kept alive.
fn bytes_of<T>(make: impl FnOnce() -> T) -> (isize, T) {
    let before = live();
    let value = make();
    (live() - before, value)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("{:<52} {:>14}", "what", "bytes");
    for orders_max in [1_024_u32, 16_384, 1 << 20] {
        let limits = Limits { orders_max, resolved_max: 1_024, ..Limits::default() };
        let (bytes, _ledger) = bytes_of(|| Ledger::new(limits));
        println!("{:<52} {:>14}", format!("empty ledger, orders_max {orders_max}"), bytes);
        println!("{:<52} {:>14.1}", "  per order it can hold", bytes as f64 / f64::from(orders_max));
    }
    for slots in [4_u8, 64] {
        let config = LedgerConfig::from_json(&format!(
            r#"{{ "books": [ {{ "venue": "SSE", "currency": "CNY", "slot_count": {slots} }} ] }}"#
        ))?;
        let (with_book, _a) = bytes_of(|| Ledger::from_config(&config));
        let (without, _b) = bytes_of(|| Ledger::from_config(&LedgerConfig::default()));
        println!("{:<52} {:>14}", format!("one book of {slots} slots, in the ledger"), with_book - without);
    }
    println!("{:<52} {:>14}", "size_of::<Order>()", std::mem::size_of::<capvault::Order>());
    let plain = per_live_order(None)?;
    println!("{:<52} {:>14.1}", "running vault, heap per live order (16,000 live)", plain);
    let shm = capvault::shm_path(&format!("capvault-memory-{}", std::process::id()));
    let mirrored = per_live_order(Some(&shm))?;
    let _ = std::fs::remove_file(&shm);
    let _ = std::fs::remove_file(format!("{}.lock", shm.display()));
    println!("{:<52} {:>14.1}", "  with the shm mirror (heap; the file adds 64)", mirrored);
    Ok(())
}

/// Heap bytes a running vault holds per live order, beyond the ledger's preallocated table: the
/// shared order table of the published snapshot (and the shm writer's index with a mirror).
fn per_live_order(shm: Option<&std::path::Path>) -> Result<f64, Box<dyn std::error::Error>> {
    const LIVE: u64 = 16_000;
    let config = LedgerConfig::from_json(
        r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 100000000 } ] }"#,
    )?;
    let mut builder = capvault::Builder::from_config(&config)?;
    if let Some(path) = shm {
        builder = builder.mirror_shm(path);
    }
    let mut handle = builder.spawn()?;
    let settle = |handle: &capvault::Handle| -> Result<(), Box<dyn std::error::Error>> {
        let seq = handle.reader().snapshot().seq();
        if let Some(path) = shm {
            capvault::ShmReader::open(path)?.wait_for(seq, std::time::Duration::from_secs(30))?;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        Ok(())
    };
    settle(&handle)?;
    let before = live();
    for n in 1..=LIVE {
        handle.submit(capvault::Command::Reserve {
            id: capvault::ClientOrderId::snowflake(n)?,
            book: capvault::BookId::new(0),
            slot: 2,
            side: capvault::Side::Buy,
            layer: 1,
            amount: capvault::Amount::from_units(1).ok_or("amount")?,
        })?;
    }
    settle(&handle)?;
    let bytes = live() - before;
    handle.shutdown()?;
    Ok(bytes as f64 / LIVE as f64)
}
