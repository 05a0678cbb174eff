//! The Durable Streams protocol over HTTP, under `/v1/stream/{path}`: `PUT` creates
//! (or forks), `POST` appends or closes, `GET` reads (catch-up, long-poll or SSE),
//! `HEAD` describes, `DELETE` deletes. Streams live in the caller's own namespace.

mod cursor;
mod headers;
mod offset;
mod path;
pub(crate) mod read;
mod sse;
mod store_errors;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Router};

use self::headers::*;
use crate::api_error::ApiError;
use crate::store::{Append, Appended, CreateStream, Expiry, Payload, StreamInfo, StreamKey};
use crate::{AppState, AuthUser};

/// The stream routes; bodies over `max_append_bytes` get 413.
pub fn routes(max_append_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/stream/{*path}", get(read::get).head(head).put(create).post(append).delete(delete))
        .layer(DefaultBodyLimit::max(max_append_bytes))
        .layer(middleware::from_fn(move |path, request, next| guard(max_append_bytes, path, request, next)))
}

/// What every stream request passes through, as one layer (see `server::router` on
/// why layers are few): writes to chat-session streams refused, bodies over `limit`
/// refused, and the security headers on every answer.
async fn guard(
    limit: usize,
    Path(path): Path<String>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let mut response = if let Some(refusal) = crate::sessions::refuse_session_write(&path, request.method()) {
        refusal.into_response()
    } else {
        refuse_oversized(limit, request, next).await
    };
    security_headers(response.headers_mut());
    response
}

/// Bodies declared larger than this are not read before the 413: the connection is
/// dropped instead.
const MAX_DRAINED_BYTES: u64 = 64 << 20;

/// Answers 413 to a body declared over `limit`, after reading (and dropping) it: a
/// server that closes the connection on unread data makes the client's kernel reset
/// it, and the client may lose the 413 and see only a broken connection.
async fn refuse_oversized(limit: usize, request: axum::extract::Request, next: middleware::Next) -> Response {
    let declared =
        request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match declared {
        Some(length) if length > limit as u64 => {
            if length <= MAX_DRAINED_BYTES {
                let mut body = request.into_body().into_data_stream();
                while let Some(Ok(_)) = futures::StreamExt::next(&mut body).await {}
            }
            ApiError::too_large(limit).into_response()
        }
        _ => next.run(request).await,
    }
}

/// Defence in depth for browsers (protocol §12.7), on every stream response.
fn security_headers(headers: &mut HeaderMap) {
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
}

/// The stream a request addresses: the caller's namespace and a validated path.
fn key(user: &AuthUser, path: &str) -> Result<StreamKey, ApiError> {
    path::validate(path).map_err(ApiError::bad_request)?;
    Ok(StreamKey::new(&*user.user_id, path))
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// Headers describing the stream's tail and closure.
fn tail_headers(headers: &mut HeaderMap, tail: u64, closed: bool) {
    set(headers, STREAM_NEXT_OFFSET, &offset::format(tail));
    if closed {
        set(headers, STREAM_CLOSED, "true");
    }
}

fn respond(status: StatusCode, headers: HeaderMap, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn create(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(path): Path<String>,
    OriginalUri(uri): OriginalUri,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = key(&user, &path)?;
    let request = CreateStream {
        content_type: headers::content_type(&request_headers).map_err(ApiError::bad_request)?,
        expiry: headers::expiry(&request_headers).map_err(ApiError::bad_request)?,
        closed: headers::closed(&request_headers),
        fork: headers::fork(&request_headers).map_err(ApiError::bad_request)?,
        body,
    };
    let created = state.store.create(&key, request).await?;
    let mut headers = HeaderMap::new();
    set(&mut headers, CONTENT_TYPE.as_str(), &created.info.content_type);
    tail_headers(&mut headers, created.info.tail, created.info.closed);
    let status = if created.new {
        let host = request_headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        set(&mut headers, LOCATION.as_str(), &format!("http://{host}{}", uri.path()));
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(respond(status, headers, Body::empty()))
}

async fn append(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(path): Path<String>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = key(&user, &path)?;
    let close = headers::closed(&request_headers);
    let content_type = headers::content_type(&request_headers).map_err(ApiError::bad_request)?;
    if body.is_empty() && !close {
        return Err(ApiError::bad_request("empty body: an append needs data (or Stream-Closed: true to close)"));
    }
    let payload = match (&content_type, body.is_empty()) {
        (_, true) => None,
        (None, false) => return Err(ApiError::bad_request("Content-Type is required when appending data")),
        (Some(ct), false) => Some(Payload::frame(ct, &body, false)),
    };
    let request = Append {
        content_type,
        payload,
        close,
        stream_seq: headers::stream_seq(&request_headers).map_err(ApiError::bad_request)?,
        producer: headers::producer(&request_headers).map_err(ApiError::bad_request)?,
    };
    let wrote_data = request.payload.is_some() && request.producer.is_some();
    let (status, tail, closed, producer) = match state.store.append(&key, request).await? {
        Appended::Written { tail, closed, producer } => {
            (if wrote_data { StatusCode::OK } else { StatusCode::NO_CONTENT }, tail, closed, producer)
        }
        Appended::Duplicate { tail, closed, producer } => (StatusCode::NO_CONTENT, tail, closed, producer),
    };
    let mut headers = HeaderMap::new();
    tail_headers(&mut headers, tail, closed);
    if let Some((epoch, seq)) = producer {
        set(&mut headers, PRODUCER_EPOCH, &epoch.to_string());
        set(&mut headers, PRODUCER_SEQ, &seq.to_string());
    }
    Ok(respond(status, headers, Body::empty()))
}

async fn head(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let key = key(&user, &path)?;
    let info = state.store.head(&key).await?;
    let mut headers = describe(&info);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(respond(StatusCode::OK, headers, Body::empty()))
}

/// Content type, tail, closure and expiry: what `HEAD` reports.
fn describe(info: &StreamInfo) -> HeaderMap {
    let mut headers = HeaderMap::new();
    set(&mut headers, CONTENT_TYPE.as_str(), &info.content_type);
    tail_headers(&mut headers, info.tail, info.closed);
    match info.expiry {
        Expiry::Never => {}
        Expiry::Ttl(seconds) => set(&mut headers, STREAM_TTL, &seconds.to_string()),
        Expiry::At(at) => {
            set(&mut headers, STREAM_EXPIRES_AT, &at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        }
    }
    headers
}

async fn delete(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let key = key(&user, &path)?;
    state.store.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
