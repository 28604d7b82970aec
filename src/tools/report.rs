//! Latency reports: percentile tables, the classic `.hgrm` percentile distribution, and
//! percentile plots drawn as HdrHistogram's plotter draws them (x: `1/(1-q)` on a log scale).

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// The percentiles a table lists.
const TABLE_QUANTILES: [(f64, &str); 7] = [
    (0.5, "p50"),
    (0.9, "p90"),
    (0.99, "p99"),
    (0.999, "p99.9"),
    (0.9999, "p99.99"),
    (0.99999, "p99.999"),
    (1.0, "max"),
];

/// A value for people: nanoseconds as ns, µs, ms or s; counts as they are.
#[must_use]
pub fn human(value: u64, is_time: bool) -> String {
    if !is_time {
        return value.to_string();
    }
    let v = value as f64;
    match value {
        0..1_000 => format!("{value} ns"),
        1_000..1_000_000 => format!("{:.2} µs", v / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", v / 1e6),
        _ => format!("{:.2} s", v / 1e9),
    }
}

/// One table row per histogram: count, then the percentiles from p50 to max.
#[must_use]
pub fn percentile_table(rows: &[(String, bool, &Histogram<u64>)]) -> String {
    let mut out = format!("{:<12} {:>10}", "metric", "count");
    for (_, name) in TABLE_QUANTILES {
        out += &format!(" {name:>10}");
    }
    out.push('\n');
    for (name, is_time, histogram) in rows {
        out += &format!("{name:<12} {:>10}", histogram.len());
        for (quantile, _) in TABLE_QUANTILES {
            let value = if histogram.is_empty() { 0 } else { histogram.value_at_quantile(quantile) };
            out += &format!(" {:>10}", human(value, *is_time));
        }
        out.push('\n');
    }
    out
}

/// HdrHistogram's percentile distribution text (`outputPercentileDistribution`, five steps per
/// half distance to 100%), values divided by `scale` (1000: nanoseconds shown as microseconds),
/// which HdrHistogram's plotter and most percentile tools read.
#[must_use]
pub fn hgrm(histogram: &Histogram<u64>, scale: f64) -> String {
    let mut out =
        format!("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    if histogram.is_empty() {
        return out;
    }
    let mut total = 0;
    for step in histogram.iter_quantiles(5) {
        let quantile = step.quantile_iterated_to();
        let value = histogram.highest_equivalent(step.value_iterated_to()) as f64 / scale;
        total += step.count_since_last_iteration();
        if quantile < 1.0 {
            out += &format!("{value:>12.3} {quantile:>14.12} {total:>10} {:>14.2}\n", 1.0 / (1.0 - quantile));
        } else {
            out += &format!("{value:>12.3} {quantile:>14.12} {:>10}\n", histogram.len());
        }
    }
    out += &format!(
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n",
        histogram.mean() / scale,
        histogram.stdev() / scale
    );
    out += &format!(
        "#[Max     = {:>12.3}, Total count    = {:>12}]\n",
        histogram.max() as f64 / scale,
        histogram.len()
    );
    out += &format!(
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]\n",
        histogram.buckets(),
        histogram.distinct_values()
    );
    out
}

/// Draws each histogram's percentile curve into an SVG at `path`: x is `1/(1-q)` on a log
/// scale (labelled 0%, 90%, 99%, 99.9%, ... as HdrHistogram plots are), y the value in
/// microseconds on a log scale (stages differ by orders of magnitude).
///
/// # Errors
/// The drawing error (the file could not be written).
pub fn plot_percentiles(
    path: &Path,
    title: &str,
    series: &[(String, &Histogram<u64>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, histogram)| !histogram.is_empty())
        .map(|(name, histogram)| (name.clone(), curve(histogram)))
        .collect();
    // x is log10(1/(1-q)) on a linear axis, labelled at whole decades: 0%, 90%, 99%, 99.9%...
    let x_max =
        curves.iter().flat_map(|(_, points)| points.iter().map(|p| p.0)).fold(1.0_f64, f64::max).ceil();
    let (y_min, y_max) = curves
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .fold((f64::MAX, f64::MIN), |(low, high), y| (low.min(y), high.max(y)));
    let (y_min, y_max) = if y_min > y_max { (0.01, 1.0) } else { (y_min.max(0.001) / 1.5, y_max * 1.5) };
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()?;
    for (index, (name, points)) in curves.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}

/// `(1/(1-q), value in µs)` for the histogram's percentile steps.
fn curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    histogram
        .iter_quantiles(5)
        .map(|step| step.quantile_iterated_to())
        .filter(|quantile| *quantile < 1.0)
        .map(|quantile| {
            ((1.0 / (1.0 - quantile)).log10(), histogram.value_at_quantile(quantile) as f64 / 1e3)
        })
        .collect()
}

/// The percentile at `x = log10(1/(1-q))`: 0 is 0%, 1 is 90%, 2 is 99%, 3 is 99.9%.
fn percentile_label(x: f64) -> String {
    let percent = (1.0 - 10_f64.powf(-x)) * 100.0;
    let decimals = (x - 2.0).ceil().max(0.0) as usize;
    format!("{percent:.decimals$}%")
}
