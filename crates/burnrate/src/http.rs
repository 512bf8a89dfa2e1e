//! The HTTP endpoint Prometheus and the orchestrator call: `/metrics` for the scrape,
//! `/healthz` for the liveness probe and `/readyz` for the readiness probe.
//!
//! Liveness and readiness report different conditions. `/healthz` fails only when the
//! processing loop has missed its heartbeat for longer than the liveness timeout, so
//! a restart can help. `/readyz` fails while the contracts table is loading or the
//! consumer has no assignment, which a restart would only prolong.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use burnrate_kafka::health::Health;
use burnrate_kafka::metrics::{Metrics, TEXT_CONTENT_TYPE};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running HTTP server.
#[derive(Debug)]
pub struct HttpServer {
    /// The address the server listens on, with the port the OS chose for port 0.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "serve logs it; the tests connect to it")
    )]
    pub local_address: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Stops accepting connections, lets open requests finish and waits for the server task.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        // The task may already have ended with an error, which the join below reports.
        let _ = self.shutdown.send(());
        self.task
            .await
            .context("metrics HTTP server task panicked")?
            .context("metrics HTTP server failed")
    }
}

#[derive(Clone)]
struct Probes {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Binds `address` and serves `/metrics`, `/healthz` and `/readyz` on a Tokio task.
///
/// Fails at once when the address cannot be bound, so a port already in use stops the
/// start instead of leaving the instance without metrics.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> anyhow::Result<HttpServer> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!("cannot listen on metrics address {address}; choose a free address and port")
        })?;
    let local_address = listener
        .local_addr()
        .context("cannot read the metrics listener's address")?;

    let router = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(liveness))
        .route("/readyz", get(readiness))
        .with_state(Probes { metrics, health });

    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                // A dropped sender also stops the server.
                let _ = shutdown_signal.await;
            })
            .await
    });
    tracing::info!(address = %local_address, "serving /metrics, /healthz and /readyz");
    Ok(HttpServer {
        local_address,
        shutdown,
        task,
    })
}

async fn scrape(State(probes): State<Probes>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
        probes.metrics.encode(),
    )
}

async fn liveness(State(probes): State<Probes>) -> (StatusCode, String) {
    match probes.health.liveness() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(stale) => {
            tracing::warn!(%stale, "Liveness probe failed.");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{stale}\n"))
        }
    }
}

async fn readiness(State(probes): State<Probes>) -> (StatusCode, String) {
    match probes.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(not_ready) => (StatusCode::SERVICE_UNAVAILABLE, format!("{not_ready}\n")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use burnrate_kafka::metrics::DEFAULT_MAX_SERIES;

    use super::*;

    /// Sends `GET path` over a plain TCP connection and returns the status line and body.
    async fn get_path(address: SocketAddr, path: &str) -> (String, String, String) {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();

            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            let status = head.lines().next().unwrap().to_owned();
            (status, head.to_ascii_lowercase(), body.to_owned())
        })
        .await
        .unwrap()
    }

    async fn start() -> (HttpServer, Arc<Metrics>, Arc<Health>) {
        let metrics = Arc::new(Metrics::new(DEFAULT_MAX_SERIES).unwrap());
        let health = Arc::new(Health::new(Duration::from_secs(60)));
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = serve(address, Arc::clone(&metrics), Arc::clone(&health))
            .await
            .unwrap();
        (server, metrics, health)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scrape_shows_counter() {
        let (server, metrics, _) = start().await;
        metrics.events_rated.inc_by(3);

        let (status, head, body) = get_path(server.local_address, "/metrics").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            head.contains("content-type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(body.contains("burnrate_events_rated_total 3"), "{body}");

        server.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn readyz_flips_when_ready() {
        let (server, _, health) = start().await;

        let (status, _, body) = get_path(server.local_address, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body, "contracts table not loaded yet\n");

        health.set_contracts_loaded();
        let (status, _, body) = get_path(server.local_address, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert_eq!(body, "consumer has not joined the consumer group\n");

        health.set_consumer_joined(true);
        let (status, _, body) = get_path(server.local_address, "/readyz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body, "ready\n");

        server.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn healthz_fails_when_heartbeat_is_stale() {
        let metrics = Arc::new(Metrics::new(DEFAULT_MAX_SERIES).unwrap());
        let health = Arc::new(Health::new(Duration::from_millis(50)));
        let server = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics,
            Arc::clone(&health),
        )
        .await
        .unwrap();

        let (status, _, _) = get_path(server.local_address, "/healthz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");

        tokio::time::sleep(Duration::from_millis(120)).await;
        let (status, _, body) = get_path(server.local_address, "/healthz").await;
        assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
        assert!(body.contains("liveness timeout"), "{body}");

        health.beat();
        let (status, _, _) = get_path(server.local_address, "/healthz").await;
        assert_eq!(status, "HTTP/1.1 200 OK");

        server.shutdown().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn busy_address_fails_at_start() {
        let (server, metrics, health) = start().await;
        let error = serve(server.local_address, metrics, health)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&server.local_address.to_string()),
            "{error}"
        );
        server.shutdown().await.unwrap();
    }
}
