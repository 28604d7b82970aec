//! The latency interval log: every interval, each metric's histogram of that interval as one
//! line of an HdrHistogram interval log (format V2, compressed histograms, tagged with the
//! metric's name), readable by HdrHistogram's own tools, the `hdrhistogram` PyPI package and
//! `capvault latency`.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::runtime::{Latency, Metric, Reader};

pub(crate) struct LatencyLog {
    pub(crate) reader: Reader,
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) interval: Duration,
    pub(crate) stats: Arc<Mutex<LatencyLogStats>>,
}

impl LatencyLog {
    /// Writes one interval per `interval` until `stop`, then the last one.
    pub(crate) fn run(self, stop: &dyn Fn() -> bool) {
        let LatencyLog { reader, path, mut file, interval, stats } = self;
        // Unbuffered: each interval is in the file as soon as it is written (a few writes a
        // second), for a reader following the log.
        let started = SystemTime::now();
        let clock = Instant::now();
        let mut serializer = V2DeflateSerializer::new();
        let mut builder = IntervalLogWriterBuilder::new();
        builder
            .add_comment("capvault latency: times in nanoseconds; batch and depth in commands")
            .with_start_time(started)
            .with_base_time(started);
        let mut log = match builder.begin_log_with(&mut file, &mut serializer) {
            Ok(log) => log,
            Err(error) => {
                note(&stats, Err(format!("{}: {error}", path.display())));
                return;
            }
        };
        let mut previous: Option<Latency> = None;
        let mut since = Duration::ZERO;
        loop {
            let finishing = stop() || reader.stopped().is_some();
            let due = since + interval;
            if !finishing && clock.elapsed() < due {
                // Woken early by the stop (`Services::stop` unparks the thread), or on time.
                std::thread::park_timeout(due.saturating_sub(clock.elapsed()));
                continue;
            }
            let now = clock.elapsed();
            let total = reader.latency();
            let delta = previous.as_ref().map_or_else(|| total.clone(), |previous| total.since(previous));
            let mut result = Ok(());
            for metric in Metric::ALL {
                // A metric never recorded (the journal without a data directory) is left out.
                if total.histogram(metric).is_empty() {
                    continue;
                }
                let tag = Tag::new(metric.name());
                if let Err(error) =
                    log.write_histogram(delta.histogram(metric), since, now.saturating_sub(since), tag)
                {
                    result = Err(format!("{}: {error}", path.display()));
                    break;
                }
            }
            note(&stats, result);
            previous = Some(total);
            since = now;
            if finishing {
                break;
            }
        }
    }
}

/// What the latency log has written, from [`Reader::latency_log_stats`](crate::Reader::latency_log_stats).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct LatencyLogStats {
    /// Intervals written.
    pub intervals: u64,
    /// Intervals that could not be written (the next one is tried all the same).
    pub failures: u64,
    /// The last failure, if the last interval failed.
    pub last_error: Option<String>,
}

fn note(stats: &Mutex<LatencyLogStats>, result: Result<(), String>) {
    let mut stats = stats.lock().unwrap_or_else(PoisonError::into_inner);
    match result {
        Ok(()) => {
            stats.intervals += 1;
            stats.last_error = None;
        }
        Err(error) => {
            stats.failures += 1;
            stats.last_error = Some(error);
        }
    }
}

/// One interval of a latency log: when it started and how long it lasted (seconds since the
/// log's start), and its histogram.
#[derive(Clone, Debug)]
pub struct LoggedInterval {
    /// Seconds from the log's start to the interval's start.
    pub start: f64,
    /// The interval's length in seconds.
    pub duration: f64,
    /// What was recorded in it.
    pub histogram: hdrhistogram::Histogram<u64>,
}

/// A latency log read back: per tag (a [`Metric`]'s name, or whatever tags another writer
/// used; untagged histograms under `""`), its intervals in order.
pub type LoggedMetrics = std::collections::BTreeMap<String, Vec<LoggedInterval>>;

/// Why a latency log could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum LatencyLogError {
    /// A line that is not an interval log line.
    Syntax {
        /// How many intervals were read before it.
        after_intervals: usize,
    },
    /// An interval's histogram is not valid base64 or not a V2 histogram.
    Histogram {
        /// The interval's tag.
        tag: String,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for LatencyLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LatencyLogError::Syntax { after_intervals } => {
                write!(f, "not an HdrHistogram interval log (bad line after {after_intervals} intervals)")
            }
            LatencyLogError::Histogram { tag, reason } => write!(f, "histogram tagged {tag:?}: {reason}"),
        }
    }
}

impl std::error::Error for LatencyLogError {}

/// Reads an HdrHistogram interval log (the one [`Builder::latency_log`](crate::Builder::latency_log)
/// writes, or any V2 log).
///
/// # Errors
/// [`LatencyLogError`] for a line that does not parse or a histogram that does not decode.
pub fn read_latency_log(bytes: &[u8]) -> Result<LoggedMetrics, LatencyLogError> {
    use base64::Engine;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut metrics = LoggedMetrics::new();
    let mut deserializer = hdrhistogram::serialization::Deserializer::new();
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(bytes) {
        let Ok(entry) = entry else { return Err(LatencyLogError::Syntax { after_intervals: intervals }) };
        let LogEntry::Interval(interval) = entry else { continue };
        let tag = interval.tag().map(|tag| tag.as_str().to_owned()).unwrap_or_default();
        let bad = |reason: String| LatencyLogError::Histogram { tag: tag.clone(), reason };
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|error| bad(error.to_string()))?;
        let histogram =
            deserializer.deserialize(&mut encoded.as_slice()).map_err(|error| bad(format!("{error:?}")))?;
        metrics.entry(tag.clone()).or_default().push(LoggedInterval {
            start: interval.start_timestamp().as_secs_f64(),
            duration: interval.duration().as_secs_f64(),
            histogram,
        });
        intervals += 1;
    }
    Ok(metrics)
}
