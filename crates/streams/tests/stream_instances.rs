//! Two server processes' worth of servers on one PostgreSQL database: a writer on
//! instance A, SSE and long-poll readers on instance B. B learns of A's appends through
//! LISTEN/NOTIFY; each reader must get every message exactly once, in order.

mod stream_support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use superset_streams::StorageKind;

const MESSAGES: usize = 60;

/// Follows a stream over SSE until `count` messages arrived; returns them.
async fn sse_reader(client: reqwest::Client, url: String, token: String, count: usize) -> Vec<Value> {
    let mut received = Vec::new();
    let mut offset = "-1".to_owned();
    while received.len() < count {
        let response = client.get(format!("{url}?offset={offset}&live=sse")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(bytes) = body.next().await {
            buffer.push_str(std::str::from_utf8(&bytes.unwrap()).unwrap());
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let kind = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or_default().to_owned();
                let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).collect();
                let data: Value = serde_json::from_str(&data.join("\n")).unwrap();
                match kind.as_str() {
                    "data" => received.extend(data.as_array().unwrap().iter().cloned()),
                    "control" => offset = data["streamNextOffset"].as_str().unwrap().to_owned(),
                    other => panic!("unexpected event {other:?}"),
                }
            }
            if received.len() >= count {
                break;
            }
        }
    }
    received
}

/// Long-polls a stream from its start until `count` messages arrived.
async fn long_poll_reader(client: reqwest::Client, url: String, token: String, count: usize) -> Vec<Value> {
    let mut received = Vec::new();
    let mut offset = "-1".to_owned();
    while received.len() < count {
        let response =
            client.get(format!("{url}?offset={offset}&live=long-poll")).bearer_auth(&token).send().await.unwrap();
        let status = response.status();
        offset = response.headers()["stream-next-offset"].to_str().unwrap().to_owned();
        if status == 200 {
            let batch: Vec<Value> = response.json().await.unwrap();
            received.extend(batch);
        } else {
            assert_eq!(status, 204);
        }
    }
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_on_one_instance_get_every_append_made_on_another_once_in_order() {
    let a = stream_support::start(StorageKind::Postgres, |c| c.long_poll_timeout_ms = 5_000).await;
    let (b_addr, b_stop, b_task) =
        stream_support::serve(a.database.url(), StorageKind::Postgres, a.data.path().join("b"), |c| {
            c.long_poll_timeout_ms = 5_000
        })
        .await;
    let b_url = format!("http://{b_addr}/v1/stream/chat/shared");

    let created =
        a.request(reqwest::Method::PUT, "chat/shared").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(created.status(), 201);

    let sse = tokio::spawn(sse_reader(a.client.clone(), b_url.clone(), a.token.clone(), MESSAGES));
    let long_poll = tokio::spawn(long_poll_reader(a.client.clone(), b_url.clone(), a.token.clone(), MESSAGES));
    tokio::time::sleep(Duration::from_millis(300)).await;

    for i in 0..MESSAGES {
        let appended = a
            .request(reqwest::Method::POST, "chat/shared")
            .header("content-type", "application/json")
            .body(json!({ "i": i }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(appended.status(), 204);
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let expected: Vec<Value> = (0..MESSAGES).map(|i| json!({ "i": i })).collect();
    let deadline = Duration::from_secs(30);
    let sse = tokio::time::timeout(deadline, sse).await.expect("SSE reader finishes").unwrap();
    assert_eq!(sse, expected, "SSE on instance B");
    let long_poll = tokio::time::timeout(deadline, long_poll).await.expect("long-poll reader finishes").unwrap();
    assert_eq!(long_poll, expected, "long-poll on instance B");

    let _ = b_stop.send(());
    b_task.await.unwrap().unwrap();
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_one_instance_wakes_for_an_append_on_another() {
    let a = stream_support::start(StorageKind::Postgres, |c| c.long_poll_timeout_ms = 20_000).await;
    let (b_addr, b_stop, b_task) =
        stream_support::serve(a.database.url(), StorageKind::Postgres, a.data.path().join("b"), |c| {
            c.long_poll_timeout_ms = 20_000
        })
        .await;
    let created = a.request(reqwest::Method::PUT, "wake").header("content-type", "text/plain").send().await.unwrap();
    let tail = created.headers()["stream-next-offset"].to_str().unwrap().to_owned();

    let url = format!("http://{b_addr}/v1/stream/wake?offset={tail}&live=long-poll");
    let waiting = tokio::spawn(a.client.get(url).bearer_auth(&a.token).send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let appended = a
        .request(reqwest::Method::POST, "wake")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(appended.status(), 204);
    let woken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("woken well before the timeout")
        .unwrap()
        .unwrap();
    println!("long-poll on B woke {:?} after the append on A returned", started.elapsed());
    assert_eq!(woken.status(), 200);
    assert_eq!(woken.text().await.unwrap(), "hello");

    let _ = b_stop.send(());
    b_task.await.unwrap().unwrap();
    a.stop().await;
}
