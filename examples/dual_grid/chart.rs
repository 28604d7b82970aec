//! The session's SVG chart (plotters).

use std::error::Error;
use std::path::Path;

/// One minute of the session: utilisation and what each strategy has committed.
pub struct Point {
    pub minute: u64,
    pub utilisation: f64,
    pub committed: [f64; 2],
}

/// The chart: each price with its fills, the pool's utilisation against the 85-90% band and the
/// 85%-committed first-layer line, and what each strategy has committed.
pub fn draw(
    path: &Path,
    paths: &[Vec<f64>; 2],
    fills: &[Vec<(u64, f64, bool)>; 2],
    hours: &[Point],
) -> Result<(), Box<dyn Error>> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 1000)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((4, 1));
    let minutes = paths[0].len() as f64;
    for (index, code) in ["159201.SZ", "512890.SH"].iter().enumerate() {
        let (lo, hi) = paths[index].iter().fold((f64::MAX, f64::MIN), |(a, b), &p| (a.min(p), b.max(p)));
        let mut chart = ChartBuilder::on(&panels[index])
            .caption(format!("{code} price, buys (green) and sells (red)"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..minutes, (lo * 0.998)..(hi * 1.002))?;
        chart.configure_mesh().x_desc("minute").draw()?;
        chart.draw_series(LineSeries::new(
            paths[index].iter().enumerate().map(|(m, &p)| (m as f64, p)),
            &BLUE,
        ))?;
        chart.draw_series(fills[index].iter().map(|&(m, p, buy)| {
            let color = if buy { GREEN } else { RED };
            Circle::new((m as f64, p), 3, color.filled())
        }))?;
    }
    let mut chart = ChartBuilder::on(&panels[2])
        .caption(
            "pool utilisation (%): penalty band 85-90%, first layers stop at 85% committed",
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..minutes, 0.0..100.0)?;
    chart.configure_mesh().draw()?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(0.0, 85.0), (minutes, 90.0)],
        RGBColor(255, 200, 120).mix(0.4).filled(),
    )))?;
    chart.draw_series(LineSeries::new([(0.0, 85.0), (minutes, 85.0)], BLACK.stroke_width(1)))?;
    chart.draw_series(LineSeries::new(
        hours.iter().map(|h| (h.minute as f64, h.utilisation * 100.0)),
        &MAGENTA,
    ))?;
    let top = hours.iter().map(|h| h.committed[0].max(h.committed[1])).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(&panels[3])
        .caption("committed per strategy (CNY): 159201 blue, 512890 red", ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..minutes, 0.0..top * 1.1)?;
    chart.configure_mesh().draw()?;
    chart.draw_series(LineSeries::new(hours.iter().map(|h| (h.minute as f64, h.committed[0])), &BLUE))?;
    chart.draw_series(LineSeries::new(hours.iter().map(|h| (h.minute as f64, h.committed[1])), &RED))?;
    root.present()?;
    Ok(())
}
