//! `GET`: catch-up reads and long-polls (SSE lives in [`super::sse`]).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::headers::*;
use super::offset::{self, Requested};
use super::{cursor, key, respond, set, sse, tail_headers};
use crate::api_error::ApiError;
use crate::auth::{Bearer, Rejection};
use crate::limits::ReaderSlot;
use crate::store::{is_json, ReadBatch, ReadFrom, StoreError, StreamKey};
use crate::{AppState, AuthUser};

/// The most a catch-up or long-poll response carries; the client reads on from
/// `Stream-Next-Offset`.
const READ_LIMIT: usize = 1 << 20;

/// Data that can still grow (the response reached the tail) is revalidated each time;
/// a full read below the tail never changes.
const CACHE_TAIL: &str = "no-cache";
const CACHE_BATCH: &str = "private, max-age=60, stale-while-revalidate=300";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Live {
    No,
    LongPoll,
    Sse,
}

/// The query of a read: `offset`, `live` and `cursor`; anything else is ignored.
pub struct ReadQuery {
    pub offset: Option<Requested>,
    pub live: Live,
    pub cursor: Option<String>,
}

impl ReadQuery {
    pub fn parse(params: &[(String, String)]) -> Result<ReadQuery, ApiError> {
        let offsets: Vec<&str> = params.iter().filter(|(k, _)| k == "offset").map(|(_, v)| v.as_str()).collect();
        let offset = match offsets.as_slice() {
            [] => None,
            [one] => Some(offset::parse(one).map_err(ApiError::bad_request)?),
            _ => return Err(ApiError::bad_request("give the offset parameter once")),
        };
        let live = match params.iter().find(|(k, _)| k == "live").map(|(_, v)| v.as_str()) {
            None => Live::No,
            Some("long-poll") => Live::LongPoll,
            Some("sse") => Live::Sse,
            Some(other) => return Err(ApiError::bad_request(format!("live must be long-poll or sse, not {other:?}"))),
        };
        if live != Live::No && offset.is_none() {
            return Err(ApiError::bad_request(
                "live reads need an offset (use -1 for the beginning or now for the tail)",
            ));
        }
        let cursor = params.iter().find(|(k, _)| k == "cursor").map(|(_, v)| v.clone());
        Ok(ReadQuery { offset, live, cursor })
    }
}

pub fn read_from(offset: Option<Requested>) -> ReadFrom {
    match offset {
        None | Some(Requested::Start) => ReadFrom::Start,
        Some(Requested::Now) => ReadFrom::Tail,
        Some(Requested::At(pos)) => ReadFrom::At(pos),
    }
}

pub async fn get(
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Extension(bearer): Extension<Bearer>,
    Path(path): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = key(&user, &path)?;
    let query = ReadQuery::parse(&params)?;
    let reader = || state.limits.reader(&user.user_id).map_err(ApiError::limit);
    match query.live {
        Live::No => catch_up(&state, &key, query.offset, &request_headers).await,
        Live::LongPoll => {
            let slot = reader()?;
            let live = state.auth.until_session_ends(&bearer, &state.shutdown);
            let _done = live.clone().drop_guard();
            long_poll(&state, &key, query, &live, slot).await
        }
        Live::Sse => {
            let slot = reader()?;
            sse::subscribe(&state, key, query, state.auth.watch(&bearer), slot).await
        }
    }
}

async fn catch_up(
    state: &AppState,
    key: &StreamKey,
    offset: Option<Requested>,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    let batch = state.store.read(key, read_from(offset), READ_LIMIT).await?;
    let json = is_json(&batch.info.content_type);
    if offset == Some(Requested::Now) {
        let mut headers = batch_headers(&batch);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let body = if json { Body::from("[]") } else { Body::empty() };
        return Ok(respond(StatusCode::OK, headers, body));
    }
    let mut headers = batch_headers(&batch);
    let etag = format!("\"{}:{}:{}{}\"", batch.info.id, batch.from, batch.next, if batch.at_end() { ":c" } else { "" });
    set(&mut headers, ETAG.as_str(), &etag);
    let cache = if batch.up_to_date() { CACHE_TAIL } else { CACHE_BATCH };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if request.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| matches_etag(v, &etag)) {
        return Ok(respond(StatusCode::NOT_MODIFIED, headers, Body::empty()));
    }
    Ok(respond(StatusCode::OK, headers, Body::from(batch.render(json))))
}

fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').any(|candidate| candidate.trim() == etag)
}

/// Content type, next offset, and the up-to-date and closed flags of a batch.
fn batch_headers(batch: &ReadBatch) -> HeaderMap {
    let mut headers = HeaderMap::new();
    set(&mut headers, CONTENT_TYPE.as_str(), &batch.info.content_type);
    tail_headers(&mut headers, batch.next, batch.at_end());
    if batch.up_to_date() {
        set(&mut headers, STREAM_UP_TO_DATE, "true");
    }
    headers
}

/// Waits for data until the long-poll timeout, or until `live` is cancelled (shutdown,
/// or the session ended: then the answer is the 401 the next request would get).
/// Holds `_slot`, the caller's place among their live reads, until it answers.
async fn long_poll(
    state: &AppState,
    key: &StreamKey,
    query: ReadQuery,
    live: &CancellationToken,
    _slot: ReaderSlot,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + Duration::from_millis(state.config.long_poll_timeout_ms);
    let mut watch = state.store.watch(key).await?;
    let mut batch = state.store.read(key, read_from(query.offset), READ_LIMIT).await?;
    let (id, from) = (batch.info.id, batch.from);
    let json = is_json(&batch.info.content_type);
    loop {
        if !batch.is_empty() {
            let mut headers = batch_headers(&batch);
            set(&mut headers, STREAM_CURSOR, &cursor::next(query.cursor.as_deref()));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_BATCH));
            return Ok(respond(StatusCode::OK, headers, Body::from(batch.render(json))));
        }
        if batch.info.closed {
            return Ok(nothing_new(from, true, None));
        }
        tokio::select! {
            changed = watch.changed() => {
                if changed.is_err() || watch.borrow().gone {
                    return Err(StoreError::NotFound.into());
                }
            }
            () = tokio::time::sleep_until(deadline) => return Ok(nothing_new(from, false, Some(&query))),
            () = live.cancelled() => {
                if !state.shutdown.is_cancelled() {
                    return Ok(Rejection::Unauthorized.into_response());
                }
                return Ok(nothing_new(from, false, Some(&query)));
            }
        }
        batch = state.store.read_live(key, from, READ_LIMIT).await?;
        if batch.info.id != id {
            return Err(StoreError::NotFound.into());
        }
    }
}

/// The long-poll answer when no data came: 204, caught up at `from`.
fn nothing_new(from: u64, closed: bool, query: Option<&ReadQuery>) -> Response {
    let mut headers = HeaderMap::new();
    tail_headers(&mut headers, from, closed);
    set(&mut headers, STREAM_UP_TO_DATE, "true");
    if let Some(query) = query {
        set(&mut headers, STREAM_CURSOR, &cursor::next(query.cursor.as_deref()));
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    respond(StatusCode::NO_CONTENT, headers, Body::empty())
}
