//! One API call as a well-behaved client makes it: retried after a cut connection or
//! a 5xx (the soak's writes are all safe to repeat), waiting what a 429's or 503's
//! `Retry-After` asks, each answer counted in the current phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::metrics::Metrics;

/// Attempts of one call before it is reported as failed, and their overall time.
const MAX_ATTEMPTS: u32 = 120;
const MAX_CALL_TIME: Duration = Duration::from_secs(120);
/// One attempt's limit: the soak's calls are small and answered in milliseconds.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `Retry-After` obeyed; a longer one would stall a user past the run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How a call ended, short of failing.
pub enum Answer {
    Ok(serde_json::Value),
    /// 409: for a write with a client-chosen id, proof that an earlier attempt landed.
    Conflict,
    /// 401: the session is not (or no longer) valid.
    Unauthorized,
}

pub struct Caller {
    pub metrics: Arc<Metrics>,
}

impl Caller {
    /// Sends what `request` builds until it is answered for good. `Err` says why it
    /// gave up (an unexpected status, or the attempts ran out).
    pub async fn call(&self, route: &'static str, request: impl Fn() -> RequestBuilder) -> Result<Answer, String> {
        let started = Instant::now();
        let mut backoff = Backoff::default();
        for _ in 0..MAX_ATTEMPTS {
            if started.elapsed() > MAX_CALL_TIME {
                break;
            }
            let sent = Instant::now();
            let response = match request().timeout(ATTEMPT_TIMEOUT).send().await {
                Ok(response) => response,
                Err(_) => {
                    self.metrics.transport_error();
                    tokio::time::sleep(backoff.next()).await;
                    continue;
                }
            };
            let status = response.status();
            self.metrics.answer(route, status.as_u16(), sent.elapsed());
            match status {
                s if s.is_success() => {
                    let body = response.bytes().await.unwrap_or_default();
                    return Ok(Answer::Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)));
                }
                StatusCode::CONFLICT => return Ok(Answer::Conflict),
                StatusCode::UNAUTHORIZED => return Ok(Answer::Unauthorized),
                s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                    let wait = retry_after(&response).unwrap_or_else(|| backoff.next());
                    tokio::time::sleep(wait).await;
                }
                s => {
                    let body = response.text().await.unwrap_or_default();
                    return Err(format!("{route}: unexpected {s}: {body}"));
                }
            }
        }
        Err(format!("{route}: no answer after {:?}", started.elapsed()))
    }
}

/// A response's `Retry-After` in seconds, capped.
pub fn retry_after(response: &Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Exponential from 100 ms to 2 s, with jitter so users do not retry in step.
#[derive(Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next(&mut self) -> Duration {
        let base = 100u64 << self.failures.min(5);
        self.failures += 1;
        let ms = base.min(2000);
        Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), ms / 2..=ms))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}
