//! `--nats URL`: `list`, `inspect`, `watch`, `submit` and `clients` against a served vault over
//! NATS, as the URL's user (its grant and its NATS permissions apply). Each is
//! `capvault::remote::RemoteClient` and a printer: no rule of the ledger lives here.

use std::time::Duration;

use capvault::remote::{RemoteClient, RemoteOptions, RemoteSnapshot};
use serde_json::{json, Value};

use super::{emit, fit, screen, Failure};

/// How long `list --nats` collects the vaults' announcements.
const DISCOVERY: Duration = Duration::from_millis(750);

fn connect(url: &str, vault: &str) -> Result<(RemoteClient, RemoteOptions), Failure> {
    let mut options = RemoteOptions::from_url(url).map_err(Failure::File)?;
    if !vault.is_empty() {
        vault.clone_into(&mut options.vault);
    }
    // One attempt, one resend: a person at a terminal wants an answer or a reason soon.
    options.deadline = Duration::from_secs(5);
    let client = RemoteClient::connect(options.clone())
        .map_err(|error| Failure::File(format!("{}: {error}", shown(&options))))?;
    Ok((client, options))
}

/// The server and user, never the password.
fn shown(options: &RemoteOptions) -> String {
    format!("{} as {}", options.servers.join(","), options.user)
}

/// `capvault list --nats URL`: the vaults announced there.
pub(crate) fn list(url: &str, json: bool) -> Result<(), Failure> {
    let (mut client, options) = connect(url, "")?;
    let vaults =
        client.vaults(DISCOVERY).map_err(|error| Failure::File(format!("{}: {error}", shown(&options))))?;
    let mut out = String::new();
    if json {
        for vault in &vaults {
            out += &format!("{}\n", serde_json::to_string(vault).unwrap_or_default());
        }
    } else if vaults.is_empty() {
        out += &format!("no capvault vault answered on {} within {DISCOVERY:?}\n", options.servers.join(","));
    } else {
        out += &format!(
            "{:<24} {:<12} {:<24} {:>8}  {:<10} {}\n",
            "name", "prefix", "host", "pid", "version", "id"
        );
        for v in &vaults {
            out += &format!(
                "{:<24} {:<12} {:<24} {:>8}  {:<10} {}\n",
                v.vault, v.prefix, v.host, v.pid, v.version, v.id
            );
        }
    }
    emit(&out)
}

/// `capvault inspect|watch NAME --nats URL`: reads the snapshot over NATS, each frame waiting
/// for one newer than the last (or `interval` at most), `count` frames (`None`: until stopped).
pub(crate) fn watch(
    url: &str,
    vault: &str,
    interval: Option<Duration>,
    count: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    let (mut client, options) = connect(url, vault)?;
    let mut frame = 0_u64;
    loop {
        let read = client
            .read(0)
            .map_err(|error| Failure::File(format!("{vault} ({}): {error}", shown(&options))))?;
        if json {
            let mut value = read.snapshot.clone();
            if let Value::Object(map) = &mut value {
                map.insert(
                    "source".into(),
                    json!({ "nats": options.servers, "vault": vault, "user": options.user }),
                );
            }
            emit(&format!("{value}\n"))?;
        } else {
            let (width, rows) = screen();
            let text = snapshot_text(vault, &options, &read);
            let clear = if interval.is_some() { "\x1b[H\x1b[2J" } else { "" };
            emit(&format!(
                "{clear}{}",
                fit(&text, width, if interval.is_some() { rows } else { usize::MAX })
            ))?;
        }
        frame += 1;
        match interval {
            Some(interval) if count.is_none_or(|count| frame < count) => std::thread::sleep(interval),
            _ => return Ok(()),
        }
    }
}

/// `capvault submit NAME COMMAND --nats URL`: one command under a new request number, resent
/// under it until answered; prints the answer as the local `submit` does.
pub(crate) fn submit(url: &str, vault: &str, command: &str) -> Result<(), Failure> {
    let command: capvault::Command =
        serde_json::from_str(command).map_err(|error| Failure::File(format!("the command: {error}")))?;
    let (mut client, _) = connect(url, vault)?;
    match client.submit(command) {
        Ok(receipt) => emit(&format!("{}\n", json!({ "seq": receipt.seq, "outcome": receipt.outcome }))),
        Err(error) => {
            let detail = match &error {
                capvault::SubmitError::Rejected(rejection) => {
                    serde_json::to_value(rejection).unwrap_or_default()
                }
                _ => Value::Null,
            };
            let request = client.last_request();
            emit(&format!(
                "{}\n",
                json!({ "error": error.to_string(), "rejection": detail, "request": request })
            ))?;
            Err(Failure::File(error.to_string()))
        }
    }
}

/// `capvault clients NAME --nats URL`: the vault's counters of each client name it has seen.
pub(crate) fn clients(url: &str, vault: &str, json: bool) -> Result<(), Failure> {
    let (mut client, options) = connect(url, vault)?;
    let list = client.clients().map_err(|error| {
        Failure::File(format!(
            "{vault} ({}): {error} (is it served there, and may this user publish on its clients subject?)",
            shown(&options)
        ))
    })?;
    let mut out = String::new();
    if json {
        for entry in &list {
            out += &format!("{entry}\n");
        }
    } else {
        out += &format!(
            "{:<32} {:>9} {:>10} {:>10} {:>10} {:>10}\n",
            "name", "in_flight", "requests", "answered", "refused", "idle_s"
        );
        for c in &list {
            let number = |key: &str| c.get(key).and_then(Value::as_u64).unwrap_or(0);
            out += &format!(
                "{:<32} {:>9} {:>10} {:>10} {:>10} {:>10.1}\n",
                c.get("name").and_then(Value::as_str).unwrap_or("?"),
                number("in_flight"),
                number("requests"),
                number("answered"),
                number("refused"),
                number("idle_ms") as f64 / 1e3
            );
        }
    }
    emit(&out)
}

/// A snapshot read over NATS as text: each book with its strategies, then the orders holding
/// capital. Figures print as the JSON carries them (decimal amounts).
fn snapshot_text(vault: &str, options: &RemoteOptions, read: &RemoteSnapshot) -> String {
    let s = &read.snapshot;
    let field = |v: &Value, key: &str| match v.get(key) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let stats = s.get("stats").cloned().unwrap_or(Value::Null);
    let orders = s.get("orders").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut out = format!("capvault {vault} over NATS ({})\n", shown(options));
    out += &format!(
        "seq {}  accepted {}  rejected {}  batches {}  orders holding capital {}\n",
        read.seq,
        field(&stats, "accepted"),
        field(&stats, "rejected"),
        field(&stats, "batches"),
        orders.len()
    );
    for book in s.get("books").and_then(Value::as_array).into_iter().flatten() {
        let utilisation = book.get("utilisation").and_then(Value::as_f64).unwrap_or(0.0);
        let penalty = book.get("penalty").and_then(|p| p.get("active")).and_then(Value::as_bool);
        out += &format!(
            "\n{}/{}  total {}  pool {}  committed {} ({:.1}%)  credit {}  first layer limit {}  penalty {}\n",
            field(book, "venue"),
            field(book, "currency"),
            field(book, "total"),
            field(book, "pool"),
            field(book, "committed"),
            utilisation * 100.0,
            field(book, "credit_limit"),
            field(book, "first_layer_limit"),
            if penalty == Some(true) { "ON" } else { "off" }
        );
        out += &format!(
            "  {:>4} {:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>6}\n",
            "slot", "label", "frozen", "used", "committed", "cap", "acc_alpha", "orders"
        );
        for st in book.get("strategies").and_then(Value::as_array).into_iter().flatten() {
            let forced = st.get("forced_reduce").and_then(Value::as_bool) == Some(true);
            out += &format!(
                "  {:>4} {:<10} {:>14} {:>14} {:>14} {:>14} {:>12} {:>6}{}\n",
                field(st, "slot"),
                field(st, "label"),
                field(st, "frozen"),
                field(st, "used"),
                field(st, "committed"),
                field(st, "cap"),
                field(st, "acc_alpha"),
                field(st, "orders_live"),
                if forced { "  FORCED-REDUCE" } else { "" }
            );
        }
    }
    out + &orders_text(&orders)
}

/// The orders holding capital, one line each; nothing when there are none.
fn orders_text(orders: &[Value]) -> String {
    let field = |v: &Value, key: &str| {
        v.get(key).map_or_else(|| "-".to_owned(), |f| f.as_str().map_or_else(|| f.to_string(), str::to_owned))
    };
    let mut out = String::new();
    if !orders.is_empty() {
        out += "\norders holding capital\n";
        out += &format!(
            "  {:<34} {:>4} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  state\n",
            "client_order_id", "book", "slot", "side", "layer", "amount", "frozen", "used"
        );
        for o in orders {
            out += &format!(
                "  {:<34} {:>4} {:>4} {:<4} {:>5} {:>14} {:>14} {:>14}  {}\n",
                field(o, "client_order_id"),
                field(o, "book"),
                field(o, "slot"),
                field(o, "side"),
                field(o, "layer"),
                field(o, "amount"),
                field(o, "frozen"),
                field(o, "used"),
                field(o, "state")
            );
        }
    }
    out
}
