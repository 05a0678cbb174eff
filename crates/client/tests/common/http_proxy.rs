//! A recording HTTP proxy in front of the streams server: it notes what every request
//! carried (method, path and query, Authorization), can cut live SSE responses at
//! chosen points and can lose answers after the server acted on the request, the way a
//! flaky network or a load balancer would.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use url::Url;

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
}

impl Seen {
    pub fn is_sse(&self) -> bool {
        self.target.contains("live=sse")
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let url = Url::parse(&format!("http://x{}", self.target)).ok()?;
        url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// For each next SSE response: how many whole events to let through before
    /// cutting the connection in the middle of the following one.
    sse_cuts: Arc<Mutex<VecDeque<usize>>>,
    /// Cancelled (and replaced) to cut every SSE response in progress.
    live: Arc<Mutex<CancellationToken>>,
    /// Requests whose path ends so: how many more answers to lose.
    lose: Arc<Mutex<Vec<(String, usize)>>>,
}

pub struct RecordingProxy {
    pub url: Url,
    shared: Shared,
}

impl RecordingProxy {
    pub async fn start(upstream: Url) -> Self {
        let shared = Shared::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let app = axum::Router::new().fallback(forward).with_state((shared.clone(), upstream, http));
        tokio::spawn(async move { axum::serve(listener, app).await });
        RecordingProxy { url, shared }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Cuts every SSE response in progress, mid-stream.
    pub fn cut_live_now(&self) {
        let mut live = self.shared.live.lock().unwrap();
        live.cancel();
        *live = CancellationToken::new();
    }

    /// The answers to the next `count` requests whose path ends with `suffix` are lost:
    /// each request reaches the server, then the connection drops before any answer.
    pub fn lose_answers(&self, suffix: &str, count: usize) {
        self.shared.lose.lock().unwrap().push((suffix.to_owned(), count));
    }

    /// The next SSE responses are cut after these many whole events (in order).
    pub fn cut_sse_after(&self, events: impl IntoIterator<Item = usize>) {
        self.shared.sse_cuts.lock().unwrap().extend(events);
    }
}

async fn forward(State((shared, upstream, http)): State<(Shared, Url, reqwest::Client)>, request: Request) -> Response {
    let target = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let authorization = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_owned());
    let seen = Seen { method: request.method().to_string(), target: target.clone(), authorization };
    let cut = if seen.is_sse() { shared.sse_cuts.lock().unwrap().pop_front() } else { None };
    shared.seen.lock().unwrap().push(seen);

    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut outgoing = http.request(parts.method, upstream.join(target.trim_start_matches('/')).unwrap()).body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let Ok(answer) = outgoing.send().await else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    if take_loss(&shared, &target) {
        // Ends this connection's task without an answer; resume_unwind skips the panic
        // message, as nothing went wrong.
        std::panic::resume_unwind(Box::new("the test proxy loses this answer"));
    }
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(HeaderName::from_bytes(name.as_ref()).unwrap(), value.as_bytes());
        }
    }
    let upstream_body = answer.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other));
    let live = shared.live.lock().unwrap().clone();
    let cut_now = live.clone();
    let ended_by_cut = futures::stream::once(async move { cut_now.is_cancelled() })
        .filter_map(|cut| async move { cut.then(|| Err(std::io::Error::other("cut by the test proxy"))) });
    let body = match cut {
        None => upstream_body.boxed(),
        Some(whole_events) => cut_after(upstream_body, whole_events).boxed(),
    };
    response.body(Body::from_stream(body.take_until(live.cancelled_owned()).chain(ended_by_cut))).unwrap()
}

fn take_loss(shared: &Shared, target: &str) -> bool {
    let path = target.split('?').next().unwrap_or("");
    let mut lose = shared.lose.lock().unwrap();
    match lose.iter_mut().find(|(suffix, count)| *count > 0 && path.ends_with(suffix.as_str())) {
        Some((_, count)) => {
            *count -= 1;
            true
        }
        None => false,
    }
}

enum Cut {
    Passing,
    /// The partial event went out: fail next.
    Failing,
    Over,
}

/// Passes `whole_events` SSE events, then a few bytes of the next one, then fails,
/// which aborts the connection mid-event.
fn cut_after(
    upstream: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    whole_events: usize,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let upstream = Box::pin(upstream);
    futures::stream::unfold(
        (upstream, Vec::<u8>::new(), whole_events, Cut::Passing),
        |(mut upstream, mut buffer, remaining, cut)| async move {
            match cut {
                Cut::Over => return None,
                Cut::Failing => {
                    return Some((
                        Err(std::io::Error::other("cut by the test proxy")),
                        (upstream, buffer, 0, Cut::Over),
                    ))
                }
                Cut::Passing => {}
            }
            loop {
                if remaining > 0 {
                    if let Some(end) = find_event_end(&buffer) {
                        let event: Vec<u8> = buffer.drain(..end).collect();
                        return Some((Ok(Bytes::from(event)), (upstream, buffer, remaining - 1, Cut::Passing)));
                    }
                } else if buffer.len() >= 4 {
                    let partial = Bytes::copy_from_slice(&buffer[..3]);
                    return Some((Ok(partial), (upstream, Vec::new(), 0, Cut::Failing)));
                }
                match upstream.next().await {
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => return Some((Err(e), (upstream, buffer, remaining, Cut::Over))),
                    None if buffer.is_empty() => return None,
                    None => {
                        return Some((
                            Ok(Bytes::from(std::mem::take(&mut buffer))),
                            (upstream, Vec::new(), 0, Cut::Over),
                        ))
                    }
                }
            }
        },
    )
}

/// The end of the first event (just past its blank line), if the buffer holds one.
fn find_event_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}
