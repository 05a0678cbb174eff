//! A simulated user: one chat session, one or two devices subscribed to it, and a
//! conversation at a human pace, each write remembered once the server acknowledges it.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Client;
use serde_json::json;
use url::Url;

use crate::caller::{Answer, Caller};

/// How fast users chat.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Pause before each message, drawn between these.
    pub think: (Duration, Duration),
    /// Chunks of each assistant reply, drawn between these.
    pub chunks: (u32, u32),
    /// Pause between two chunks: the reply's streaming rate.
    pub chunk_interval: Duration,
}

/// What one device's subscription has delivered, in order.
#[derive(Default)]
pub struct Received {
    pub keys: Vec<String>,
    pub set: HashSet<String>,
}

#[derive(Default)]
pub struct Device {
    pub received: Mutex<Received>,
    /// When the subscription ended for good (the session refused), if it did.
    pub ended: Mutex<Option<Instant>>,
}

pub struct User {
    pub index: usize,
    pub email: String,
    /// The loopback address this user's connections come from.
    pub from: IpAddr,
    pub http: Client,
    pub token: Mutex<String>,
    pub session_url: Url,
    pub stream_url: Url,
    pub revoked: AtomicBool,
    /// Keys (`messageId:seq`) of the stream events the server acknowledged, in the
    /// order they were acknowledged, which for one writer is the order written.
    pub acked: Mutex<Vec<String>>,
    pub devices: Vec<Arc<Device>>,
}

impl User {
    pub fn token(&self) -> String {
        self.token.lock().unwrap().clone()
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }

    fn ack(&self, key: String) {
        self.acked.lock().unwrap().push(key);
    }

    fn route(&self, tail: &str) -> Url {
        let mut url = self.session_url.clone();
        url.path_segments_mut().expect("an http URL").extend(tail.split('/'));
        url
    }

    async fn post(&self, caller: &Caller, route: &'static str, body: serde_json::Value) -> Result<Answer, Stop> {
        let url = self.route(route);
        let token = self.token();
        match caller.call(route, || self.http.post(url.clone()).bearer_auth(&token).json(&body)).await {
            Ok(Answer::Unauthorized) if self.is_revoked() => Err(Stop::Revoked),
            Ok(Answer::Unauthorized) => {
                caller.metrics.wrongly_signed_out(self.index, route);
                Err(Stop::Failed)
            }
            Ok(answer) => Ok(answer),
            Err(e) => {
                caller.metrics.failure(format!("user {}: {e}", self.index));
                Err(Stop::Failed)
            }
        }
    }
}

/// Why a user stops chatting early.
enum Stop {
    Revoked,
    Failed,
}

/// Chats until `until`: think, send a message, stream the assistant's reply.
pub async fn chat(user: Arc<User>, caller: Arc<Caller>, pace: Pace, until: Instant) {
    let mut rng = StdRng::seed_from_u64(user.index as u64);
    // The first pause anywhere in a whole think time, so users do not start in step.
    let first = rng.gen_range(Duration::ZERO..=pace.think.1);
    tokio::time::sleep(first).await;
    for turn in 0.. {
        if Instant::now() >= until || user.is_revoked() {
            return;
        }
        if exchange(&user, &caller, &pace, &mut rng, turn).await.is_err() {
            return;
        }
        let think = rng.gen_range(pace.think.0..=pace.think.1);
        tokio::time::sleep(think.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// One message and its reply. Every text is unique in the session (`u<user> m<turn>
/// c<chunk>`), so a chunk stored twice shows even under another `seq`.
async fn exchange(user: &User, caller: &Caller, pace: &Pace, rng: &mut StdRng, turn: u32) -> Result<(), Stop> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let content = format!("u{} m{turn}: how does this hold up under load?", user.index);
    // A 409 for our own fresh id means an earlier attempt landed.
    user.post(caller, "messages", json!({"messageId": message_id, "content": content})).await?;
    user.ack(format!("{message_id}:0"));

    let reply_id = uuid::Uuid::new_v4().to_string();
    user.post(caller, "generations/start", json!({"messageId": reply_id})).await?;
    let mut seq = 0u64;
    for chunk in 0..rng.gen_range(pace.chunks.0..=pace.chunks.1) {
        tokio::time::sleep(pace.chunk_interval).await;
        let delta = format!("u{} m{turn} c{chunk} ", user.index);
        let body = json!({
            "messageId": reply_id,
            "role": "assistant",
            "chunk": {"type": "text-delta", "delta": delta},
            "seq": seq,
        });
        if let Answer::Ok(answer) = user.post(caller, "chunks", body).await? {
            seq = answer["seq"].as_u64().unwrap_or(seq);
        }
        user.ack(format!("{reply_id}:{seq}"));
        seq += 1;
    }
    user.post(caller, "generations/finish", json!({"messageId": reply_id})).await?;
    user.ack(format!("{reply_id}:{seq}"));
    Ok(())
}
