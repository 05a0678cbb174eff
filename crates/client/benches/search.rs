//! The search index on the corpus issue 17 names: 1,000 conversations of 50 messages.
//! Prints how long building the index takes, query times (p50, p99) for a few kinds of
//! query, and the memory the index holds. Numbers only: timing is not asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use superset_chat::{Chunk, ChunkRecord, Conversation, Event, Role};
use superset_client::search::Index;

/// Counts the bytes allocated and not yet freed, to measure the index.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CHATS: usize = 1_000;
const MESSAGES: usize = 50;
const WORDS: &[&str] = &[
    "the",
    "a",
    "of",
    "to",
    "and",
    "rust",
    "borrow",
    "checker",
    "lifetime",
    "trait",
    "async",
    "await",
    "future",
    "tokio",
    "server",
    "client",
    "message",
    "stream",
    "offset",
    "reply",
    "question",
    "answer",
    "because",
    "however",
    "function",
    "value",
    "reference",
    "compile",
    "error",
    "warning",
    "café",
    "naïve",
    "Zürich",
    "été",
    "window",
    "sidebar",
    "search",
    "index",
    "memory",
    "benchmark",
    "thread",
    "mutex",
    "channel",
    "buffer",
    "vector",
];

/// A small deterministic generator (xorshift), so every run indexes the same text.
struct Words(u64);

impl Words {
    fn next(&mut self) -> &'static str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        WORDS[(self.0 % WORDS.len() as u64) as usize]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words).map(|_| self.next()).collect::<Vec<_>>().join(" ")
    }
}

fn corpus() -> Vec<(String, String, Conversation)> {
    let mut words = Words(0x2545_f491_4f6c_dd1d);
    (0..CHATS)
        .map(|c| {
            let events: Vec<Event> = (0..MESSAGES)
                .map(|m| {
                    let role = if m % 2 == 0 { Role::User } else { Role::Assistant };
                    // Questions are short, replies longer: about 250 bytes a message on average.
                    let text = words.sentence(if role == Role::User { 12 } else { 55 });
                    let text = if c == 917 && m == 33 { format!("{text} the quokka password") } else { text };
                    Event::Chunk {
                        record: ChunkRecord {
                            message_id: format!("m{m}"),
                            actor_id: "u1".into(),
                            role,
                            seq: 0,
                            chunk: Chunk::WholeMessage { content: text },
                            parent_id: None,
                            model: None,
                            created_at: format!("2026-01-01T{:02}:{:02}:00Z", c / 60 % 24, c % 60),
                        },
                        txid: None,
                    }
                })
                .collect();
            (format!("chat-{c}"), words.sentence(5), Conversation::from_events(&events))
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let corpus = corpus();
    let text_bytes: usize = corpus.iter().flat_map(|(_, _, c)| &c.messages).map(|m| m.text.len()).sum();
    println!("corpus: {CHATS} conversations x {MESSAGES} messages, {:.1} MB of text", text_bytes as f64 / 1e6);

    let before = LIVE.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut index = Index::default();
    for (id, title, conversation) in &corpus {
        index.put(id, Some(title), conversation);
    }
    let built = started.elapsed();
    let memory = LIVE.load(Ordering::Relaxed).saturating_sub(before);
    println!("index build: {built:.1?}; memory: {:.1} MB", memory as f64 / 1e6);

    let queries = [
        ("common word (stops at the limit)", "rust"),
        ("accented, any case", "ZÜRICH"),
        ("one match in the last chats", "quokka password"),
        ("no match (scans everything)", "xylophone"),
        ("one letter", "e"),
    ];
    for (what, query) in queries {
        let mut times: Vec<Duration> = (0..50)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(index.query(query, 50));
                started.elapsed()
            })
            .collect();
        times.sort();
        let hits = index.query(query, 50).len();
        println!(
            "query {query:?} ({what}): {hits} hits, p50 {:.2?}, p99 {:.2?}",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
}
