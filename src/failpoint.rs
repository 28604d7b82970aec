//! Failure points for the fault-injection crash test (`tests/fault_injection.rs`).
//!
//! Built only with the `failpoints` feature. The environment variable `CAPVAULT_FAILPOINT` names
//! a point and a count, `name:N`: the N-th time the process reaches that point it aborts (no
//! destructor runs, no buffer is flushed, exactly like `kill -9`), after `before`, which may leave
//! a half-done write behind. Without the feature every call compiles to nothing.

/// The points, in the order a batch and a checkpoint reach them.
pub const POINTS: [&str; 6] = [
    "journal.partial_batch",
    "journal.rotated",
    "checkpoint.temp_written",
    "checkpoint.renamed",
    "prune.one_removed",
    "prune.done",
];

/// Panics (instead of aborting) the N-th time `name` is reached, for points on the owner thread
/// whose panic the runtime must report truthfully. Same variable, same count.
#[cfg(feature = "failpoints")]
pub(crate) fn panic_at(name: &str) {
    hit_with(name, || {}, || panic!("injected failure at {name}"));
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn panic_at(_name: &str) {}

#[cfg(feature = "failpoints")]
pub(crate) fn hit(name: &str, before: impl FnOnce()) {
    hit_with(name, before, || std::process::abort());
}

#[cfg(feature = "failpoints")]
fn hit_with(name: &str, before: impl FnOnce(), fail: impl FnOnce()) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let plan = PLAN.get_or_init(|| {
        let text = std::env::var("CAPVAULT_FAILPOINT").ok()?;
        let (point, nth) = text.split_once(':')?;
        Some((point.to_owned(), nth.parse().ok()?))
    });
    let Some((point, nth)) = plan else { return };
    // Relaxed: one counter, only its own value matters.
    if point == name && COUNT.fetch_add(1, Ordering::Relaxed) + 1 == *nth {
        before();
        fail();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub(crate) fn hit(_name: &str, _before: impl FnOnce()) {}
