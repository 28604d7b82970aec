//! `capvault watch`'s terminal dashboard (ratatui): per book a utilisation gauge with the
//! first-layer limit and the penalty band marked, the penalty state, each strategy's frozen and
//! used against its cap, forced reduce, the alpha race, the writer's liveness and the latency
//! summary. Drawn from a snapshot, so it renders the same from a shared-memory mirror or a
//! test.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};
use ratatui::Frame;

use crate::ledger::Book;
use crate::mirror::shm::{WriterState, WriterStatus};
use crate::runtime::Snapshot;
use crate::runtime::{Metric, Summary};

/// What one frame shows.
#[derive(Debug)]
pub struct View<'a> {
    /// Where the figures come from (the shared-memory file).
    pub source: String,
    /// The figures.
    pub snapshot: &'a Snapshot,
    /// The writer's state.
    pub writer: &'a WriterStatus,
    /// The latency summary (empty: not available).
    pub latency: &'a [(Metric, Summary)],
}

/// Draws one frame over the whole terminal.
pub fn draw(frame: &mut Frame, view: &View) {
    let area = frame.area();
    let books = view.snapshot.books();
    let latency_rows = view.latency.iter().filter(|(_, s)| s.count > 0).count();
    let mut constraints = vec![Constraint::Length(2)];
    for book in books {
        // Title, gauge, header, one row per strategy, alpha race, borders.
        constraints.push(Constraint::Length(book.strategies().count() as u16 + 6));
    }
    constraints.push(Constraint::Length(latency_rows as u16 + 3));
    constraints.push(Constraint::Min(0));
    let areas = Layout::vertical(constraints).split(area);
    frame.render_widget(header(view), areas[0]);
    for (index, book) in books.iter().enumerate() {
        draw_book(frame, book, areas[index + 1]);
    }
    frame.render_widget(latency(view.latency), areas[books.len() + 1]);
    let help = Paragraph::new(Line::from(vec![
        Span::styled("q", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" quits"),
    ]));
    frame.render_widget(help, areas[books.len() + 2]);
}

fn header(view: &View) -> Paragraph<'static> {
    let writer = view.writer;
    let (state, color) = match writer.state {
        WriterState::Alive => ("ALIVE", Color::Green),
        WriterState::Stale => ("STALE: no heartbeat, hung?", Color::Yellow),
        WriterState::Dead => ("DEAD: figures are its last", Color::Red),
        WriterState::Closed => ("CLOSED: figures are final", Color::Blue),
        WriterState::Failed => ("FAILED: figures are its last", Color::Red),
        WriterState::Replaced => ("REPLACED: reopening", Color::Yellow),
    };
    let stats = view.snapshot.stats();
    Paragraph::new(vec![
        Line::from(vec![
            Span::styled("capvault ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!("{}  writer pid {} ", view.source, writer.pid)),
            Span::styled(state, Style::new().fg(color).add_modifier(Modifier::BOLD)),
            Span::raw(format!("  heartbeat {:.1} s ago", writer.heartbeat_age.as_secs_f64())),
        ]),
        Line::from(format!(
            "seq {}  accepted {}  rejected {}  batches {}  orders holding capital {}",
            view.snapshot.seq(),
            stats.accepted,
            stats.rejected,
            stats.batches,
            view.snapshot.orders().len()
        )),
    ])
}

fn draw_book(frame: &mut Frame, book: &Book, area: Rect) {
    let view = book.view();
    let spec = book.spec();
    let penalty = if book.penalty().is_active() {
        Span::styled(
            format!("PENALTY ON (buy steps x{})", spec.penalty.multiplier),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled("penalty off", Style::new().fg(Color::Green))
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" {}/{} ", book.venue(), book.currency()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "total {}  pool {}  credit {}  ",
            book.total().grouped(2),
            book.pool().grouped(2),
            book.credit_limit().grouped(2)
        )),
        penalty,
        Span::raw(" "),
    ]);
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let strategies = book.strategies().count() as u16;
    let [gauge_area, legend_area, table_area, race_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(strategies + 1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let utilisation = view.utilisation().unwrap_or(0.0);
    let (first_layer, leave, enter) =
        (1.0 - spec.reserve_ratio.to_f64(), spec.penalty.leave.to_f64(), spec.penalty.enter.to_f64());
    let marks = [(first_layer, 'L', Color::Cyan), (leave, '<', Color::Yellow), (enter, '>', Color::Red)];
    let legend = Line::from(vec![
        Span::styled(" L", Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
        Span::raw(format!(" first layers stop at {:.0}%  ", first_layer * 100.0)),
        Span::styled("<", Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)),
        Span::raw(format!(" penalty off below {:.0}%  ", leave * 100.0)),
        Span::styled(">", Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)),
        Span::raw(format!(" penalty on above {:.0}%", enter * 100.0)),
    ]);
    frame.render_widget(Paragraph::new(legend), legend_area);
    let label = format!(
        " {:.1}% committed {}  first layer up to {}",
        utilisation * 100.0,
        view.committed().grouped(2),
        view.first_layer_limit().grouped(2)
    );
    frame.render_widget(Paragraph::new(gauge(utilisation, &marks, gauge_area.width, &label)), gauge_area);
    frame.render_widget(strategy_table(book, table_area.width), table_area);
    let mut race = vec![Span::styled("alpha race ", Style::new().add_modifier(Modifier::BOLD))];
    let mut ranked: Vec<_> = book.strategies().filter(|(_, s)| s.config().label.is_some()).collect();
    ranked.sort_by_key(|(_, s)| std::cmp::Reverse(s.acc_alpha()));
    for (rank, (_, strategy)) in ranked.iter().enumerate() {
        let label = strategy.config().label.map(|l| l.to_string()).unwrap_or_default();
        let style =
            if rank == 0 { Style::new().fg(Color::Green).add_modifier(Modifier::BOLD) } else { Style::new() };
        race.push(Span::styled(
            format!("{}. {label} {}  ", rank + 1, strategy.acc_alpha().grouped(2)),
            style,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(race)), race_area);
}

/// A one-line gauge `width` wide: the filled part, the marks (first-layer limit, the penalty's
/// leave and enter levels) at their places, then the label if there is room.
fn gauge(utilisation: f64, marks: &[(f64, char, Color)], width: u16, label: &str) -> Line<'static> {
    let label_room = label.chars().count() as u16 + 2;
    let bar = if width > label_room + 10 { width - label_room } else { width.saturating_sub(2) }.max(1);
    let cells = usize::from(bar);
    let filled = ((utilisation.clamp(0.0, 1.0) * cells as f64).round() as usize).min(cells);
    let fill_color = marks
        .iter()
        .rfind(|(level, _, _)| utilisation >= *level)
        .map_or(Color::Green, |(_, _, color)| *color);
    let mut spans = vec![Span::raw("[")];
    for cell in 0..cells {
        let mark = marks
            .iter()
            .find(|(level, _, _)| ((level * cells as f64).round() as usize).min(cells - 1) == cell);
        let span = match (mark, cell < filled) {
            (Some((_, symbol, color)), _) => {
                Span::styled(symbol.to_string(), Style::new().fg(*color).add_modifier(Modifier::BOLD))
            }
            (None, true) => Span::styled("█", Style::new().fg(fill_color)),
            (None, false) => Span::styled("·", Style::new().fg(Color::DarkGray)),
        };
        spans.push(span);
    }
    spans.push(Span::raw("]"));
    if width > label_room + 10 {
        spans.push(Span::raw(label.to_owned()));
    }
    Line::from(spans)
}

fn strategy_table(book: &Book, width: u16) -> Table<'static> {
    let wide = width >= 100;
    let mut header = vec!["slot", "label", "frozen", "used", "cap use"];
    if wide {
        header.extend(["cap", "acc_alpha", "orders"]);
    }
    header.push("state");
    let rows: Vec<Row> = book
        .strategies()
        .map(|(slot, s)| {
            let config = s.config();
            let label = config.label.map_or_else(|| "-".to_owned(), |l| l.to_string());
            let cap_use = match config.cap {
                Some(cap) if cap.is_positive() => {
                    let share = s.committed().raw() as f64 / cap.raw() as f64;
                    let cells = 10;
                    let filled = ((share.clamp(0.0, 1.0) * f64::from(cells)).round() as usize).min(10);
                    format!("{}{} {:>3.0}%", "█".repeat(filled), "·".repeat(10 - filled), share * 100.0)
                }
                _ => "no cap".to_owned(),
            };
            let (state, style) = if s.is_forced_reduce() {
                (
                    format!("FORCED REDUCE {}", s.float_loss().grouped(2)),
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                )
            } else {
                (String::new(), Style::new())
            };
            let mut cells = vec![
                slot.to_string(),
                label,
                s.frozen().grouped(2).to_string(),
                s.used().grouped(2).to_string(),
                cap_use,
            ];
            if wide {
                cells.push(config.cap.map_or_else(|| "-".to_owned(), |c| c.grouped(2).to_string()));
                cells.push(s.acc_alpha().grouped(2).to_string());
                cells.push(s.orders_live().to_string());
            }
            cells.push(state);
            Row::new(cells).style(style)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(10),
        Constraint::Length(13),
        Constraint::Length(13),
        Constraint::Length(15),
    ];
    if wide {
        widths.extend([Constraint::Length(13), Constraint::Length(12), Constraint::Length(6)]);
    }
    widths.push(Constraint::Min(10));
    Table::new(rows, widths).header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
}

fn latency(summaries: &[(Metric, Summary)]) -> Table<'static> {
    let human = |value, metric: Metric| super::report::human(value, metric.is_time());
    let rows: Vec<Row> = summaries
        .iter()
        .filter(|(_, s)| s.count > 0)
        .map(|(metric, s)| {
            Row::new(vec![
                metric.name().to_owned(),
                s.count.to_string(),
                human(s.p50, *metric),
                human(s.p99, *metric),
                human(s.p999, *metric),
                human(s.max, *metric),
            ])
        })
        .collect();
    let title = if rows.is_empty() { " latency: nothing recorded yet " } else { " latency since start " };
    Table::new(
        rows,
        [
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(11),
        ],
    )
    .header(
        Row::new(vec!["metric", "count", "p50", "p99", "p99.9", "max"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::default().borders(Borders::ALL).title(title))
}

/// The frame as text, one line per row (colours dropped): for tests and for pictures.
#[must_use]
pub fn text_of(buffer: &ratatui::buffer::Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        for x in 0..area.width {
            out += buffer[(x, y)].symbol();
        }
        out.push('\n');
    }
    out
}

/// The frame as an SVG picture: each cell's symbol in its colours, in a monospace font.
#[must_use]
pub fn svg_of(buffer: &ratatui::buffer::Buffer) -> String {
    let (cell_w, cell_h) = (8.4_f64, 17.0_f64);
    let area = buffer.area;
    let (width, height) = (f64::from(area.width) * cell_w + 16.0, f64::from(area.height) * cell_h + 16.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"#1e1e1e\"/>\n"
    );
    for y in 0..area.height {
        for x in 0..area.width {
            let cell = &buffer[(x, y)];
            let symbol = cell.symbol();
            if symbol.trim().is_empty() {
                continue;
            }
            let escaped = symbol.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            let bold = if cell.modifier.contains(Modifier::BOLD) { " font-weight=\"bold\"" } else { "" };
            out += &format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{}\"{bold}>{escaped}</text>\n",
                8.0 + f64::from(x) * cell_w,
                8.0 + f64::from(y + 1) * cell_h - 4.0,
                css(cell.fg)
            );
        }
    }
    out += "</svg>\n";
    out
}

fn css(color: Color) -> &'static str {
    match color {
        Color::Red => "#f14c4c",
        Color::Green => "#23d18b",
        Color::Yellow => "#f5f543",
        Color::Blue => "#3b8eea",
        Color::Cyan => "#29b8db",
        Color::DarkGray => "#666666",
        _ => "#e5e5e5",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{BookId, Command, LedgerConfig, Side};
    use crate::vault::Builder;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn snapshot() -> std::sync::Arc<Snapshot> {
        let config = LedgerConfig::from_json(
            r#"{ "books": [ { "venue": "SSE", "currency": "CNY", "slot_count": 4, "balance": 300000,
                "strategies": [ { "slot": 2, "label": "159201", "cap": 200000, "loss_limit": 1000 },
                                { "slot": 3, "label": "512890", "cap": 200000 } ] } ] }"#,
        )
        .unwrap();
        let mut handle = Builder::from_config(&config).unwrap().spawn().unwrap();
        let book = BookId::new(0);
        let reserve = |id: &str, slot, amount: &str| Command::Reserve {
            id: id.parse().unwrap(),
            book,
            slot,
            side: Side::Buy,
            layer: 1,
            amount: amount.parse().unwrap(),
        };
        handle.submit(reserve("1790000000000000001", 2, "150000")).unwrap();
        handle.submit(reserve("1790000000000000002", 3, "130000")).unwrap();
        handle.submit(Command::RecordAlpha { book, slot: 3, amount: "2100".parse().unwrap() }).unwrap();
        handle.submit(Command::MarkLoss { book, slot: 2, loss: "1500".parse().unwrap() }).unwrap();
        handle.shutdown().unwrap()
    }

    fn render(width: u16, height: u16, snapshot: &Snapshot) -> ratatui::buffer::Buffer {
        let writer = WriterStatus {
            state: WriterState::Alive,
            pid: 4242,
            heartbeat_age: std::time::Duration::from_millis(100),
        };
        let latency = [
            (Metric::Queue, Summary { count: 7, p50: 180, p99: 950, p999: 1_900, max: 25_000 }),
            (Metric::Journal, Summary::default()),
        ];
        let view = View { source: "/dev/shm/capvault".into(), snapshot, writer: &writer, latency: &latency };
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, &view)).unwrap();
        terminal.backend().buffer().clone()
    }

    #[test]
    fn a_frame_shows_the_gauge_the_penalty_the_caps_the_race_and_the_latency() {
        let snapshot = snapshot();
        let buffer = render(120, 24, &snapshot);
        let text = text_of(&buffer);
        eprintln!("{text}");
        // 280,000 of 300,000 committed: above the 90% entry, so the penalty is on.
        assert!(text.contains("93.3% committed 280,000.00"), "{text}");
        assert!(text.contains("PENALTY ON"), "{text}");
        assert!(text.contains("first layer up to 255,000.00"), "{text}");
        assert!(text.contains("ALIVE"), "{text}");
        assert!(text.contains("159201") && text.contains("512890"), "{text}");
        assert!(text.contains(" 75%") && text.contains(" 65%"), "each strategy's share of its cap: {text}");
        assert!(text.contains("FORCED REDUCE"), "{text}");
        assert!(text.contains("1. 512890 2,100.00"), "the race leader first: {text}");
        assert!(text.contains("queue") && text.contains("180 ns") && text.contains("25.00 µs"), "{text}");
        assert!(!text.contains("journal"), "a metric with nothing recorded is not listed: {text}");
        assert!(text.contains("q quits"), "{text}");
        // The marks sit inside the gauge: the first layers' limit and the penalty's entry (the
        // leave level, 85%, shares the first layers' cell); the legend says what they are.
        let gauge_line = text.lines().find(|line| line.contains("committed")).unwrap();
        assert!(gauge_line.contains('L') && gauge_line.contains('>'), "{gauge_line}");
        assert!(
            text.contains("L first layers stop at 85%  < penalty off below 85%  > penalty on above 90%"),
            "{text}"
        );
        assert!(text.contains("FORCED REDUCE 1,500.00"), "{text}");
        // The penalty state is drawn in red.
        let penalty_cell = (0..buffer.area.width)
            .flat_map(|x| (0..buffer.area.height).map(move |y| (x, y)))
            .find(|&(x, y)| buffer[(x, y)].symbol() == "P" && buffer[(x + 1, y)].symbol() == "E")
            .unwrap();
        assert_eq!(buffer[penalty_cell].fg, Color::Red);
    }

    #[test]
    fn a_narrow_terminal_drops_columns_not_rows() {
        let snapshot = snapshot();
        let text = text_of(&render(70, 24, &snapshot));
        assert!(text.contains("159201") && text.contains("FORCED"), "{text}");
        assert!(!text.contains("acc_alpha"), "the wide columns go first: {text}");
        for line in text.lines() {
            assert_eq!(line.chars().count(), 70);
        }
    }
}
