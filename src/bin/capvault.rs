//! `capvault`: look at a running vault from another process, through its shared-memory mirror.
//!
//! ```text
//! capvault inspect PATH [--json]                       one table (or one JSON object) and exit
//! capvault watch PATH [--interval-ms N] [--count N]    the same, refreshed in place
//! ```

#[cfg(not(capvault_loom))]
mod app {
    use std::io::Write;
    use std::process::ExitCode;
    use std::time::Duration;

    use capvault::{Amount, Book, ShmError, ShmReader, Snapshot, WriterState, WriterStatus};
    use serde_json::{json, Value};

    const USAGE: &str = "usage:
      capvault inspect PATH [--json]
      capvault watch PATH [--interval-ms N] [--count N] [--json]

    PATH is the vault's shared-memory file (Builder::mirror_shm), e.g. /dev/shm/capvault.";

    struct Options {
        command: String,
        path: String,
        json: bool,
        interval: Duration,
        count: Option<u64>,
    }

    fn parse(args: &[String]) -> Result<Options, String> {
        let mut rest = args.iter();
        let command = rest.next().ok_or("missing command")?.clone();
        if command != "inspect" && command != "watch" {
            return Err(format!("unknown command {command:?}"));
        }
        let mut options = Options {
            command,
            path: String::new(),
            json: false,
            interval: Duration::from_millis(500),
            count: None,
        };
        while let Some(arg) = rest.next() {
            let mut number = |name: &str| -> Result<u64, String> {
                rest.next().and_then(|v| v.parse().ok()).ok_or(format!("{name} needs a number"))
            };
            match arg.as_str() {
                "--json" => options.json = true,
                "--interval-ms" => options.interval = Duration::from_millis(number("--interval-ms")?.max(10)),
                "--count" => options.count = Some(number("--count")?),
                flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
                path if options.path.is_empty() => options.path = path.to_owned(),
                extra => return Err(format!("unexpected argument {extra:?}")),
            }
        }
        if options.path.is_empty() {
            return Err("missing PATH".into());
        }
        Ok(options)
    }

    pub(super) fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let options = match parse(&args) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("capvault: {message}\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        let result = if options.command == "inspect" { inspect(&options) } else { watch(&options) };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            // The reader of our output went away (`| head -1`): nothing left to say to anyone.
            Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("capvault: {error}");
                ExitCode::FAILURE
            }
        }
    }

    /// Why a command failed: the mirror, or writing our own output.
    enum Failure {
        Shm(ShmError),
        Output(std::io::Error),
    }

    impl From<ShmError> for Failure {
        fn from(error: ShmError) -> Failure {
            Failure::Shm(error)
        }
    }

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Failure::Shm(error) => write!(f, "{error}"),
                Failure::Output(error) => write!(f, "writing the output: {error}"),
            }
        }
    }

    /// Writes to standard output, returning an error (a closed pipe among them) instead of
    /// panicking as `print!` does.
    fn emit(text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(Failure::Output)
    }

    fn inspect(options: &Options) -> Result<(), Failure> {
        let reader = ShmReader::open(&options.path)?;
        let snapshot = reader.read()?;
        let writer = reader.writer();
        if options.json {
            emit(&format!("{}\n", to_json(&reader, &snapshot, &writer)))
        } else {
            emit(&table(&reader, &snapshot, &writer, false))
        }
    }

    fn watch(options: &Options) -> Result<(), Failure> {
        let mut reader = ShmReader::open(&options.path)?;
        let mut frame = 0_u64;
        loop {
            let writer = reader.writer();
            if writer.state == WriterState::Replaced {
                // A new writer took the path: follow it.
                reader = ShmReader::open(&options.path)?;
                continue;
            }
            let snapshot = match reader.read() {
                Ok(snapshot) => snapshot,
                // Every try overlapped a write: a busy writer, not a fault. Try again next frame.
                Err(ShmError::Busy { .. }) => {
                    std::thread::sleep(options.interval);
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            if options.json {
                emit(&format!("{}\n", to_json(&reader, &snapshot, &writer)))?;
            } else {
                // Home the cursor and clear the screen, then draw.
                emit(&format!("\x1b[H\x1b[2J{}", table(&reader, &snapshot, &writer, true)))?;
            }
            frame += 1;
            if options.count.is_some_and(|count| frame >= count) {
                return Ok(());
            }
            std::thread::sleep(options.interval);
        }
    }

    fn writer_line(writer: &WriterStatus) -> String {
        let state = match writer.state {
            WriterState::Alive => "ALIVE",
            WriterState::Stale => "STALE (alive but no heartbeat: hung?)",
            WriterState::Dead => "DEAD (the process is gone; figures are its last)",
            WriterState::Closed => "CLOSED (shut down cleanly; figures are final)",
            WriterState::Failed => "FAILED (the vault stopped on an error; figures are its last, not final)",
            WriterState::Replaced => "REPLACED (a new writer took the path; reopen)",
        };
        format!(
            "writer pid {} {state}, heartbeat {:.1} s ago",
            writer.pid,
            writer.heartbeat_age.as_secs_f64()
        )
    }

    fn bar(utilisation: f64, width: usize) -> String {
        let filled = ((utilisation.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
        format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
    }

    fn table(reader: &ShmReader, snapshot: &Snapshot, writer: &WriterStatus, live: bool) -> String {
        let mut out = String::new();
        let stats = snapshot.stats();
        out += &format!("capvault {}  ({})\n", reader.path().display(), writer_line(writer));
        out += &format!(
            "seq {}  accepted {}  rejected {}  batches {}  live orders {}\n",
            snapshot.seq(),
            stats.accepted,
            stats.rejected,
            stats.batches,
            snapshot.orders().len()
        );
        for book in snapshot.books() {
            out += &book_table(book, live);
        }
        if !snapshot.orders().is_empty() {
            out += "\nlive orders\n";
            out += &format!(
                "  {:<34} {:<12} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  state\n",
                "client_order_id", "book", "slot", "side", "layer", "amount", "frozen", "used"
            );
            for order in snapshot.orders() {
                let book = snapshot
                    .book(order.book())
                    .map_or_else(String::new, |b| format!("{}/{}", b.venue(), b.currency()));
                out += &format!(
                    "  {:<34} {:<12} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  {:?}\n",
                    order.id().to_string(),
                    book,
                    order.slot(),
                    format!("{:?}", order.side()).to_uppercase(),
                    order.layer(),
                    order.amount().grouped(2).to_string(),
                    order.frozen().grouped(2).to_string(),
                    order.used().grouped(2).to_string(),
                    order.state()
                );
            }
        }
        out
    }

    fn book_table(book: &Book, live: bool) -> String {
        let view = book.view();
        let utilisation = view.utilisation().unwrap_or(0.0);
        let mut out = format!(
            "\n{}/{}  total {}  pool {}  committed {} ({:.1}%) {}  credit {}  penalty {}{}\n",
            book.venue(),
            book.currency(),
            book.total().grouped(2),
            book.pool().grouped(2),
            view.committed().grouped(2),
            utilisation * 100.0,
            bar(utilisation, 30),
            book.credit_limit().grouped(2),
            if book.penalty().is_active() { "ON (buy steps x" } else { "off" },
            if book.penalty().is_active() {
                format!("{})", book.penalty().config().multiplier)
            } else {
                String::new()
            },
        );
        if book.health() != capvault::Health::Sound {
            out += "  UNRECOVERABLE: pool + credit limit < 0; reconcile or reset\n";
        }
        out += &format!(
            "  {:>4} {:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>6}  state\n",
            "slot", "label", "frozen", "used", "committed", "cap", "acc_alpha", "orders"
        );
        for (slot, s) in book.strategies() {
            let config = s.config();
            let label = config.label.map_or_else(|| "-".to_owned(), |l| l.to_string());
            let cap = config.cap.map_or_else(|| "-".to_owned(), |c| c.grouped(2).to_string());
            out += &format!(
                "  {:>4} {:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>6}  {}\n",
                slot,
                label,
                s.frozen().grouped(2).to_string(),
                s.used().grouped(2).to_string(),
                s.committed().grouped(2).to_string(),
                cap,
                s.acc_alpha().grouped(2).to_string(),
                s.orders_live(),
                if s.is_forced_reduce() {
                    format!("FORCED-REDUCE (loss {})", s.float_loss().grouped(2))
                } else {
                    String::new()
                },
            );
        }
        if live {
            // The seed's dashboard: the strategies' accumulated alpha side by side.
            let race: Vec<String> = book
                .strategies()
                .filter_map(|(_, s)| {
                    s.config().label.map(|label| format!("{label} {}", s.acc_alpha().grouped(2)))
                })
                .collect();
            if !race.is_empty() {
                out += &format!("  acc_alpha race: {}\n", race.join("  |  "));
            }
        }
        out
    }

    fn money(amount: Amount) -> Value {
        json!(amount)
    }

    fn to_json(reader: &ShmReader, snapshot: &Snapshot, writer: &WriterStatus) -> Value {
        let books: Vec<Value> = snapshot
            .books()
            .iter()
            .map(|book| {
                let view = book.view();
                json!({
                    "venue": book.venue().as_str(),
                    "currency": book.currency().as_str(),
                    "total": money(book.total()),
                    "pool": money(book.pool()),
                    "committed": money(view.committed()),
                    "utilisation": view.utilisation(),
                    "credit_limit": money(book.credit_limit()),
                    "penalty": book.penalty().is_active(),
                    "unrecoverable": book.health() != capvault::Health::Sound,
                    "strategies": book.strategies().map(|(slot, s)| json!({
                        "slot": slot,
                        "label": s.config().label.map(|l| l.to_string()),
                        "frozen": money(s.frozen()),
                        "used": money(s.used()),
                        "committed": money(s.committed()),
                        "cap": s.config().cap.map(money),
                        "acc_alpha": money(s.acc_alpha()),
                        "forced_reduce": s.is_forced_reduce(),
                        "orders_live": s.orders_live(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let orders: Vec<Value> = snapshot
            .orders()
            .iter()
            .map(|o| {
                json!({
                    "client_order_id": o.id().to_string(),
                    "book": o.book().index(),
                    "slot": o.slot(),
                    "side": o.side(),
                    "layer": o.layer(),
                    "amount": money(o.amount()),
                    "frozen": money(o.frozen()),
                    "used": money(o.used()),
                    "state": format!("{:?}", o.state()),
                })
            })
            .collect();
        json!({
            "path": reader.path().display().to_string(),
            "writer": {
                "state": format!("{:?}", writer.state),
                "pid": writer.pid,
                "heartbeat_age_s": writer.heartbeat_age.as_secs_f64(),
            },
            "seq": snapshot.seq(),
            "accepted": snapshot.stats().accepted,
            "rejected": snapshot.stats().rejected,
            "batches": snapshot.stats().batches,
            "repeated": snapshot.stats().repeated,
            "outcomes_dropped": snapshot.stats().outcomes_dropped,
            "books": books,
            "orders": orders,
        })
    }
}

#[cfg(not(capvault_loom))]
fn main() -> std::process::ExitCode {
    app::main()
}

/// The loom build checks the runtime's concurrency; it has no shared-memory reader to inspect.
#[cfg(capvault_loom)]
fn main() {}
