//! The file store under `kill -9`: the real server binary takes concurrent appends, is
//! killed mid-way, and restarted on the same data directory. Every append it
//! acknowledged must be there, byte for byte, in order; nothing half-written may show;
//! and further restarts must change nothing. Small segments and streams created and
//! deleted meanwhile keep compaction running while it is killed (each of its crash
//! points is also recovered one by one in `store::file::compact`'s tests).

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use superset_auth_db::AuthDb;
use superset_testkit::{user_with_session, TestDatabase};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const WRITERS: usize = 16;

/// The server binary, started on `database_url` with its stream data in `data_dir`.
async fn start(database_url: &str, data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_superset-streams"))
        .env("DATABASE_URL", database_url)
        .env("STREAMS_PORT", "0")
        .env("STREAMS_DATA_DIR", data_dir)
        .env("STREAMS_SEGMENT_BYTES", "65536")
        .env("RUST_LOG", "warn,superset_streams::store::file=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the server starts within 30 s")
        .unwrap()
        .expect("a listening line");
    let url = line.strip_prefix("listening on ").expect("listening on http://...").to_owned();
    (child, url)
}

/// One writer's message `n`: unique, self-delimiting, and long enough (~200 bytes)
/// that a torn write would show.
fn message(writer: usize, n: usize) -> String {
    format!("<w{writer:02}-{n:06}:{}>", "x".repeat(180))
}

/// Reads the whole stream by following `Stream-Next-Offset`.
async fn read_all(client: &reqwest::Client, url: &str, token: &str) -> Vec<u8> {
    let mut data = Vec::new();
    let mut offset = "-1".to_owned();
    loop {
        let response = client.get(format!("{url}?offset={offset}")).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let next = response.headers()["stream-next-offset"].to_str().unwrap().to_owned();
        let up_to_date = response.headers().contains_key("stream-up-to-date");
        data.extend_from_slice(&response.bytes().await.unwrap());
        if up_to_date {
            return data;
        }
        offset = next;
    }
}

fn position(offset: &str) -> usize {
    offset.rsplit('_').next().unwrap().parse().unwrap()
}

/// Splits the stream into its messages, failing on anything torn or foreign.
fn messages(data: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(data).expect("stream is text");
    assert!(text.is_empty() || (text.starts_with('<') && text.ends_with('>')), "stream ends in a torn message");
    text.split_inclusive('>')
        .map(|m| {
            let writer_and_n = m.strip_prefix('<').and_then(|m| m.split(':').next()).expect("well-formed message");
            let (writer, n) = writer_and_n.strip_prefix('w').unwrap().split_once('-').unwrap();
            let expected = message(writer.parse().unwrap(), n.parse().unwrap());
            assert_eq!(m, expected, "a message was damaged");
            m.to_owned()
        })
        .collect()
}

/// Creates and deletes streams of 32 KiB until the server is gone, so there is always
/// something to compact.
async fn churn(client: reqwest::Client, url: String, token: String) {
    for n in 0.. {
        let stream = format!("{url}/{n}");
        let created = client
            .put(&stream)
            .bearer_auth(&token)
            .header("content-type", "text/plain")
            .body(vec![b'c'; 32 << 10])
            .send()
            .await;
        let deleted = client.delete(&stream).bearer_auth(&token).send().await;
        if !matches!((created, deleted), (Ok(c), Ok(d)) if c.status() == 201 && d.status() == 204) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_sigkill_and_restarts_change_nothing() {
    let database = TestDatabase::sqlite();
    let data_dir = tempfile::tempdir().unwrap();
    let db = AuthDb::connect(&database.database_url()).await.unwrap();
    let (_, token) = user_with_session(&db, "crash@example.com").await;
    let client = reqwest::Client::new();

    let (mut server, base) = start(database.url(), data_dir.path()).await;
    let url = format!("{base}/v1/stream/crash/log");
    let created = client.put(&url).bearer_auth(&token).header("content-type", "text/plain").send().await.unwrap();
    assert_eq!(created.status(), 201);

    // (writer, n, offset after the message) of every acknowledged append.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (client, url, token, acknowledged) = (client.clone(), url.clone(), token.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let sent = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "text/plain")
                    .body(message(writer, n))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 204 => {
                        let offset = r.headers()["stream-next-offset"].to_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().push((writer, n, offset));
                    }
                    _ => return,
                }
            }
        }));
    }
    writers.push(tokio::spawn(churn(client.clone(), format!("{base}/v1/stream/crash/churn"), token.clone())));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.start_kill().expect("SIGKILL the server");
    server.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > WRITERS, "the writers got going before the kill ({} acks)", acknowledged.len());

    // A write the kill cut short: half a frame at the end of the log.
    let segment = std::fs::read_dir(data_dir.path().join("log")).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let mut torn = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    std::io::Write::write_all(&mut torn, &[0x40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, b'<', b'w']).unwrap();
    drop(torn);

    let (mut server, base) = start(database.url(), data_dir.path()).await;
    let url = format!("{base}/v1/stream/crash/log");
    let data = read_all(&client, &url, &token).await;
    let first_segment = std::fs::read_dir(data_dir.path().join("log"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".seg")?.parse::<u32>().ok())
        .min()
        .unwrap();
    assert!(first_segment > 1, "compaction replaced the first segments before the kill");
    let stored = messages(&data);
    for (writer, n, offset) in &acknowledged {
        let expected = message(*writer, *n);
        let end = position(offset);
        assert!(
            data[..end].ends_with(expected.as_bytes()),
            "acknowledged append w{writer}-{n} is not where its offset says"
        );
    }
    for writer in 0..WRITERS {
        let ns: Vec<usize> = stored
            .iter()
            .filter(|m| m.starts_with(&format!("<w{writer:02}-")))
            .map(|m| m[5..11].parse().unwrap())
            .collect();
        assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "writer {writer}'s appends are in order, none missing");
    }
    println!(
        "{} appends acknowledged before the kill, {} stored; the log starts at segment {first_segment}",
        acknowledged.len(),
        stored.len()
    );

    // An acknowledged stream still takes appends after the crash.
    let after = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(message(99, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 204);
    let data = read_all(&client, &url, &token).await;
    server.start_kill().unwrap();
    server.wait().await.unwrap();

    let (mut server, base) = start(database.url(), data_dir.path()).await;
    let again = read_all(&client, &format!("{base}/v1/stream/crash/log"), &token).await;
    assert_eq!(again, data, "a second restart changed the stream");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}
