//! Installing the process-global Prometheus recorder and the HTTP endpoint that serves
//! it (`GET /metrics`; any path answers with the same text).
//!
//! Latencies are real histograms with fixed buckets, never summaries: buckets can be
//! aggregated across scrapes and servers, and `histogram_quantile` computes p50 or p99
//! over any window afterwards.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use super::names;

/// Bucket bounds of request latencies, in seconds: 100 µs to 60 s (the longest
/// long-poll wait).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// Bucket bounds of `fdatasync` durations, in seconds: 50 µs to 5 s.
pub const FSYNC_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// Set once this process installed its recorder; the recorder cannot be replaced.
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installing the exporter failed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A recorder is already installed in this process (the recorder is global).
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
    /// Not called from within a tokio runtime (the endpoint runs on it).
    #[error("the metrics exporter needs a tokio runtime")]
    NoRuntime,
    /// The endpoint's address could not be bound.
    #[error("metrics listener on {addr} failed: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What went wrong (e.g. the address is in use).
        reason: String,
    },
    /// The exporter rejected its configuration.
    #[error("configuring the metrics exporter failed: {0}")]
    Build(#[source] BuildError),
}

/// Whether [`install`] succeeded in this process.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

/// Installs the global recorder and serves it over HTTP on `addr`. Call it from within
/// a tokio runtime, once per process; a second call fails with
/// [`MetricsError::AlreadyInstalled`].
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| MetricsError::NoRuntime)?;
    if INSTALLED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(MetricsError::AlreadyInstalled);
    }
    let installing = {
        let _entered = runtime.enter();
        build(addr)
    };
    let exporter = match installing {
        Ok(exporter) => exporter,
        Err(err) => {
            INSTALLED.store(false, Ordering::Release);
            return Err(err);
        }
    };
    runtime.spawn(async move {
        if let Err(error) = exporter.await {
            tracing::error!(?error, "metrics endpoint stopped");
        }
    });
    names::describe();
    // Present from the start, so dashboards show 0 rather than no data.
    metrics::gauge!(names::OPEN_STREAMS).set(0.0);
    metrics::gauge!(names::OPEN_CONNECTIONS).set(0.0);
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the metrics endpoint has no authentication and is reachable from other hosts");
    }
    tracing::info!(%addr, "serving metrics");
    Ok(())
}

/// Binds the endpoint and sets the global recorder; returns the endpoint to run.
fn build(addr: SocketAddr) -> Result<metrics_exporter_prometheus::ExporterFuture, MetricsError> {
    let builder = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(names::FSYNC_SECONDS.into()), FSYNC_BUCKETS)
        })
        .map_err(MetricsError::Build)?;
    let (recorder, exporter) = builder.build().map_err(|err| match err {
        BuildError::FailedToCreateHTTPListener(reason) => MetricsError::Listen { addr, reason },
        other => MetricsError::Build(other),
    })?;
    metrics::set_global_recorder(recorder).map_err(|_| MetricsError::AlreadyInstalled)?;
    Ok(exporter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installing_outside_a_runtime_is_an_error() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(matches!(install(addr), Err(MetricsError::NoRuntime)));
    }

    #[tokio::test]
    async fn a_second_install_is_an_error_not_a_panic() {
        // The only test that installs: the recorder is global to this test process.
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        install(addr).expect("first install");
        assert!(installed());
        let second = install(addr).expect_err("second install");
        assert!(matches!(second, MetricsError::AlreadyInstalled));
        assert_eq!(
            second.to_string(),
            "a metrics recorder is already installed in this process"
        );
        assert!(installed(), "the first recorder stays");
    }

    #[test]
    fn buckets_ascend() {
        for buckets in [LATENCY_BUCKETS, FSYNC_BUCKETS] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
