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

/// The Okabe-Ito palette: eight colours told apart with every common colour-vision deficiency
/// (black first). Plots pair them with shapes or dashes where a series' meaning matters.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// A number for an axis label: thousands separated (`12,500`), small values with at most three
/// significant digits (`0.25`).
#[must_use]
pub fn axis_number(value: f64) -> String {
    if !value.is_finite() {
        return String::new();
    }
    if value.abs() >= 1_000.0 {
        let whole = value.round() as i64;
        let digits = whole.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        return if whole < 0 { format!("-{grouped}") } else { grouped };
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

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

/// What one sample of a row is (`Metric::sample`), for a metric's name; `-` for a foreign tag.
#[must_use]
pub fn sample_of(name: &str) -> &'static str {
    crate::runtime::Metric::from_name(name).map_or("-", crate::runtime::Metric::sample)
}

/// One table row per histogram: how many samples and what one is (a command, a batch, a
/// mirror write, commands per batch), then the percentiles from p50 to max.
#[must_use]
pub fn percentile_table(rows: &[(String, bool, &Histogram<u64>)]) -> String {
    let mut out = format!("{:<12} {:>10} {:<27}", "metric", "samples", "one sample is");
    for (_, name) in TABLE_QUANTILES {
        out += &format!(" {name:>10}");
    }
    out.push('\n');
    for (name, is_time, histogram) in rows {
        out += &format!("{name:<12} {:>10} {:<27}", histogram.len(), sample_of(name));
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
    // The axis spans the positive values: a zero sample (a clock read twice within its
    // resolution) is drawn on the axis's floor instead of pulling it down to nothing.
    let (y_min, y_max) = curves
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.1))
        .filter(|y| *y > 0.0)
        .fold((f64::MAX, f64::MIN), |(low, high), y| (low.min(y), high.max(y)));
    let (y_min, y_max) = if y_min > y_max { (0.01, 1.0) } else { (y_min / 1.5, y_max * 1.5) };
    let curves: Vec<(String, Vec<(f64, f64)>)> = curves
        .into_iter()
        .map(|(name, points)| (name, points.into_iter().map(|(x, y)| (x, y.max(y_min))).collect()))
        .collect();
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
        .x_desc("percentile (of samples at or below the value)")
        .y_desc("latency (µs, log scale)")
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| axis_number(*y))
        .draw()?;
    for (index, (name, points)) in curves.into_iter().enumerate() {
        let color = PALETTE[index % PALETTE.len()];
        let label = format!("{name} ({})", sample_of(&name));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_group_thousands_and_trim_small_values() {
        assert_eq!(axis_number(12_500.0), "12,500");
        assert_eq!(axis_number(1_234_567.4), "1,234,567");
        assert_eq!(axis_number(-3_000.0), "-3,000");
        assert_eq!(axis_number(0.25), "0.25");
        assert_eq!(axis_number(100.0), "100");
        assert_eq!(axis_number(0.0001), "0");
    }

    #[test]
    fn a_zero_sample_does_not_pull_the_log_axis_down() {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for value in [0, 2_000, 2_500, 40_000] {
            histogram.record(value).unwrap();
        }
        let path = std::env::temp_dir().join(format!("capvault-zero-axis-{}.svg", std::process::id()));
        plot_percentiles(&path, "zeros", &[("queue".to_owned(), &histogram)]).unwrap();
        let drawn = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(!drawn.contains(">0.001<") && !drawn.contains(">0.01<"), "{drawn}");
        assert!(drawn.contains("queue (time per command)"), "{drawn}");
    }
}
