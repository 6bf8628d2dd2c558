//! The control API's response envelope and its one error type. Every refusal of the API is
//! an [`ApiError`]; `into_response` is the single place it becomes a status and a body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// One bad field: `{"field": "expires_in", "message": "must be between 1 and 604800"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub field: String,
    pub message: String,
}

impl Detail {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Detail {
        Detail {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("required fields are missing")]
    MissingField(Vec<Detail>),
    #[error("{0}")]
    InvalidPayload(String, Vec<Detail>),
    #[error("some fields are not valid")]
    Validation(Vec<Detail>),
    #[error("an API key is required (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the API key has expired")]
    ExpiredApiKey,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("too many requests for this API key")]
    RateLimited { retry_after: u64 },
    /// The gateway's own failure: `context` and the source chain go to the log with the
    /// reference id, never to the client.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl From<crate::state::StoreError> for ApiError {
    fn from(e: crate::state::StoreError) -> Self {
        ApiError::caused("the state store failed", e)
    }
}

impl ApiError {
    /// An internal error with no underlying error to keep.
    pub fn internal(context: impl Into<String>) -> ApiError {
        ApiError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal error that keeps its cause as the source.
    pub fn caused(
        context: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> ApiError {
        ApiError::Internal {
            context: context.into(),
            source: Some(Box::new(e)),
        }
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MissingField(_) => (StatusCode::BAD_REQUEST, "MISSING_REQUIRED_FIELD"),
            ApiError::InvalidPayload(..) => (StatusCode::BAD_REQUEST, "INVALID_PAYLOAD"),
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::InvalidApiKey => (StatusCode::UNAUTHORIZED, "INVALID_API_KEY"),
            ApiError::ExpiredApiKey => (StatusCode::UNAUTHORIZED, "EXPIRED_API_KEY"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
            ApiError::Internal { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    fn details(&self) -> &[Detail] {
        match self {
            ApiError::MissingField(d)
            | ApiError::InvalidPayload(_, d)
            | ApiError::Validation(d) => d,
            _ => &[],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let reference = crate::telemetry::reference_id();
        let message = match &self {
            // The cause goes to the log with the reference id, never to the client.
            ApiError::Internal { context, .. } => {
                let mut chain = context.clone();
                let mut src = std::error::Error::source(&self);
                while let Some(s) = src {
                    chain.push_str(": ");
                    chain.push_str(&s.to_string());
                    src = s.source();
                }
                tracing::error!(reference_id = %reference, code, "{chain}");
                "internal error; quote the reference_id to the operator".to_owned()
            }
            other => other.to_string(),
        };
        let mut body = json!({
            "success": false,
            "error": {"code": code, "message": message, "reference_id": reference},
        });
        if !self.details().is_empty() {
            body["error"]["details"] = json!(self.details());
        }
        let mut resp = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        resp
    }
}

/// `{"success": true, "data": ...}` with a status.
pub fn ok(status: StatusCode, data: Value) -> Response {
    (status, Json(json!({"success": true, "data": data}))).into_response()
}

/// Reads a JSON object body field by field, collecting one [`Detail`] per bad field.
/// Wrong types and unknown fields are `INVALID_PAYLOAD`; then missing required fields are
/// `MISSING_REQUIRED_FIELD`; then bad values are `VALIDATION_ERROR`.
pub struct Fields {
    obj: Map<String, Value>,
    seen: Vec<&'static str>,
    wrong_type: Vec<Detail>,
    missing: Vec<Detail>,
    pub invalid: Vec<Detail>,
}

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Fields, ApiError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            ApiError::InvalidPayload(format!("the body is not valid JSON: {e}"), vec![])
        })?;
        let Value::Object(obj) = v else {
            return Err(ApiError::InvalidPayload(
                "the body must be a JSON object".into(),
                vec![],
            ));
        };
        Ok(Fields {
            obj,
            seen: Vec::new(),
            wrong_type: Vec::new(),
            missing: Vec::new(),
            invalid: Vec::new(),
        })
    }

    fn take(&mut self, name: &'static str, required: bool) -> Option<Value> {
        self.seen.push(name);
        match self.obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.missing.push(Detail::new(name, "is required"));
                }
                None
            }
            Some(v) => Some(v.clone()),
        }
    }

    pub fn string(&mut self, name: &'static str, required: bool) -> Option<String> {
        match self.take(name, required)? {
            Value::String(s) => Some(s),
            _ => {
                self.wrong_type.push(Detail::new(name, "must be a string"));
                None
            }
        }
    }

    pub fn uint(&mut self, name: &'static str, required: bool) -> Option<u64> {
        match self.take(name, required)? {
            Value::Number(n) if n.is_u64() => n.as_u64(),
            Value::Number(n) if n.is_i64() => {
                // A negative number is the right type with a wrong value.
                self.invalid
                    .push(Detail::new(name, "must be greater than 0"));
                None
            }
            _ => {
                self.wrong_type
                    .push(Detail::new(name, "must be a whole number"));
                None
            }
        }
    }

    pub fn strings(&mut self, name: &'static str, required: bool) -> Option<Vec<String>> {
        match self.take(name, required)? {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.into_iter().enumerate() {
                    match v {
                        Value::String(s) => out.push(s),
                        _ => {
                            self.wrong_type
                                .push(Detail::new(format!("{name}[{i}]"), "must be a string"));
                            return None;
                        }
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong_type
                    .push(Detail::new(name, "must be an array of strings"));
                None
            }
        }
    }

    pub fn invalid(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.invalid.push(Detail::new(field, message));
    }

    /// Ends reading: the first class of problems found, or Ok.
    pub fn finish(mut self) -> Result<(), ApiError> {
        for k in self.obj.keys() {
            if !self.seen.contains(&k.as_str()) {
                self.wrong_type
                    .push(Detail::new(k.clone(), "is not a known field"));
            }
        }
        if !self.wrong_type.is_empty() {
            return Err(ApiError::InvalidPayload(
                "some fields have the wrong type or are unknown".into(),
                self.wrong_type,
            ));
        }
        if !self.missing.is_empty() {
            return Err(ApiError::MissingField(self.missing));
        }
        if !self.invalid.is_empty() {
            return Err(ApiError::Validation(std::mem::take(&mut self.invalid)));
        }
        Ok(())
    }
}

/// The raw body of an API call, with the framework's refusals (too large, unreadable)
/// turned into the envelope like every other error.
pub struct JsonBody(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBody)
            .map_err(|e| {
                ApiError::InvalidPayload(
                    format!("the body could not be read: {}", e.body_text()),
                    vec![],
                )
            })
    }
}

/// A path parameter. One that is not valid UTF-8 names nothing: 404 in the envelope.
pub struct Segment(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(s)| Segment(s))
            .map_err(|_| ApiError::NotFound("no such resource".into()))
    }
}

/// The latest instant RFC 3339 can write (9999-12-31T23:59:59Z).
const MAX_RFC3339: i64 = 253_402_300_799;

/// RFC 3339 text of a unix time.
pub fn iso(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses an ISO 8601 / RFC 3339 date-time to unix seconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
        // An offset can push a year-9999 local time past what RFC 3339 can write back.
        .filter(|t| (0..=MAX_RFC3339).contains(t))
}
