//! The admin plane on its own listener: health, readiness, metrics, and the control API
//! (`/api/v1/*`, every call authenticated by an API key; see `auth.rs`).

pub mod auth;
pub mod envelope;
pub mod links;
pub mod revocations;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::json;

use crate::runtime::Shared;

pub fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/api/v1/signed-urls", post(tokens::signed_url))
        .route("/api/v1/file-access", post(tokens::file_access))
        .route("/api/v1/tokens/{token_id}", get(tokens::get_token))
        .route("/api/v1/revocations", post(revocations::create))
        .route("/api/v1/links", post(links::create))
        .route(
            "/api/v1/links/{code}",
            get(links::get).delete(links::delete),
        )
        // Large enough for file-access with 1000 paths; anything bigger is refused early.
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .route_layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::gate,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(api)
        .fallback(not_found)
        .with_state(shared)
}

/// Serves until `stop` fires (after the data plane has drained).
async fn not_found() -> envelope::ApiError {
    envelope::ApiError::NotFound("no such endpoint".into())
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"success": true, "data": {"status": "ok"}}))
}

async fn readyz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    if shared.draining.load(Ordering::SeqCst) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"success": false, "error": {
                "code": "DRAINING", "message": "the gateway is shutting down",
                "reference_id": crate::telemetry::reference_id()}})),
        )
    } else {
        (
            StatusCode::OK,
            axum::Json(json!({"success": true, "data": {"status": "ready"}})),
        )
    }
}

/// The control API's OpenAPI document (`docs/openapi.json`), public like `/healthz`.
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../docs/openapi.json"),
    )
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
}
