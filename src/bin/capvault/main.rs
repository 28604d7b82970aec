//! `capvault`: serve a vault, and look at or command one, locally or over NATS.
//!
//! ```text
//! capvault serve CONFIG.json                                       a vault as a service (docs/serve.md)
//! capvault list [--json]                                           the vaults running here
//! capvault inspect NAME|PATH [--json]                              one table (or JSON) and exit
//! capvault watch NAME|PATH [--interval-ms N] [--count N] [--json]  a live dashboard; q quits
//! capvault latency NAME|FILE.hlog [--tag T] [--hgrm] [--plot -o SVG]  a latency log's percentiles
//! capvault submit SERVICE COMMAND / capvault clients SERVICE       command a served vault
//! ```
//!
//! NAME is a running vault's name as `capvault list` shows it (its service, or its mirror's
//! file name), or the name of a mirror file in /dev/shm (a stopped vault's last state).
//! `list`, `inspect`, `watch`, `submit` and `clients` take `--nats nats://USER:PASSWORD@HOST:PORT`
//! to reach a served vault over NATS from any host instead (`docs/distribution.md`).
//!
//! Exit codes: 0 done, 1 the mirror could not be read, 2 a usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::io::IsTerminal;
use std::path::Path;

use capvault::hdrhistogram::Histogram;
use capvault::tools::{dashboard, report};
use capvault::{
    find_vaults, read_latency_log, running_vaults, shm_path, Book, LatencySummary, Metric, ShmError,
    ShmReader, Snapshot, VaultEntry, WriterState, WriterStatus,
};
use clap::{Parser, Subcommand};

mod remote;
use serde_json::{json, Value};

/// Serve a capvault vault, and look at or command one: locally through its shared-memory mirror and
/// gateway, or from any host over NATS (`--nats`).
#[derive(Parser, Debug)]
#[command(name = "capvault", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a vault as a service from a configuration file (docs/serve.md): the ledger, the
    /// journal, the mirrors and the local gateway. Prints `ready NAME ...` when it serves; stops
    /// cleanly on SIGTERM, SIGINT or SIGHUP. Exit codes: 0 stopped cleanly, 3 a bad
    /// configuration, 4 could not start, 5 stopped on an error.
    Serve {
        /// The service's configuration (JSON).
        config: PathBuf,
        /// Follow the leader's replicated journal and take over when its lease lapses (CONFIG
        /// needs `replication`; docs/distribution.md). Prints `standby NAME ...` while it
        /// follows, `ready NAME ...` once it leads.
        #[arg(long)]
        standby: bool,
    },
    /// List this user's vaults running on this machine: name, pid, mirror state, mirror,
    /// service, data folder.
    List {
        /// One JSON object per vault.
        #[arg(long)]
        json: bool,
        /// The vaults announced on these NATS servers instead: `nats://USER:PASSWORD@HOST:PORT`.
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
    /// Print the vault's books, strategies and orders once.
    Inspect {
        /// The vault's name (`capvault list`) or its shared-memory file (`Builder::mirror_shm`).
        vault: String,
        /// One JSON object in the snapshot schema, with the writer's state.
        #[arg(long)]
        json: bool,
        /// Over NATS instead, as this user: `nats://USER:PASSWORD@HOST:PORT` (docs/distribution.md).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
    /// Print the same, refreshed in place until interrupted.
    Watch {
        /// The vault's name or its shared-memory file.
        vault: String,
        /// Milliseconds between frames (at least 10).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
        interval_ms: u64,
        /// Stop after this many frames.
        #[arg(long)]
        count: Option<u64>,
        /// One JSON object per line per frame.
        #[arg(long)]
        json: bool,
        /// Over NATS instead, as this user: `nats://USER:PASSWORD@HOST:PORT` (docs/distribution.md).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
    /// Read a latency log (`Builder::latency_log`, or any HdrHistogram V2 interval log): each
    /// metric's percentiles over the whole log.
    Latency {
        /// The interval log (`.hlog`), or the name of a running vault that keeps one.
        log: String,
        /// Only this metric (tag), e.g. `queue`, `journal`, `round_trip`.
        #[arg(long)]
        tag: Option<String>,
        /// Print HdrHistogram's percentile distribution (`.hgrm`, values in microseconds) of each
        /// metric instead of the table.
        #[arg(long, conflicts_with = "plot")]
        hgrm: bool,
        /// Draw the time metrics' percentile curves into the SVG file given with `-o`.
        #[arg(long, requires = "output")]
        plot: bool,
        /// Where `--plot` draws.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Submit one command to a served vault (`Builder::serve`) and print its answer as JSON.
    Submit {
        /// The service's name.
        service: String,
        /// The command as JSON, tagged by `op`, e.g. '{"op":"allocate","book":0,"slot":2,"amount":500}'.
        command: String,
        /// The client name to connect as (its grant applies); over NATS the URL's user is.
        #[arg(long, default_value = "ops", conflicts_with = "nats")]
        client: String,
        /// Over NATS instead, as this user: `nats://USER:PASSWORD@HOST:PORT` (docs/distribution.md).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
    /// List the clients connected to a served vault.
    Clients {
        /// The service's name.
        service: String,
        /// One JSON object per client.
        #[arg(long)]
        json: bool,
        /// Over NATS instead, as this user: `nats://USER:PASSWORD@HOST:PORT` (docs/distribution.md).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Serve { config, standby } => return serve(config, *standby),
        Command::List { json, nats: Some(url) } => remote::list(url, *json),
        Command::List { json, nats: None } => list(*json),
        Command::Inspect { vault, json, nats: Some(url) } => remote::watch(url, vault, None, Some(1), *json),
        Command::Inspect { vault, json, nats: None } => {
            mirror_of(vault).and_then(|path| inspect(&path, *json))
        }
        Command::Watch { vault, interval_ms, count, json, nats: Some(url) } => {
            remote::watch(url, vault, Some(Duration::from_millis(*interval_ms)), *count, *json)
        }
        Command::Watch { vault, interval_ms, count, json, nats: None } => {
            mirror_of(vault).and_then(|path| watch(&path, Duration::from_millis(*interval_ms), *count, *json))
        }
        Command::Latency { log, tag, hgrm, plot, output } => log_of(log).and_then(|file| {
            latency(&file, tag.as_deref(), *hgrm, if *plot { output.as_deref() } else { None })
        }),
        Command::Submit { service, command, nats: Some(url), .. } => remote::submit(url, service, command),
        Command::Submit { service, command, client, nats: None } => submit(service, command, client),
        Command::Clients { service, json, nats: Some(url) } => remote::clients(url, service, *json),
        Command::Clients { service, json, nats: None } => clients(service, *json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our output went away (`| head -1`): nothing left to say to anyone.
        Err(Failure::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("capvault: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command failed: the mirror, or writing our own output.
#[derive(Debug)]
enum Failure {
    Shm(ShmError),
    Output(std::io::Error),
    /// A file this command reads or writes (the latency log, the plot).
    File(String),
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
            Failure::File(error) => write!(f, "{error}"),
        }
    }
}

/// `capvault serve`: logs to standard error (`RUST_LOG` filters; `info` by default).
fn serve(config: &Path, standby: bool) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(colour).with_writer(std::io::stderr).init();
    match capvault::tools::serve::run(config, standby) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("capvault serve: {error}");
            ExitCode::from(error.kind as u8)
        }
    }
}

/// The one running vault named `name`; an error naming the candidates if several are.
fn vault_named(name: &str) -> Result<Option<VaultEntry>, Failure> {
    let mut found = find_vaults(name);
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => {
            let which: Vec<String> = found
                .iter()
                .map(|v| {
                    format!(
                        "pid {} ({})",
                        v.pid,
                        v.mirror.as_ref().map_or("-".into(), |m| m.display().to_string())
                    )
                })
                .collect();
            Err(Failure::File(format!(
                "{} vaults are named {name:?}: {}; give the mirror's path",
                found.len(),
                which.join(", ")
            )))
        }
    }
}

/// The shared-memory file of `vault`: a path, a running vault's name, or a mirror's name in the
/// shared-memory folder (`example` finds `/dev/shm/capvault-example`).
fn mirror_of(vault: &str) -> Result<PathBuf, Failure> {
    let path = Path::new(vault);
    // A path (it names a folder) is a path, found or not: opening it says what is wrong.
    if path.exists() || vault.contains('/') {
        return Ok(path.to_owned());
    }
    if let Some(entry) = vault_named(vault)? {
        return entry.mirror.ok_or_else(|| {
            Failure::File(format!("vault {vault:?} (pid {}) keeps no shared-memory mirror", entry.pid))
        });
    }
    for candidate in [vault.to_owned(), format!("capvault-{vault}"), format!("capvault-{vault}.shm")] {
        // A served vault's folder is `capvault-NAME` too: only a file is a mirror.
        let path = shm_path(&candidate);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(Failure::File(format!(
        "no vault named {vault:?} runs here and no such mirror file exists (`capvault list` shows the running vaults)"
    )))
}

/// The latency log of `log`: a file, or a running vault's `Builder::latency_log`.
fn log_of(log: &str) -> Result<PathBuf, Failure> {
    let path = Path::new(log);
    if path.exists() || log.contains('/') {
        return Ok(path.to_owned());
    }
    match vault_named(log)? {
        Some(VaultEntry { latency_log: Some(file), .. }) => Ok(file),
        Some(_) => Err(Failure::File(format!(
            "vault {log:?} keeps no latency log (Builder::latency_log); `capvault inspect {log}` shows its latency summary"
        ))),
        None => Err(Failure::File(format!("{log}: no such file, and no vault of that name runs here"))),
    }
}

/// `capvault list`: this user's running vaults.
fn list(json: bool) -> Result<(), Failure> {
    let vaults = running_vaults();
    let state = |vault: &VaultEntry| {
        vault.mirror.as_ref().map_or_else(
            || "-".to_owned(),
            |mirror| match ShmReader::open(mirror) {
                Ok(reader) => format!("{:?}", reader.writer().state).to_lowercase(),
                Err(error) => format!("unreadable ({error})"),
            },
        )
    };
    let shown =
        |path: &Option<PathBuf>| path.as_ref().map_or_else(|| "-".to_owned(), |p| p.display().to_string());
    let mut out = String::new();
    if json {
        for vault in &vaults {
            let mut value = serde_json::to_value(vault).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("state".into(), json!(state(vault)));
            }
            out += &format!(
                "{value}
"
            );
        }
    } else if vaults.is_empty() {
        out += "no capvault vault of this user runs on this machine\n";
    } else {
        out += &format!(
            "{:<24} {:>8}  {:<8} {:<40} {:<20} {}\n",
            "name", "pid", "state", "mirror", "service", "data_dir"
        );
        for vault in &vaults {
            out += &format!(
                "{:<24} {:>8}  {:<8} {:<40} {:<20} {}\n",
                vault.name,
                vault.pid,
                state(vault),
                shown(&vault.mirror),
                vault.service.as_deref().unwrap_or("-"),
                shown(&vault.data_dir)
            );
        }
    }
    emit(&out)
}

/// Writes to standard output, returning an error (a closed pipe among them) instead of
/// panicking as `print!` does.
fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(Failure::Output)
}

/// The terminal's columns and rows; unlimited when the output is not a terminal (a pipe or a
/// file gets every line whole).
fn screen() -> (usize, usize) {
    terminal_size::terminal_size()
        .map_or((usize::MAX, usize::MAX), |(w, h)| (usize::from(w.0), usize::from(h.0)))
}

fn inspect(path: &PathBuf, json: bool) -> Result<(), Failure> {
    let reader = ShmReader::open(path)?;
    let snapshot = reader.read()?;
    let writer = reader.writer();
    let latency = reader.latency()?;
    if json {
        emit(&format!("{}\n", to_json(&reader, &snapshot, &writer, &latency)))
    } else {
        let (width, _) = screen();
        let text = table(&reader, &snapshot, &writer) + &latency_table(&latency);
        emit(&fit(&text, width, usize::MAX))
    }
}

/// The mirror's latency summary as a table; says so when nothing was recorded.
fn latency_table(latency: &[(Metric, LatencySummary)]) -> String {
    let recorded: Vec<_> = latency.iter().filter(|(_, s)| s.count > 0).collect();
    if recorded.is_empty() {
        return "\nlatency: nothing recorded (recording off, or no command yet)\n".to_owned();
    }
    let mut out = format!(
        "\nlatency since start\n  {:<11} {:>10} {:<27} {:>10} {:>10} {:>10} {:>10}\n",
        "metric", "samples", "one sample is", "p50", "p99", "p99.9", "max"
    );
    for (metric, s) in recorded {
        let human = |value| report::human(value, metric.is_time());
        out += &format!(
            "  {:<11} {:>10} {:<27} {:>10} {:>10} {:>10} {:>10}\n",
            metric.name(),
            s.count,
            metric.sample(),
            human(s.p50),
            human(s.p99),
            human(s.p999),
            human(s.max)
        );
    }
    out
}

fn watch(path: &PathBuf, interval: Duration, count: Option<u64>, json: bool) -> Result<(), Failure> {
    let interactive = !json && std::io::stdout().is_terminal();
    let mut terminal = if interactive { Some(ratatui::init()) } else { None };
    let result = watch_frames(path, interval, count, json, terminal.as_mut());
    if terminal.is_some() {
        ratatui::restore();
    }
    result
}

/// Draws frames until `count`, or `q` (Esc, Ctrl-C) on a terminal. Without a terminal each
/// frame is the dashboard as text (or one JSON line), printed after a clear-screen sequence.
fn watch_frames(
    path: &PathBuf,
    interval: Duration,
    count: Option<u64>,
    json: bool,
    mut terminal: Option<&mut ratatui::DefaultTerminal>,
) -> Result<(), Failure> {
    let mut reader = ShmReader::open(path)?;
    let mut frame = 0_u64;
    loop {
        let writer = reader.writer();
        if writer.state == WriterState::Replaced {
            // A new writer took the path: follow it.
            reader = ShmReader::open(path)?;
            continue;
        }
        let snapshot = match reader.read() {
            Ok(snapshot) => Some(snapshot),
            // Every try overlapped a write: a busy writer, not a fault. Try again next frame.
            Err(ShmError::Busy { .. }) => None,
            Err(error) => return Err(error.into()),
        };
        if let Some(snapshot) = snapshot {
            let latency = reader.latency().unwrap_or_default();
            let source = reader.path().display().to_string();
            let view = dashboard::View { source, snapshot: &snapshot, writer: &writer, latency: &latency };
            if json {
                emit(&format!("{}\n", to_json(&reader, &snapshot, &writer, &latency)))?;
            } else if let Some(terminal) = terminal.as_deref_mut() {
                terminal.draw(|frame| dashboard::draw(frame, &view)).map_err(Failure::Output)?;
            } else {
                let (width, _) = screen();
                emit(&format!("\x1b[H\x1b[2J{}", dashboard_text(&view, width.min(160) as u16)))?;
            }
            frame += 1;
            if count.is_some_and(|count| frame >= count) {
                return Ok(());
            }
        }
        if terminal.is_some() {
            if quit_within(interval).map_err(Failure::Output)? {
                return Ok(());
            }
        } else {
            std::thread::sleep(interval);
        }
    }
}

/// Waits up to `interval` for a key; `true` for q, Esc or Ctrl-C.
fn quit_within(interval: Duration) -> std::io::Result<bool> {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let deadline = std::time::Instant::now() + interval;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || !event::poll(left)? {
            return Ok(false);
        }
        if let Event::Key(key) = event::read()? {
            let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
            if key.kind == KeyEventKind::Press
                && (matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) || ctrl_c)
            {
                return Ok(true);
            }
        }
    }
}

/// The dashboard drawn `width` columns wide as text, without its trailing blank lines.
fn dashboard_text(view: &dashboard::View, width: u16) -> String {
    let height = 200;
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width.max(40), height))
        .expect("a test backend cannot fail");
    terminal.draw(|frame| dashboard::draw(frame, view)).expect("a test backend cannot fail");
    let text = dashboard::text_of(terminal.backend().buffer());
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let used = lines.iter().rposition(|line| !line.is_empty()).map_or(0, |last| last + 1);
    let mut out = String::new();
    for line in &lines[..used] {
        out += line;
        out.push('\n');
    }
    out
}

/// `capvault latency`: the log's percentiles per metric, its `.hgrm` text, or a plot.
fn latency(file: &Path, tag: Option<&str>, hgrm: bool, plot: Option<&Path>) -> Result<(), Failure> {
    let bytes = std::fs::read(file).map_err(|error| Failure::File(format!("{}: {error}", file.display())))?;
    let metrics =
        read_latency_log(&bytes).map_err(|error| Failure::File(format!("{}: {error}", file.display())))?;
    let mut merged: Vec<(String, bool, Histogram<u64>)> = Vec::new();
    for (name, intervals) in &metrics {
        if tag.is_some_and(|tag| tag != name) {
            continue;
        }
        let mut sum = Histogram::<u64>::new(3).expect("three digits are valid");
        for interval in intervals {
            sum.add(&interval.histogram).map_err(|error| Failure::File(format!("{name}: {error:?}")))?;
        }
        // Order as the vault lists its metrics; foreign tags after them.
        let is_time = Metric::from_name(name).is_none_or(Metric::is_time);
        merged.push((name.clone(), is_time, sum));
    }
    merged.sort_by_key(|(name, _, _)| {
        Metric::from_name(name)
            .map_or(usize::MAX, |m| Metric::ALL.iter().position(|x| *x == m).unwrap_or(usize::MAX))
    });
    if merged.is_empty() {
        return Err(Failure::File(match tag {
            Some(tag) => format!("{}: no histogram tagged {tag:?}", file.display()),
            None => format!("{}: no histograms", file.display()),
        }));
    }
    if let Some(svg) = plot {
        let series: Vec<(String, &Histogram<u64>)> =
            merged.iter().filter(|(_, is_time, _)| *is_time).map(|(name, _, h)| (name.clone(), h)).collect();
        let title = format!(
            "capvault latency: {}",
            file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        report::plot_percentiles(svg, &title, &series)
            .map_err(|error| Failure::File(format!("{}: {error}", svg.display())))?;
        return emit(&format!("drew {} curves into {}\n", series.len(), svg.display()));
    }
    if hgrm {
        let mut out = String::new();
        for (name, is_time, histogram) in &merged {
            out += &format!("# {name} ({})\n", if *is_time { "microseconds" } else { "commands" });
            out += &report::hgrm(histogram, if *is_time { 1e3 } else { 1.0 });
            out.push('\n');
        }
        return emit(&out);
    }
    let intervals = metrics.values().map(Vec::len).max().unwrap_or(0);
    let span = metrics.values().flatten().map(|i| i.start + i.duration).fold(0.0, f64::max);
    let rows: Vec<(String, bool, &Histogram<u64>)> =
        merged.iter().map(|(n, t, h)| (n.clone(), *t, h)).collect();
    emit(&format!(
        "{}: {intervals} intervals over {span:.1} s\n{}",
        file.display(),
        report::percentile_table(&rows)
    ))
}

/// Cuts each line to `width` characters and the text to `rows` lines, saying how many were left
/// out, so a refreshed frame never wraps or scrolls.
fn fit(text: &str, width: usize, rows: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let shown = if lines.len() > rows { rows.saturating_sub(1) } else { lines.len() };
    let mut out = String::new();
    for line in &lines[..shown] {
        out.extend(line.chars().take(width));
        out.push('\n');
    }
    if shown < lines.len() {
        out +=
            &format!("... {} more lines (a taller terminal, or --json, shows them)\n", lines.len() - shown);
    }
    out
}

fn writer_line(writer: &WriterStatus) -> String {
    let state = match writer.state {
        WriterState::Alive => "ALIVE",
        WriterState::Stale => "STALE (alive but no heartbeat: hung?)",
        WriterState::Dead => "DEAD (the process is gone; figures are its last)",
        WriterState::Closed => "CLOSED (shut down cleanly; figures are final)",
        WriterState::Failed => "FAILED (the vault stopped on an error; figures are its last, not final)",
        WriterState::Replaced => "REPLACED (a new writer took the path; reopen)",
        _ => "UNKNOWN",
    };
    format!("writer pid {} {state}, heartbeat {:.1} s ago", writer.pid, writer.heartbeat_age.as_secs_f64())
}

fn bar(utilisation: f64, width: usize) -> String {
    let filled = ((utilisation.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

fn table(reader: &ShmReader, snapshot: &Snapshot, writer: &WriterStatus) -> String {
    let mut out = String::new();
    let stats = snapshot.stats();
    let working = snapshot.orders().filter(|o| o.frozen().is_positive()).count();
    out += &format!("capvault {}  ({})\n", reader.path().display(), writer_line(writer));
    out += &format!(
        "seq {}  accepted {}  rejected {}  batches {}  orders holding capital {} (working {working})\n",
        snapshot.seq(),
        stats.accepted,
        stats.rejected,
        stats.batches,
        snapshot.orders().len()
    );
    for book in snapshot.books() {
        out += &book_table(book);
    }
    if snapshot.orders().len() > 0 {
        // Every order listed still holds capital: working (frozen), or filled and not yet
        // released. Released and dropped orders are gone from the snapshot.
        out += "\norders holding capital\n";
        out += &format!(
            "  {:<34} {:<12} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  state\n",
            "client_order_id", "book", "slot", "side", "layer", "amount", "frozen", "used"
        );
        for order in snapshot.orders() {
            let book = snapshot
                .book(order.book())
                .map_or_else(String::new, |b| format!("{}/{}", b.venue(), b.currency()));
            out += &format!(
                "  {:<34} {:<12} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  {}\n",
                order.id().to_string(),
                book,
                order.slot(),
                order.side().to_string(),
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

fn book_table(book: &Book) -> String {
    let view = book.view();
    let utilisation = view.utilisation().unwrap_or(0.0);
    let penalty = if book.penalty().is_active() {
        format!("ON (buy steps x{})", book.penalty().config().multiplier)
    } else {
        "off".to_owned()
    };
    let mut out = format!(
        "\n{}/{}  total {}  pool {}  committed {} ({:.1}%) {}  credit {}  penalty {penalty}\n",
        book.venue(),
        book.currency(),
        book.total().grouped(2),
        book.pool().grouped(2),
        view.committed().grouped(2),
        utilisation * 100.0,
        bar(utilisation, 30),
        book.credit_limit().grouped(2),
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
        let state = if s.is_forced_reduce() {
            format!("FORCED-REDUCE (loss {})", s.float_loss().grouped(2))
        } else {
            String::new()
        };
        out += &format!(
            "  {:>4} {:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>6}  {state}\n",
            slot,
            label,
            s.frozen().grouped(2).to_string(),
            s.used().grouped(2).to_string(),
            s.committed().grouped(2).to_string(),
            cap,
            s.acc_alpha().grouped(2).to_string(),
            s.orders_live(),
        );
    }
    // The seed's dashboard: the strategies' accumulated alpha side by side.
    let race: Vec<String> = book
        .strategies()
        .filter_map(|(_, s)| s.config().label.map(|label| format!("{label} {}", s.acc_alpha().grouped(2))))
        .collect();
    if !race.is_empty() {
        out += &format!("  acc_alpha race: {}\n", race.join("  |  "));
    }
    out
}

/// The snapshot in its one JSON schema, with where it was read and the writer's state.
fn to_json(
    reader: &ShmReader,
    snapshot: &Snapshot,
    writer: &WriterStatus,
    latency: &[(Metric, LatencySummary)],
) -> Value {
    let mut value = serde_json::to_value(snapshot).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        // Per metric: count, p50, p99, p999, max (nanoseconds; commands for batch and depth).
        let latency: serde_json::Map<String, Value> =
            latency.iter().map(|(metric, summary)| (metric.name().to_owned(), json!(summary))).collect();
        map.insert("latency".into(), Value::Object(latency));
        map.insert("path".into(), json!(reader.path().display().to_string()));
        map.insert(
            "writer".into(),
            json!({
                "state": writer.state,
                "pid": writer.pid,
                "heartbeat_age_s": writer.heartbeat_age.as_secs_f64(),
            }),
        );
    }
    value
}

/// `capvault submit`: one command, its answer as JSON (`{"seq":..,"outcome":..}` or
/// `{"error":..}`); a refused or rejected command exits non-zero.
fn submit(service: &str, command: &str, client: &str) -> Result<(), Failure> {
    let command: capvault::Command =
        serde_json::from_str(command).map_err(|error| Failure::File(format!("the command: {error}")))?;
    let mut client =
        capvault::Client::connect(service, client).map_err(|error| Failure::File(error.to_string()))?;
    match client.submit(command) {
        Ok(receipt) => {
            emit(&format!("{}\n", serde_json::json!({ "seq": receipt.seq, "outcome": receipt.outcome })))
        }
        Err(error) => {
            let detail = match &error {
                capvault::SubmitError::Rejected(rejection) => {
                    serde_json::to_value(rejection).unwrap_or_default()
                }
                _ => serde_json::Value::Null,
            };
            emit(&format!("{}\n", serde_json::json!({ "error": error.to_string(), "rejection": detail })))?;
            Err(Failure::File(error.to_string()))
        }
    }
}

/// `capvault clients`: the places in use at a served vault.
fn clients(service: &str, json: bool) -> Result<(), Failure> {
    let clients = capvault::clients(service).map_err(|error| Failure::File(error.to_string()))?;
    let mut text = String::new();
    if json {
        for client in &clients {
            text += &format!("{}\n", serde_json::to_string(client).unwrap_or_default());
        }
    } else {
        text += &format!("{:>4}  {:<32} {:>8}  {:<8} {:>10}\n", "slot", "name", "pid", "state", "answered");
        for c in &clients {
            text +=
                &format!("{:>4}  {:<32} {:>8}  {:<8} {:>10}\n", c.slot, c.name, c.pid, c.state, c.answered);
        }
    }
    emit(&text)
}
