//! Stand-ins for the remote model providers (which cost money and are out of reach
//! here), speaking their real streaming wire formats byte for byte, as documented:
//! Anthropic's Messages API events and OpenAI's chat-completion chunks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use url::Url;

/// One step of a scripted answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// Bytes sent as they are.
    Send(String),
    Pause(Duration),
    /// The connection drops here, mid-answer.
    Drop,
}

#[derive(Clone, Debug)]
pub struct Script {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub steps: Vec<Step>,
}

impl Script {
    pub fn stream(steps: Vec<Step>) -> Self {
        Script { status: 200, headers: vec![("content-type", "text/event-stream".into())], steps }
    }

    pub fn error(status: u16, body: &str) -> Self {
        Script {
            status,
            headers: vec![("content-type", "application/json".into())],
            steps: vec![Step::Send(body.into())],
        }
    }
}

/// What a request to the stand-in carried.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: Method,
    /// Path and query.
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Clone)]
pub struct FakeProvider {
    pub url: Url,
    pub received: Arc<Mutex<Vec<Received>>>,
    /// Set when the client went away before the script ended.
    pub abandoned: Arc<Mutex<bool>>,
}

impl FakeProvider {
    /// Answers every request with `script`.
    pub async fn start(script: Script) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let abandoned = Arc::new(Mutex::new(false));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let state = (script, received.clone(), abandoned.clone());
        let app = axum::Router::new().fallback(answer).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeProvider { url, received, abandoned }
    }
}

type Shared = (Script, Arc<Mutex<Vec<Received>>>, Arc<Mutex<bool>>);

async fn answer(
    State((script, received, abandoned)): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    received.lock().unwrap().push(Received { method, uri, headers, body });
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    tokio::spawn(async move {
        for step in script.steps {
            match step {
                Step::Send(text) => {
                    if sender.send(Ok(Bytes::from(text))).await.is_err() {
                        *abandoned.lock().unwrap() = true;
                        return;
                    }
                }
                Step::Pause(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = sender.closed() => {
                            *abandoned.lock().unwrap() = true;
                            return;
                        }
                    }
                }
                Step::Drop => {
                    let _ = sender.send(Err(std::io::Error::other("connection reset"))).await;
                    return;
                }
            }
        }
    });
    let stream = tokio_stream_from(receiver);
    let mut response = Response::builder().status(StatusCode::from_u16(script.status).unwrap());
    for (name, value) in script.headers {
        response = response.header(name, value);
    }
    response.body(Body::from_stream(stream)).unwrap()
}

fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Anthropic's documented stream for a reply made of `deltas`, with a `ping` and one
/// event whose JSON is spread over two `data:` lines.
pub fn anthropic_reply(deltas: &[&str], pause: Duration) -> Vec<Step> {
    let mut steps = vec![
        Step::Send(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\
             \"role\":\"assistant\",\"content\":[],\"model\":\"claude-test\",\"stop_reason\":null,\"stop_sequence\":null,\
             \"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n"
                .into(),
        ),
        Step::Send(
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\
             \"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                .into(),
        ),
        Step::Send("event: ping\ndata: {\"type\": \"ping\"}\n\n".into()),
    ];
    for (i, delta) in deltas.iter().enumerate() {
        let text = serde_json::to_string(delta).unwrap();
        let event = if i == 1 {
            // Multi-line data: the lines join with "\n", which JSON takes as whitespace.
            format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\ndata: \"delta\":{{\"type\":\"text_delta\",\"text\":{text}}}}}\n\n")
        } else {
            format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{text}}}}}\n\n")
        };
        steps.push(Step::Send(event));
        steps.push(Step::Pause(pause));
    }
    steps
}

pub fn anthropic_end() -> Vec<Step> {
    vec![
        Step::Send("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n".into()),
        Step::Send(
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\
             \"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n"
                .into(),
        ),
        Step::Send("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".into()),
    ]
}

pub fn anthropic_error(message: &str) -> Step {
    Step::Send(format!(
        "event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"{message}\"}}}}\n\n"
    ))
}

/// OpenAI's documented chat-completion chunks for `deltas`, with keep-alive comments.
pub fn openai_reply(deltas: &[&str]) -> Vec<Step> {
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        let value = serde_json::json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-test", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        Step::Send(format!("data: {value}\n\n"))
    };
    let mut steps = vec![chunk(serde_json::json!({"role": "assistant", "content": ""}), serde_json::Value::Null)];
    for delta in deltas {
        steps.push(Step::Send(": keep-alive\n\n".into()));
        steps.push(chunk(serde_json::json!({"content": delta}), serde_json::Value::Null));
    }
    steps.push(chunk(serde_json::json!({}), serde_json::json!("stop")));
    steps.push(Step::Send("data: [DONE]\n\n".into()));
    steps
}
