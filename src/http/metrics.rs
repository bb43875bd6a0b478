//! Prometheus metrics: requests, latencies, ledger head and projection lag.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use super::SharedState;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    head: IntGauge,
    lag: IntGauge,
    streams_open: IntGauge,
    streams_overflowed: IntCounter,
    token_refusals_unrecorded: IntCounter,
    webhook_attempts: IntCounterVec,
    /// Held while the counters are brought level with the app's counts, so two renders at
    /// once never add the same count twice.
    counters_sync: std::sync::Mutex<()>,
}

/// What the ledger gauges show, read when the metrics are asked for.
#[derive(Debug, Clone, Copy)]
pub struct LedgerGauges {
    /// Last durable position.
    pub head: u64,
    /// Last position the read model applied.
    pub applied: u64,
    /// Event streams open now.
    pub event_streams_open: usize,
    /// Event streams ended for falling behind, since start.
    pub event_streams_overflowed: u64,
    /// Refused token uses not recorded as events (one a minute per token and use is), since start.
    pub token_refusals_unrecorded: u64,
    /// Webhook delivery attempts since start: delivered, failed.
    pub webhook_attempts: (u64, u64),
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "credledger_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "credledger_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method"],
        )?;
        let head = IntGauge::new(
            "credledger_ledger_head_position",
            "Last durable log position (the number of events appended)",
        )?;
        let lag = IntGauge::new(
            "credledger_projection_lag_events",
            "Durable events the read model has not applied yet",
        )?;
        let streams_open = IntGauge::new(
            "credledger_event_streams_open",
            "Event streams (GET /v1/events) open now",
        )?;
        let streams_overflowed = IntCounter::new(
            "credledger_event_streams_overflowed_total",
            "Event streams ended since start because their client read too slowly",
        )?;
        let token_refusals_unrecorded = IntCounter::new(
            "credledger_token_refusals_unrecorded_total",
            "Refused API token uses answered but not recorded as events since start (at most one a minute per token and use is recorded)",
        )?;
        let webhook_attempts = IntCounterVec::new(
            Opts::new(
                "credledger_webhook_attempts_total",
                "Webhook delivery attempts since start, by outcome (delivered, failed)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(webhook_attempts.clone()))?;
        registry.register(Box::new(token_refusals_unrecorded.clone()))?;
        registry.register(Box::new(streams_open.clone()))?;
        registry.register(Box::new(streams_overflowed.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(head.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            head,
            lag,
            streams_open,
            streams_overflowed,
            token_refusals_unrecorded,
            webhook_attempts,
            counters_sync: std::sync::Mutex::new(()),
        })
    }

    /// The text exposition, with the ledger gauges refreshed.
    pub fn render(&self, gauges: LedgerGauges) -> String {
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.head.set(clamp(gauges.head));
        self.lag
            .set(clamp(gauges.head.saturating_sub(gauges.applied)));
        self.streams_open
            .set(clamp(gauges.event_streams_open as u64));
        {
            // A poisoned lock only means another render panicked; the counters are still sound.
            let _level = self
                .counters_sync
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            bring_level(&self.streams_overflowed, gauges.event_streams_overflowed);
            bring_level(
                &self.token_refusals_unrecorded,
                gauges.token_refusals_unrecorded,
            );
            let (delivered, failed) = gauges.webhook_attempts;
            bring_level(
                &self.webhook_attempts.with_label_values(&["delivered"]),
                delivered,
            );
            bring_level(
                &self.webhook_attempts.with_label_values(&["failed"]),
                failed,
            );
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Raises a counter to the app's own count of the same thing (which only grows).
fn bring_level(counter: &IntCounter, total: u64) {
    let counted = counter.get();
    if total > counted {
        counter.inc_by(total - counted);
    }
}

/// Middleware counting requests and timing them by matched route (never by raw path, so ids
/// do not explode the label space).
pub async fn track(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    state
        .metrics
        .requests
        .with_label_values(&[&route, &method, &status])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[&route, &method])
        .observe(started.elapsed().as_secs_f64());
    response
}
