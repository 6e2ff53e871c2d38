//! `GET /metrics`: what the server has done and is doing, in the Prometheus/OpenMetrics
//! text format (`prometheus-client`).
//!
//! Every label takes a bounded set of values: dataset names (the config's, or the tables
//! discovery offers), formats, outcomes, error codes, compressions. Never a parameter
//! value, a path or any other text a client chose.
//!
//! Query cancellations are counted where they happen, by the connection guard of whatever
//! export was abandoned ([`guard::cancel_counts`], and a SQLite export's interrupt,
//! [`sqlite::interrupt_count`]), so they are the process's: a client gone, a download
//! failed mid-stream, a download cut off at shutdown.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::format::Compression;
use crate::sink::DownloadEnd;
use crate::source::PoolStatus;
use crate::source::postgres::guard;
use crate::source::sqlite;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DownloadLabels {
    dataset: String,
    format: String,
    /// `ok`, `failed` or `client_gone`.
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    /// The error body's `code`.
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CompressionLabels {
    /// `gzip` or `zstd`.
    compression: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CancelLabels {
    /// `sent` (the server received the cancel request) or `failed`.
    result: String,
}

/// `query_cancels`: read from the connection guards' counts when scraped.
#[derive(Debug)]
struct Cancels;

impl Collector for Cancels {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counts = guard::cancel_counts();
        let mut family = encoder.encode_descriptor(
            "query_cancels",
            "Queries cancelled on the server because their export stopped before them \
             (client gone, failed mid-stream, cut off at shutdown), by whether the cancel \
             request reached the server.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        // A SQLite interrupt always reaches its database: it is in this process.
        let sent = counts.sent + sqlite::interrupt_count();
        for (result, count) in [("sent", sent), ("failed", counts.failed)] {
            let labels = CancelLabels {
                result: result.to_owned(),
            };
            ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    /// `downloads` or `control`.
    pool: String,
    /// `size` (open), `available` (idle), `waiting` (requests waiting for one), `max`.
    state: String,
}

/// The server's metrics, shared by the handlers.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    downloads: Family<DownloadLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    rows: Counter,
    bytes: Counter,
    active: Gauge,
    duration: Histogram,
    first_byte: Histogram,
    pools: Family<PoolLabels, Gauge>,
    compressed_in: Family<CompressionLabels, Counter>,
    compressed_out: Family<CompressionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rowpipe");
        let downloads = Family::<DownloadLabels, Counter>::default();
        registry.register(
            "downloads",
            "Downloads that ended, by dataset, format and outcome",
            downloads.clone(),
        );
        let rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "rejected",
            "Requests answered with an error status, by error code",
            rejected.clone(),
        );
        let rows = Counter::default();
        registry.register("rows", "Rows sent in downloads", rows.clone());
        let bytes = Counter::default();
        registry.register("bytes", "Bytes sent in downloads, as sent", bytes.clone());
        let active = Gauge::default();
        registry.register("active_downloads", "Downloads running now", active.clone());
        // 1 ms to about 4.7 hours.
        let duration = Histogram::new(exponential_buckets(0.001, 4.0, 12));
        registry.register(
            "download_duration_seconds",
            "How long downloads took, start to end",
            duration.clone(),
        );
        let first_byte = Histogram::new(exponential_buckets(0.001, 4.0, 12));
        registry.register(
            "first_byte_seconds",
            "From a download's start to its first chunk (the database's planning and sorting)",
            first_byte.clone(),
        );
        let pools = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "pool_connections",
            "Database connections by pool and state, when scraped",
            pools.clone(),
        );
        let compressed_in = Family::<CompressionLabels, Counter>::default();
        registry.register(
            "compression_input_bytes",
            "Bytes of the format before compression, of compressed downloads that completed",
            compressed_in.clone(),
        );
        let compressed_out = Family::<CompressionLabels, Counter>::default();
        registry.register(
            "compression_output_bytes",
            "Bytes sent of the same downloads, compressed: output / input is the ratio",
            compressed_out.clone(),
        );
        registry.register_collector(Box::new(Cancels));
        Self {
            registry,
            downloads,
            rejected,
            rows,
            bytes,
            active,
            duration,
            first_byte,
            pools,
            compressed_in,
            compressed_out,
        }
    }
}

impl Metrics {
    /// A download starts: it counts as active until [`Metrics::download_ended`].
    pub fn download_started(&self) {
        self.active.inc();
    }

    /// How a download of `dataset` in `format` ended.
    pub fn download_ended(&self, dataset: &str, format: &str, end: &DownloadEnd) {
        self.active.dec();
        self.downloads
            .get_or_create(&DownloadLabels {
                dataset: dataset.to_owned(),
                format: format.to_owned(),
                outcome: end.outcome.to_owned(),
            })
            .inc();
        self.rows.inc_by(end.rows);
        self.bytes.inc_by(end.bytes);
        self.duration.observe(end.seconds);
        self.first_byte.observe(end.first_byte_seconds);
        // Only complete downloads: of a broken one, part of the input was never sent.
        if let (Some(compression), "ok") = (end.compression, end.outcome) {
            let labels = CompressionLabels {
                compression: Compression::name(compression).to_owned(),
            };
            self.compressed_in
                .get_or_create(&labels)
                .inc_by(end.plain_bytes);
            self.compressed_out.get_or_create(&labels).inc_by(end.bytes);
        }
    }

    /// A request answered with the error `code`.
    pub fn rejected(&self, code: &str) {
        self.rejected
            .get_or_create(&RejectLabels {
                code: code.to_owned(),
            })
            .inc();
    }

    /// The exposition, with the pools' gauges as given.
    pub fn render(&self, pools: &[PoolStatus]) -> String {
        for status in pools {
            for (state, value) in [
                ("max", status.max),
                ("size", status.size),
                ("available", status.available),
                ("waiting", status.waiting),
            ] {
                self.pools
                    .get_or_create(&PoolLabels {
                        pool: status.name.clone(),
                        state: state.to_owned(),
                    })
                    .set(i64::try_from(value).unwrap_or(i64::MAX));
            }
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Metrics shared between the state and the download hooks.
pub type SharedMetrics = Arc<Metrics>;
