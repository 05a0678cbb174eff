//! The app's footprint, measured on the shipping build in the real window (issue 19):
//! start-up times, the memory of the app and its WebKit processes at rest, with a
//! 200-message chat rendered and scrolled, with a 500-turn chat open (and how long that
//! chat takes to show its last screen after the click), after a long idle, and the
//! package's sizes. Printed as one table (also written to `window-footprint.md` in the
//! test's target tmp dir) for the README's Benchmarks section; nothing is asserted on
//! the figures. Run with `--no-capture` to see it.
//!
//! `SUPERSET_FOOTPRINT_IDLE_MINUTES` sets the long idle (the issue asks for 10); CI
//! leaves it at 0 and the table says that figure was not measured.

use std::fmt::Write as _;
use std::time::SystemTime;

use super::*;

const IDLE_MINUTES: &str = "SUPERSET_FOOTPRINT_IDLE_MINUTES";

/// A reply as in the issue: four short paragraphs and a code block, in the three
/// deltas an assistant might stream it in (few, to stay within a user's request rate).
fn reply(turn: usize) -> [String; 3] {
    let paragraph = |p: usize| {
        format!("Paragraph {p} of answer {turn}: a few short sentences about the question, a line or two.\n\n")
    };
    [
        format!("{}{}", paragraph(1), paragraph(2)),
        format!("{}{}", paragraph(3), paragraph(4)),
        format!("```rust\nlet answer = {turn};\nprintln!(\"{{answer}}\");\n```\n\nEnd of answer {turn}."),
    ]
}

/// Writes a chat of `turns` questions and answers through the streams server's chat
/// API, as the app's own writes would have; returns its title.
async fn write_chat(stack: &Stack, token: &str, title: &str, turns: usize) -> String {
    let http = reqwest::Client::new();
    let id = uuid::Uuid::new_v4().to_string();
    let session = format!("{}/v1/sessions/{id}", stack.streams);
    let send = |method: reqwest::Method, url: String, body: serde_json::Value| {
        let request = http.request(method, url).bearer_auth(token).json(&body);
        async move {
            loop {
                let answer = request.try_clone().unwrap().send().await.unwrap();
                match answer.status().as_u16() {
                    // Over the user's request rate: wait, as a client does.
                    429 => tokio::time::sleep(Duration::from_millis(500)).await,
                    200..=299 => return,
                    status => panic!("{status}: {}", answer.text().await.unwrap()),
                }
            }
        }
    };
    send(reqwest::Method::PUT, session.clone(), json!({})).await;
    send(reqwest::Method::PATCH, session.clone(), json!({"title": title})).await;
    let mut parent: Option<String> = None;
    for turn in 0..turns {
        let (question, answer) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        let asked = json!({"content": format!("Question {turn}: how does this work?"), "messageId": question,
            "parentId": parent});
        send(reqwest::Method::POST, format!("{session}/messages"), asked).await;
        for (seq, delta) in reply(turn).into_iter().enumerate() {
            let mut chunk = json!({"messageId": answer, "role": "assistant",
                "chunk": {"type": "text-delta", "delta": delta}});
            if seq == 0 {
                chunk["parentId"] = json!(question);
            }
            send(reqwest::Method::POST, format!("{session}/chunks"), chunk).await;
        }
        let end = json!({"messageId": answer, "role": "assistant", "chunk": {"type": "message-end"}});
        send(reqwest::Method::POST, format!("{session}/chunks"), end).await;
        parent = Some(answer);
    }
    title.to_owned()
}

/// When the process started, from /proc (to the clock tick).
fn process_start(pid: u32) -> SystemTime {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ticks: u64 = stat.rsplit_once(") ").unwrap().1.split(' ').nth(19).unwrap().parse().unwrap();
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // USER_HZ is 100 on Linux.
    SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + Duration::from_millis(ticks * 10)
}

/// The app tauri-driver `driver` started (waits for it).
async fn app_pid(driver: u32) -> u32 {
    let started = Instant::now();
    loop {
        if let Some(app) = ProcessTree::read().app(driver) {
            return app;
        }
        assert!(started.elapsed() < WAIT, "the app never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When the log first held `count` lines with `mark` (polled every 10 ms).
async fn logged(log: &Path, mark: &str, count: usize) -> SystemTime {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().filter(|l| l.contains(mark)).count() >= count {
            return SystemTime::now();
        }
        assert!(started.elapsed() < WAIT, "the app never logged {mark:?} ({count} times); log: {}", log.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When `xpath` was first found (polled as fast as WebDriver answers).
async fn shown(client: &Client, xpath: &str) -> SystemTime {
    let started = Instant::now();
    loop {
        if client.find(Locator::XPath(xpath)).await.is_ok() {
            return SystemTime::now();
        }
        assert!(started.elapsed() < WAIT, "the window never showed {xpath}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// When the page's navigation started, and when it reached each of the UI's start-up
/// marks (`performance.mark`): which part of the start-up is WebKit's, which the page's.
async fn page_marks(client: &Client) -> Vec<(&'static str, SystemTime)> {
    const MARKS: [(&str, &str); 4] = [
        ("start:script", "the UI's script starts"),
        ("start:listening", "the UI listens to the shell's events"),
        ("start:configured", "the UI has the shell's configuration"),
        ("start:laid-out", "the first screen is laid out"),
    ];
    let script = r#"
        const at = (name) => performance.timeOrigin + performance.getEntriesByName(name)[0].startTime;
        return [performance.timeOrigin, ...arguments[0].map(at)];
    "#;
    let names: Vec<_> = MARKS.iter().map(|(name, _)| name).collect();
    let times = client.execute(script, vec![json!(names)]).await.unwrap();
    let at = |i: usize| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(times[i].as_f64().unwrap() / 1000.0);
    let marks = MARKS.iter().enumerate().map(|(i, (_, what))| (*what, at(i + 1)));
    std::iter::once(("the page's navigation starts", at(0))).chain(marks).collect()
}

/// Clicks a chat in the list and measures, in the page, the time until its last message
/// ends inside the view (checked before each frame is painted).
async fn open_and_time(client: &Client, title: &str, last_words: &str) -> f64 {
    let script = r#"
        const [title, lastWords, done] = arguments;
        const chat = [...document.querySelectorAll('button.session-open')].find((b) => b.textContent.includes(title));
        const clicked = performance.now();
        chat.click();
        const check = () => {
            const view = document.querySelector('.messages-scroll');
            const items = view ? view.querySelectorAll('li.message') : [];
            const last = items[items.length - 1];
            if (last && last.textContent.includes(lastWords)) {
                const box = last.getBoundingClientRect();
                const frame = view.getBoundingClientRect();
                if (box.bottom <= frame.bottom + 1 && box.bottom > frame.top) return done(performance.now() - clicked);
            }
            requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
    "#;
    let ms = client.execute_async(script, vec![json!(title), json!(last_words)]).await.unwrap();
    ms.as_f64().unwrap()
}

/// Scrolls the open chat to its top a screen at a time and back to the bottom.
async fn scroll_through(client: &Client) {
    let script = r#"
        const [done] = arguments;
        const view = document.querySelector('.messages-scroll');
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        (async () => {
            while (view.scrollTop > 0) { view.scrollTop -= view.clientHeight; await frame(); await frame(); }
            while (view.scrollTop + view.clientHeight < view.scrollHeight - 1) {
                view.scrollTop += view.clientHeight; await frame(); await frame();
            }
            done(document.querySelectorAll('.messages-scroll li.message').length);
        })();
    "#;
    let rendered = client.execute_async(script, vec![]).await.unwrap();
    eprintln!("scrolled through the chat; messages in the page at the end: {rendered}");
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn since(start: SystemTime, end: SystemTime) -> String {
    format!("{} ms", end.duration_since(start).unwrap_or_default().as_millis())
}

/// The `.deb`'s size (and its binary's), and the size it declares installed
/// (`Installed-Size`, KiB).
fn package_sizes() -> (String, String) {
    let deb = built_deb();
    let size = std::fs::metadata(&deb).unwrap().len();
    let field = Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Installed-Size").output().unwrap();
    let installed: u64 = String::from_utf8_lossy(&field.stdout).trim().parse().unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let binary = std::fs::metadata(unpacked_deb(dir.path()).join("usr/bin/superset-desktop")).unwrap().len();
    (format!("{} (binary {})", mib(size / 1024), mib(binary / 1024)), mib(installed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn footprint_of_the_release_build_in_the_real_window() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (display, _xvfb) = display();
    let stack = Stack::start().await;
    let home = tempfile::tempdir().unwrap();
    let opened = home.path().join("opened-urls");
    let log = home.path().join("app.log");
    let port = free_port();
    let mut command = driver_command(port, &display, home.path(), &stack, &opened, &[("RUST_LOG", "info")]);
    let driver = Killed(command.stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap());
    let driver_pid = driver.0.id();
    let mut table: Vec<(String, String)> = vec![];
    let mut row = |what: &str, value: String| table.push((what.to_owned(), value));

    // First launch: sign in; then two chats are written into the streams.
    let client = launch(port).await;
    wait_for(&client, &button("Sign in with your browser")).await.click().await.unwrap();
    signed_in_through_loopback(&client, &opened).await;
    client.close().await.unwrap();
    let token = stack.only_session_token().await;
    let medium = write_chat(&stack, &token, "Two hundred messages", 100).await;
    let long = write_chat(&stack, &token, "Five hundred turns", 500).await;

    // Second launch, signed in: from the process's start to the UI's first paint and to
    // the chat screen with the chats listed.
    let client = launch(port).await;
    let start = process_start(app_pid(driver_pid).await);
    let painted = logged(&log, "ui_ready", 2).await;
    let listed = format!("//button[contains(@class,'session-open')][contains(normalize-space(),'{long}')]");
    let usable = shown(&client, &listed).await.max(shown(&client, "//textarea[@aria-label='Message']").await);
    for (what, at) in page_marks(&client).await {
        row(&format!("process start: {what}"), since(start, at));
    }
    row("process start to first paint of the UI (`ui_ready`)", since(start, painted));
    row("process start to the signed-in chat screen, chats listed", since(start, usable));
    tokio::time::sleep(Duration::from_secs(3)).await;
    row("PSS idle after sign-in", mib(app_pss_kib(driver_pid)));

    let ms = open_and_time(&client, &medium, "End of answer 99.").await;
    scroll_through(&client).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    screenshot(&client, "footprint-200-messages").await;
    row("200-message chat: click to its last message on screen", format!("{ms:.0} ms"));
    row("PSS after the 200-message chat was rendered and scrolled", mib(app_pss_kib(driver_pid)));

    let ms = open_and_time(&client, &long, "End of answer 499.").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    screenshot(&client, "footprint-500-turns").await;
    row("500-turn chat: click to its last message on screen", format!("{ms:.0} ms"));
    row("PSS with the 500-turn chat open", mib(app_pss_kib(driver_pid)));

    let idle: u64 = std::env::var(IDLE_MINUTES).ok().and_then(|m| m.parse().ok()).unwrap_or(0);
    if idle > 0 {
        tokio::time::sleep(Duration::from_secs(idle * 60)).await;
        row(&format!("PSS after {idle} min idle"), mib(app_pss_kib(driver_pid)));
    } else {
        eprintln!("\n*** THE LONG IDLE WAS NOT MEASURED: set {IDLE_MINUTES}=10 for the issue's figure ***\n");
        row("PSS after a long idle", format!("NOT MEASURED (set {IDLE_MINUTES}=10)"));
    }
    let (deb, installed) = package_sizes();
    row(".deb size", deb);
    row("installed size (`Installed-Size`)", installed);
    client.close().await.unwrap();
    print_table(&table);
}

fn print_table(rows: &[(String, String)]) {
    let mut text = String::from("| shipping build under Xvfb | measured |\n| --- | --- |\n");
    for (what, value) in rows {
        writeln!(text, "| {what} | {value} |").unwrap();
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("window-footprint.md");
    std::fs::write(&path, &text).unwrap();
    eprintln!("\nfootprint ({}):\n{text}", path.display());
}
