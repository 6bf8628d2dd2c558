//! The browser side of passwords: the form page, reading its post, and the 303 after a
//! right answer. The page is self-contained (no external assets, no script).

use std::time::Duration;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::respond::ProxyError;
use crate::body::Body;

/// The largest form body read.
const MAX_FORM_BYTES: usize = 4096;
const FORM_TIMEOUT: Duration = Duration::from_secs(10);

pub fn is_form(h: &HeaderMap) -> bool {
    h.get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Reads the `password` field of a small urlencoded body.
pub async fn read_password(body: &mut Incoming) -> Result<String, ProxyError> {
    let limited = Limited::new(body, MAX_FORM_BYTES);
    let bytes = tokio::time::timeout(FORM_TIMEOUT, limited.collect())
        .await
        .map_err(|_| ProxyError::BadForm)?
        .map_err(|_| ProxyError::BadForm)?
        .to_bytes();
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| ProxyError::BadForm)?;
    fields
        .into_iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v)
        .ok_or(ProxyError::BadForm)
}

/// 303 to the same URL, with the password cookie.
pub fn see_other(uri: &Uri, cookie: Option<&str>) -> Response<Body> {
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(target) {
        h.insert(LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert(SET_COOKIE, c);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The form page: 401, asking for the password (again, if `wrong`).
pub fn page(wrong: bool, reference: &str) -> Response<Body> {
    let note = if wrong {
        r#"<p class="err" role="alert">That password is not right. Please try again.</p>"#
    } else {
        ""
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Password required</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f5f6f8;color:#1d2433;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.08);padding:2rem 2.25rem;width:min(22rem,90vw)}}
h1{{font-size:1.25rem;margin:0 0 .5rem}}
p{{margin:.25rem 0 1rem;color:#4a5368;font-size:.95rem}}
label{{display:block;font-size:.85rem;margin-bottom:.35rem;color:#4a5368}}
input{{box-sizing:border-box;width:100%;padding:.6rem .7rem;border:1px solid #c9cfdb;border-radius:8px;font-size:1rem}}
input:focus{{outline:2px solid #3b6ef5;border-color:#3b6ef5}}
button{{font-family:inherit;margin-top:1rem;width:100%;padding:.65rem;border:0;border-radius:8px;background:#3b6ef5;color:#fff;font-size:1rem;cursor:pointer}}
.err{{color:#b42318;background:#fef3f2;border-radius:6px;padding:.5rem .65rem}}
small{{display:block;margin-top:1rem;color:#8a93a6;font-size:.75rem}}
</style></head>
<body><main>
<h1>This file is password-protected</h1>
<p>Enter the password you were given to open it.</p>
{note}
<form method="post">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open</button>
</form>
<small>Reference {reference}</small>
</main></body></html>
"#
    );
    let mut resp = Response::new(Body::full(html));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}
