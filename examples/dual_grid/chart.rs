//! The session's SVG chart (plotters).

use std::error::Error;
use std::path::Path;

use capvault::tools::report::{axis_number, PALETTE};
use plotters::prelude::*;

use crate::strategy::MINUTES_PER_DAY;

/// A session minute as the trading day and clock time: `d2 13:30` (240 minutes a day,
/// 9:30-11:30 and 13:00-15:00).
fn session_time(minute: f64) -> String {
    let minute = minute.max(0.0) as u64;
    let in_day = minute % MINUTES_PER_DAY;
    let clock = if in_day < 120 { 570 + in_day } else { 780 + in_day - 120 };
    format!("d{} {:02}:{:02}", minute / MINUTES_PER_DAY + 1, clock / 60, clock % 60)
}

/// One minute of the session: utilisation and what each strategy has committed.
pub struct Point {
    pub minute: u64,
    pub utilisation: f64,
    pub committed: [f64; 2],
}

/// Colour-blind-safe colours (Okabe-Ito): the price and utilisation lines, buys, sells, the
/// penalty band. Buys and sells are told apart by shape too.
const LINE: RGBColor = PALETTE[5];
const BUY: RGBColor = PALETTE[3];
const SELL: RGBColor = PALETTE[6];
const BAND: RGBColor = PALETTE[1];

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The chart: each price with its fills, the pool's utilisation against the 85-90% band and the
/// 85%-committed first-layer line, and what each strategy has committed.
pub fn draw(
    path: &Path,
    paths: &[Vec<f64>; 2],
    fills: &[Vec<(u64, f64, bool)>; 2],
    hours: &[Point],
) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((4, 1));
    let minutes = paths[0].len() as f64;
    for (index, code) in ["159201.SZ", "512890.SH"].iter().enumerate() {
        price_panel(&panels[index], code, &paths[index], &fills[index], minutes)?;
    }
    utilisation_panel(&panels[2], hours, minutes)?;
    committed_panel(&panels[3], hours, minutes)?;
    root.present()?;
    Ok(())
}

/// Two x labels a day, at most twelve.
fn x_labels(minutes: f64) -> usize {
    ((minutes / MINUTES_PER_DAY as f64) * 2.0).clamp(2.0, 12.0) as usize
}

fn price_panel(
    area: &Area<'_>,
    code: &str,
    path: &[f64],
    fills: &[(u64, f64, bool)],
    minutes: f64,
) -> Result<(), Box<dyn Error>> {
    let (lo, hi) = path.iter().fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{code} price (CNY): buys ▲ (green), sells ▼ (vermillion)"), ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..minutes, (lo * 0.998)..(hi * 1.002))?;
    chart
        .configure_mesh()
        .x_labels(x_labels(minutes))
        .x_label_formatter(&|m| session_time(*m))
        .y_desc("CNY")
        .y_label_formatter(&|p| format!("{p:.3}"))
        .draw()?;
    chart.draw_series(LineSeries::new(path.iter().enumerate().map(|(m, &p)| (m as f64, p)), &LINE))?;
    chart.draw_series(
        fills
            .iter()
            .filter(|fill| fill.2)
            .map(|&(m, p, _)| TriangleMarker::new((m as f64, p), 5, BUY.filled())),
    )?;
    chart.draw_series(fills.iter().filter(|fill| !fill.2).map(|&(m, p, _)| {
        EmptyElement::at((m as f64, p)) + Polygon::new(vec![(-5, -4), (5, -4), (0, 5)], SELL.filled())
    }))?;
    Ok(())
}

fn utilisation_panel(area: &Area<'_>, hours: &[Point], minutes: f64) -> Result<(), Box<dyn Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(
            "pool utilisation (%): penalty band 85-90%, first layers stop at 85% committed",
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..minutes, 0.0..100.0)?;
    chart
        .configure_mesh()
        .x_labels(x_labels(minutes))
        .x_label_formatter(&|m| session_time(*m))
        .y_desc("% of the pool")
        .draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 85.0), (minutes, 90.0)],
        BAND.mix(0.35).filled(),
    )))?;
    chart.draw_series(LineSeries::new([(0.0, 85.0), (minutes, 85.0)], BLACK.stroke_width(1)))?;
    chart.draw_series(LineSeries::new(
        hours.iter().map(|h| (h.minute as f64, h.utilisation * 100.0)),
        LINE.stroke_width(2),
    ))?;
    Ok(())
}

fn committed_panel(area: &Area<'_>, hours: &[Point], minutes: f64) -> Result<(), Box<dyn Error>> {
    let top = hours.iter().map(|h| h.committed[0].max(h.committed[1])).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("committed per strategy (CNY): 159201 solid blue, 512890 dashed orange", ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..minutes, 0.0..top * 1.1)?;
    chart
        .configure_mesh()
        .x_labels(x_labels(minutes))
        .x_label_formatter(&|m| session_time(*m))
        .y_desc("CNY")
        .y_label_formatter(&|y| axis_number(*y))
        .draw()?;
    chart.draw_series(LineSeries::new(
        hours.iter().map(|h| (h.minute as f64, h.committed[0])),
        LINE.stroke_width(2),
    ))?;
    chart.draw_series(DashedLineSeries::new(
        hours.iter().map(|h| (h.minute as f64, h.committed[1])),
        8,
        5,
        PALETTE[1].stroke_width(2),
    ))?;
    Ok(())
}
