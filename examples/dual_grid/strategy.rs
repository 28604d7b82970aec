//! A grid strategy node of seed 000 (section 4), the same code in the session's process or in
//! its own (`--processes`, `--remote`): each minute it gets the last minute's order results and
//! broker events, reads the pool view at a given seq (from the session's vault, from the
//! shared-memory mirror, or from the vault over NATS), decides, and sends its signal: to its own
//! `order_signal` file, or over NATS in its answer to the session.

use std::collections::HashSet;
use std::error::Error;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use capvault::bridge::{write_signals, Event, OrderResult, ResultStatus, Signal};
use capvault::{Amount, ClientOrderId, ShmReader, Side, Snapshot};
use serde::{Deserialize, Serialize};

pub const MINUTES_PER_DAY: u64 = 240;
const LAYERS: usize = 9;

/// `SplitMix64` with a normal draw (Box-Muller): deterministic across platforms.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// Two mean-reverting one-minute paths whose anchors move each hour by a shock both share
/// (correlation ~0.8), so that in a falling stretch both grids fill their layers together and
/// press on the pool. Prices are rounded to the 0.001 tick.
pub fn price_paths(seed: u64, minutes: u64) -> [Vec<f64>; 2] {
    let mut rng = Rng(seed);
    let starts = [1.153_f64, 1.020];
    let vols = [0.0009, 0.0007];
    let mut log_p = starts.map(f64::ln);
    let mut anchor = log_p;
    let mut out = [Vec::with_capacity(minutes as usize), Vec::with_capacity(minutes as usize)];
    for minute in 0..minutes {
        if minute % 60 == 0 {
            let common = rng.normal();
            for (i, a) in anchor.iter_mut().enumerate() {
                // A shared shock, and a pull back to the starting level (the stress day's fall is
                // about half undone a day later).
                *a += 0.006 * (0.8 * common + 0.6 * rng.normal()) + 0.2 * (starts[i].ln() - *a);
            }
        }
        // A stress day: on the third day at 10:30 both funds fall about 14% within the hour (and
        // recover over the next day), which takes a grid's floating loss past the 15,000 stop.
        if minute == 2 * MINUTES_PER_DAY + 60 {
            for a in &mut anchor {
                *a -= 0.15;
            }
        }
        for i in 0..2 {
            log_p[i] += 0.03 * (anchor[i] - log_p[i]) + vols[i] * rng.normal();
            out[i].push((log_p[i].exp() * 1000.0).round() / 1000.0);
        }
    }
    out
}

/// One layer held: its buy order and what it cost.
#[derive(Clone, Debug)]
pub struct Layer {
    buy: String,
    price: f64,
    shares: u64,
    cost: Amount,
    filled: bool,
}

/// A grid strategy node (seed 000 section 4).
pub struct Grid {
    pub label: &'static str,
    pub code: &'static str,
    pub slot: u8,
    factor: f64,
    floor: f64,
    cooling_minutes: u64,
    layers: Vec<Layer>,
    anchor: f64,
    last_buy: Option<u64>,
    pending: Option<String>,
    /// The sell working: its signal id, the buy it closes, its limit price.
    /// Working sells: (sell signal id, the buy it closes, its limit price). Each layer has its
    /// own, as a grid's sell orders rest at their levels.
    selling: Vec<(String, String, Amount)>,
    next_id: u64,
    pub alpha: Amount,
    pub trades: u64,
    pub buys: u64,
    pub sells: u64,
    pub forced_sells: u64,
    pub fills: Vec<(u64, f64, Side)>,
}

impl Grid {
    /// The strategy for `label` with the seed's parameters (section 4): ATR factor 0.38 and
    /// step floor 0.12% with a 5-minute cooling-off for 159201; 0.32 and 0.10% with none for
    /// 512890.
    pub fn for_label(label: &str, start: f64) -> Option<Grid> {
        match label {
            "159201" => Some(Grid::new("159201", "159201.SZ", 2, 0.38, 0.0012, 5, start)),
            "512890" => Some(Grid::new("512890", "512890.SH", 3, 0.32, 0.0010, 0, start)),
            _ => None,
        }
    }

    fn new(
        label: &'static str,
        code: &'static str,
        slot: u8,
        factor: f64,
        floor: f64,
        cooling: u64,
        start: f64,
    ) -> Grid {
        Grid {
            label,
            code,
            slot,
            factor,
            floor,
            cooling_minutes: cooling,
            layers: Vec::new(),
            anchor: start,
            last_buy: None,
            pending: None,
            selling: Vec::new(),
            next_id: 0,
            alpha: Amount::ZERO,
            trades: 0,
            buys: 0,
            sells: 0,
            forced_sells: 0,
            fills: Vec::new(),
        }
    }

    /// The grid step as a fraction of the price: `max(factor x ATR / price, floor)`, with a
    /// 30-minute ATR over the last four hours; x1.5 for buys while the penalty is on.
    fn step(&self, path: &[f64], minute: usize, price: f64) -> f64 {
        let from = minute.saturating_sub(240);
        let moves: Vec<f64> = (from.max(30)..=minute).map(|m| (path[m] - path[m - 30]).abs()).collect();
        let atr = if moves.is_empty() { 0.0 } else { moves.iter().sum::<f64>() / moves.len() as f64 };
        (self.factor * atr / price).max(self.floor)
    }

    fn signal(
        &mut self,
        minute: u64,
        direction: Side,
        price: f64,
        shares: u64,
        layer: u32,
        release: Vec<String>,
    ) -> Signal {
        self.next_id += 1;
        Signal {
            signal_id: format!("sig-{}-{minute:06}-{}", self.label, self.next_id),
            client_order_id: None,
            code: self.code.into(),
            direction,
            price: Amount::from_f64_rounded(price, 3).unwrap_or(Amount::ZERO),
            shares,
            amount: None,
            layer_index: layer,
            release_client_order_ids: release,
        }
    }

    /// The floating loss of the layers held at `price`.
    pub fn float_loss(&self, price: f64) -> Amount {
        let value = self.layers.iter().filter(|l| l.filled).map(|l| l.shares as f64 * price).sum::<f64>();
        let cost = self.layers.iter().filter(|l| l.filled).map(|l| l.cost.to_f64()).sum::<f64>();
        Amount::from_f64_rounded((cost - value).max(0.0), 2).unwrap_or(Amount::ZERO)
    }

    /// This minute's signal, if any: a sell of the top layer above its step, a forced sell of the
    /// oldest layer while in forced-reduce, or a buy below the anchor by the (penalised) step.
    pub fn decide(&mut self, minute: u64, path: &[f64], penalty: bool, forced: bool) -> Option<Signal> {
        if self.pending.is_some() {
            return None;
        }
        let price = path[minute as usize];
        let step = self.step(path, minute as usize, price);
        // A layer can be sold while it is filled and not already being sold.
        let free = |l: &Layer| l.filled && !self.selling.iter().any(|(_, buy, _)| *buy == l.buy);
        if forced {
            if let Some(index) = self.layers.iter().position(free) {
                self.forced_sells += 1;
                return Some(self.sell(minute, index, price));
            }
            return None;
        }
        if let Some(index) = self.layers.iter().rposition(free) {
            if price >= self.layers[index].price * (1.0 + step) {
                return Some(self.sell(minute, index, price));
            }
        }
        let buy_step = if penalty { step * 1.5 } else { step };
        let cooled = self.last_buy.is_none_or(|at| minute >= at + self.cooling_minutes);
        if self.layers.len() < LAYERS && cooled && price <= self.anchor * (1.0 - buy_step) {
            let budget = 200_000.0 / LAYERS as f64;
            let shares = ((budget / price) / 100.0).floor() as u64 * 100;
            let layer = self.layers.len() as u32;
            let signal = self.signal(minute, Side::Buy, price, shares, layer, Vec::new());
            self.pending = Some(signal.signal_id.clone());
            self.layers.push(Layer {
                buy: signal.signal_id.clone(),
                price,
                shares,
                cost: Amount::ZERO,
                filled: false,
            });
            self.last_buy = Some(minute);
            return Some(signal);
        }
        if self.layers.is_empty() && price > self.anchor {
            // Nothing held: the anchor follows the price up.
            self.anchor = price;
        }
        None
    }

    fn sell(&mut self, minute: u64, index: usize, price: f64) -> Signal {
        let layer = &self.layers[index];
        let (buy, shares) = (layer.buy.clone(), layer.shares);
        let signal = self.signal(minute, Side::Sell, price, shares, index as u32, vec![buy.clone()]);
        self.selling.push((signal.signal_id.clone(), buy, signal.price));
        signal
    }
}

/// What a strategy reads of the vault: the step penalty, its own loss stop, and which orders
/// still hold frozen capital. The same from a snapshot in memory or its JSON over NATS.
pub struct View {
    penalty: bool,
    forced: bool,
    working: HashSet<ClientOrderId>,
}

impl View {
    pub fn of(snapshot: &Snapshot, slot: u8) -> Result<View, Box<dyn Error>> {
        let book = snapshot.books().first().ok_or("no book")?;
        Ok(View {
            penalty: book.penalty().is_active(),
            forced: book.strategy(slot).is_some_and(capvault::Strategy::is_forced_reduce),
            working: snapshot.orders().filter(|o| !o.frozen().is_zero()).map(capvault::Order::id).collect(),
        })
    }

    /// From the snapshot's one JSON schema (`RemoteClient::read`).
    pub fn of_json(snapshot: &serde_json::Value, slot: u8) -> Result<View, Box<dyn Error>> {
        let book = &snapshot["books"][0];
        let strategies = book["strategies"].as_array().ok_or("no strategies")?;
        let mine = strategies.iter().find(|s| s["slot"] == slot).ok_or("no such slot")?;
        let mut working = HashSet::new();
        for order in snapshot["orders"].as_array().ok_or("no orders")? {
            let frozen: Amount = serde_json::from_value(order["frozen"].clone())?;
            if !frozen.is_zero() {
                working.insert(serde_json::from_value(order["client_order_id"].clone())?);
            }
        }
        Ok(View {
            penalty: book["penalty"]["active"].as_bool().ok_or("no penalty")?,
            forced: mine["forced_reduce"].as_bool().ok_or("no forced_reduce")?,
            working,
        })
    }
}

/// What the session sends a strategy each minute.
#[derive(Serialize, Deserialize)]
pub struct Msg {
    /// The minute to decide.
    pub minute: u64,
    /// The vault's seq the decision reads: the strategy waits for the mirror to show it.
    pub seq: u64,
    /// The order results of the last minute.
    pub results: Vec<OrderResult>,
    /// The broker events of the last minute.
    pub events: Vec<Event>,
    /// No decision: report the totals and stop.
    pub finish: bool,
}

/// What a strategy answers.
#[derive(Serialize, Deserialize, Default)]
pub struct Reply {
    /// Realized alpha of the sells completed, for the session to record.
    pub alpha: Vec<Amount>,
    /// The floating loss to mark (every 15 minutes).
    pub loss: Option<Amount>,
    /// Totals so far.
    pub trades: u64,
    pub buys: u64,
    pub sells: u64,
    /// Sells the loss stop forced (signals written in forced-reduce).
    pub forced_sells: u64,
    pub alpha_total: Amount,
    /// At the end: the fills, for the chart (minute, price, buy).
    pub fills: Vec<(u64, f64, bool)>,
    /// This minute's signal, when it goes back in the answer (`--remote`) instead of a file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
}

/// One step of a strategy: last minute's results and events, the loss mark, then this
/// minute's decision, in the reply's `signals`. `view` is the vault at `msg.seq`.
pub fn step(grid: &mut Grid, path: &[f64], msg: &Msg, view: &View) -> Result<Reply, Box<dyn Error>> {
    for result in &msg.results {
        on_result(grid, result);
    }
    let mut reply = Reply::default();
    let last = msg.minute.saturating_sub(1);
    for event in &msg.events {
        reply.alpha.extend(on_event(grid, event, last, view)?);
    }
    // Loss marks every 15 minutes (seed 000 section 5.3), at the last minute's price.
    if msg.minute > 0 && msg.minute.is_multiple_of(15) {
        reply.loss = Some(grid.float_loss(path[last as usize]));
    }
    if msg.finish {
        reply.fills = grid.fills.iter().map(|&(m, p, side)| (m, p, side == Side::Buy)).collect();
    } else {
        reply.signals.extend(grid.decide(msg.minute, path, view.penalty, view.forced));
    }
    (reply.trades, reply.buys, reply.sells, reply.forced_sells, reply.alpha_total) =
        (grid.trades, grid.buys, grid.sells, grid.forced_sells, grid.alpha);
    Ok(reply)
}

/// A strategy process: `Msg` lines in on stdin, `Reply` lines out on stdout, the pool view from the
/// shared-memory mirror at `shm`.
pub fn child(
    label: &str,
    seed: u64,
    days: u64,
    shm: &Path,
    signal_path: &Path,
) -> Result<(), Box<dyn Error>> {
    // Ctrl-C reaches the whole process group: the parent ends the session, and this process
    // ends when the parent closes its input, not before.
    signal_hook::flag::register(signal_hook::consts::SIGINT, std::sync::Arc::default())?;
    let paths = price_paths(seed, days * MINUTES_PER_DAY);
    let index = usize::from(label != "159201");
    let mut grid = Grid::for_label(label, paths[index][0]).ok_or("unknown strategy")?;
    let reader = ShmReader::open(shm)?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let msg: Msg = serde_json::from_str(&line?)?;
        let snapshot = reader.wait_for(msg.seq, Duration::from_secs(30))?;
        let view = View::of(&snapshot, grid.slot)?;
        let mut reply = step(&mut grid, &paths[index], &msg, &view)?;
        // The seed's way between a strategy node and the executor: its signal file.
        if !reply.signals.is_empty() {
            write_signals(signal_path, &std::mem::take(&mut reply.signals))?;
        }
        writeln!(stdout, "{}", serde_json::to_string(&reply)?)?;
        stdout.flush()?;
        if msg.finish {
            break;
        }
    }
    Ok(())
}

/// A signal's result, back to its strategy.
fn on_result(grid: &mut Grid, result: &OrderResult) {
    if result.signal.as_ref().is_none_or(|s| s.code != grid.code) || result.status == ResultStatus::Placed {
        return;
    }
    if grid.pending.as_deref() == Some(&result.signal_id) {
        // A refused level is skipped: the next buy waits for a further step down.
        if let Some(layer) = grid.layers.iter().find(|l| l.buy == result.signal_id) {
            grid.anchor = layer.price;
        }
        grid.pending = None;
        grid.layers.retain(|l| l.buy != result.signal_id);
    }
    grid.selling.retain(|(id, ..)| *id != result.signal_id);
}

/// A broker event's effect on the strategy; the alpha of a completed sell is returned for the
/// session to record.
fn on_event(
    grid: &mut Grid,
    event: &Event,
    minute: u64,
    view: &View,
) -> Result<Option<Amount>, Box<dyn Error>> {
    let id_of = |text: &str| ClientOrderId::from_text(text);
    match *event {
        Event::Filled { id, value, .. } => {
            if let Some(layer) = grid.layers.iter_mut().find(|l| id_of(&l.buy) == id) {
                layer.cost = value;
                let done = !view.working.contains(&id);
                if done && !layer.filled {
                    layer.filled = true;
                    grid.pending = None;
                    grid.anchor = layer.price;
                    grid.trades += 1;
                    grid.buys += 1;
                    grid.fills.push((minute, layer.price, Side::Buy));
                }
            }
        }
        Event::Returned { id, .. } | Event::Expired { id, .. } => {
            if let Some(index) = grid.layers.iter().position(|l| id_of(&l.buy) == id) {
                let layer = &mut grid.layers[index];
                if layer.cost.is_zero() {
                    // Nothing filled: the layer never existed.
                    grid.layers.remove(index);
                    grid.pending = None;
                } else if !layer.filled {
                    layer.filled = true;
                    grid.pending = None;
                    grid.trades += 1;
                    grid.buys += 1;
                    grid.fills.push((minute, layer.price, Side::Buy));
                }
            }
        }
        Event::Released { sell, amount } => {
            let Some(at) = grid.selling.iter().position(|(text, ..)| id_of(text) == sell) else {
                return Ok(None);
            };
            let (_, buy, price) = grid.selling.remove(at);
            let index = grid.layers.iter().position(|l| l.buy == buy).ok_or("the sold layer")?;
            let layer = grid.layers.remove(index);
            // The simulated broker fills a sell at its limit: the proceeds less what the layer
            // cost (what the vault released) is the trade's alpha.
            let proceeds = price.checked_mul_int(layer.shares as i64).ok_or("proceeds")?;
            let pnl = proceeds.checked_sub(amount).ok_or("pnl")?;
            grid.alpha = grid.alpha.checked_add(pnl).ok_or("alpha")?;
            grid.anchor = price.to_f64();
            grid.trades += 1;
            grid.sells += 1;
            grid.fills.push((minute, price.to_f64(), Side::Sell));
            return Ok(Some(pnl));
        }
        Event::ReleaseRefused { .. }
        | Event::LateFill { .. }
        | Event::SellUnfinished { .. }
        | Event::FillExceedsReservation { .. } => {}
    }
    Ok(None)
}
