//! Updates end to end: the app built twice as the release builds it
//! (`scripts/build-desktop-linux`, signed updater artifacts), version A and a higher
//! version B, both trusting a key pair made here and reading their feed from a local
//! HTTP server. A's `.deb` is installed with dpkg, as a user's is, and runs in a real
//! window; then the feed offers, in turn:
//! - an older version: A says it is up to date and offers nothing;
//! - B's package under another key's signature: refused, A stays installed and running;
//! - B's package and signature announced as a higher version: refused (the signature
//!   names the version it was made for);
//! - B as released: A downloads, verifies and installs it (the updater runs `dpkg -i`
//!   through pkexec or sudo) and restarts, and the process running afterwards is B's
//!   binary.
//!
//! Installing a `.deb` takes root: the test runs as root (CI does) and otherwise says
//! loudly that it did nothing. It builds in the shared target dir and puts the shipping
//! build's binary and `.deb` back when it ends, for the other window tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{json, Value};

use super::{button, display, driver_command, failed, find, free_port, screenshot, wait_for, Killed, Stack, WAIT};

const INSTALLED: &str = "/usr/bin/superset-desktop";
const A: &str = "1.0.0";
const B: &str = "1.1.0";

/// Files served over HTTP on loopback, changed as the test goes; every request is noted.
#[derive(Clone, Default)]
struct Feed {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Feed {
    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: TcpListener) {
        let feed = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                while let Ok(n) = reader.read_line(&mut String::new()) {
                    if n <= 2 {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                feed.requests.lock().unwrap().push(path.clone());
                let body = feed.files.lock().unwrap().get(&path).cloned();
                let mut stream = &stream;
                let _ = match body {
                    Some(body) => {
                        write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                            .and_then(|()| stream.write_all(&body))
                    }
                    None => write!(stream, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                };
            }
        });
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), body);
    }

    /// `latest.json` offering `version`: `package` under `signature`.
    fn offer(&self, version: &str, package: &str, signature: &str) {
        let url = format!("{}{package}", self.base());
        let latest = json!({
            "version": version,
            "notes": format!("What changed in **{version}**."),
            "pub_date": "2026-11-30T12:00:00Z",
            "platforms": {"linux-x86_64-deb": {"signature": signature, "url": url}},
        });
        self.put("/latest.json", latest.to_string().into_bytes());
    }

    fn base(&self) -> String {
        let files = self.files.lock().unwrap();
        String::from_utf8(files.get("base").cloned().unwrap_or_default()).unwrap()
    }

    fn asked(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|p| *p == path).count()
    }
}

/// A minisign key pair made by the Tauri CLI, as docs/release.md makes the real one.
struct Keys {
    private: PathBuf,
    public: String,
}

fn keys(dir: &Path, name: &str) -> Keys {
    let private = dir.join(name);
    let status = Command::new("npx")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--no-install", "tauri", "signer", "generate", "--ci", "--password", "", "--write-keys"])
        .arg(&private)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "tauri signer generate failed (run npm ci at the repository root)");
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    Keys { private, public }
}

/// A build of the app: its `.deb` and the updater signature the build wrote for it.
struct Built {
    deb: PathBuf,
    signature: String,
}

/// Builds the app at `version`, trusting `keys` and reading `feed`, and signs its
/// updater artifact with `keys`, as a release does; the `.deb` moves into `dir`.
fn build(version: &str, keys: &Keys, feed: &str, dir: &Path) -> Built {
    let config = dir.join(format!("config-{version}.json"));
    let overrides = json!({
        "version": version,
        "plugins": {"updater": {
            "pubkey": keys.public,
            "endpoints": [format!("{feed}latest.json")],
            // The feed is on loopback, over plain HTTP; the signature is checked all the same.
            "dangerousInsecureTransportProtocol": true,
        }},
    });
    std::fs::write(&config, overrides.to_string()).unwrap();
    let log = dir.join(format!("build-{version}.log"));
    let output = std::fs::File::create(&log).unwrap();
    let started = Instant::now();
    let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-desktop-linux"))
        .arg("--config")
        .arg(&config)
        .env("CARGO_TARGET_DIR", target())
        .env("TAURI_SIGNING_PRIVATE_KEY", &keys.private)
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", "")
        .stdin(std::process::Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .status()
        .unwrap();
    assert!(status.success(), "building version {version} failed: see {}", log.display());
    eprintln!("built version {version} in {:.0?}", started.elapsed());
    let name = format!("Superset_{version}_amd64.deb");
    let built = bundles().join(&name);
    let deb = dir.join(&name);
    std::fs::rename(&built, &deb).unwrap();
    let signature = std::fs::read_to_string(built.with_extension("deb.sig")).unwrap();
    std::fs::remove_file(built.with_extension("deb.sig")).unwrap();
    Built { deb, signature }
}

fn target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().to_owned()
}

fn bundles() -> PathBuf {
    target().join("desktop/bundle/deb")
}

/// The shipping build's binary and `.deb`, put back when the test ends, for the other
/// window tests (which read them), however it ends.
struct Shipping {
    saved: PathBuf,
    files: Vec<PathBuf>,
}

impl Shipping {
    fn save(dir: &Path) -> Shipping {
        let saved = dir.join("shipping");
        std::fs::create_dir_all(&saved).unwrap();
        let mut files = vec![target().join("desktop/superset-desktop")];
        files.extend(std::fs::read_dir(bundles()).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()));
        for (i, file) in files.iter().enumerate() {
            std::fs::copy(file, saved.join(i.to_string())).unwrap();
        }
        Shipping { saved, files }
    }
}

impl Drop for Shipping {
    fn drop(&mut self) {
        for (i, file) in self.files.iter().enumerate() {
            let _ = std::fs::copy(self.saved.join(i.to_string()), file);
        }
        // The test's builds leave their staging folders beside the shipping .deb.
        for entry in std::fs::read_dir(bundles()).into_iter().flatten().flatten() {
            if entry.path().is_dir() && !entry.file_name().to_string_lossy().contains(env!("CARGO_PKG_VERSION")) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// The package, removed when the test ends.
struct Installed(String);

impl Installed {
    fn deb(deb: &Path) -> Installed {
        let name =
            String::from_utf8(Command::new("dpkg-deb").arg("-f").arg(deb).arg("Package").output().unwrap().stdout)
                .unwrap()
                .trim()
                .to_owned();
        let status = Command::new("dpkg").arg("-i").arg(deb).stdout(std::process::Stdio::null()).status().unwrap();
        assert!(status.success(), "dpkg -i {} failed", deb.display());
        Installed(name)
    }

    fn version(&self) -> String {
        let output = Command::new("dpkg-query").args(["-W", "-f", "${Version}", &self.0]).output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", &self.0]).stdout(std::process::Stdio::null()).status();
    }
}

/// The binary a `.deb` installs at INSTALLED.
fn packaged_binary(deb: &Path, dir: &Path) -> Vec<u8> {
    let root = dir.join(deb.file_stem().unwrap());
    let status = Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root).status().unwrap();
    assert!(status.success());
    std::fs::read(root.join(INSTALLED.trim_start_matches('/'))).unwrap()
}

/// Processes running the installed app: pid and where `/proc/PID/exe` points
/// (`… (deleted)` once the file it started from was replaced).
fn running_app() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let exe = std::fs::read_link(e.path().join("exe")).ok()?.to_string_lossy().into_owned();
            exe.starts_with(INSTALLED).then_some((pid, exe))
        })
        .collect()
}

/// Invokes one of the app's commands from its page, as its UI does.
async fn invoke(client: &Client, command: &str) -> Value {
    let script = "const done = arguments[arguments.length - 1];
        window.__TAURI_INTERNALS__.invoke(arguments[0]).then(done, (e) => done({ failed: e }));";
    client.execute_async(script, vec![json!(command)]).await.unwrap()
}

async fn banner_text(client: &Client) -> String {
    let banner = wait_for(client, "//*[@data-testid='update-banner']").await;
    banner.text().await.unwrap()
}

/// Waits until the banner says `text`.
async fn banner_says(client: &Client, text: &str) -> String {
    let started = Instant::now();
    loop {
        let shown = banner_text(client).await;
        if shown.contains(text) {
            return shown;
        }
        if started.elapsed() > WAIT {
            failed(client).await;
            panic!("the update banner never said {text:?}; it says {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn is_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_app_updates_itself_and_refuses_what_it_should() {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED: the update test installs the app's .deb system-wide and needs root. ***\n\
             *** Run it as root (CI does): sudo -E cargo nextest run --test window update ***\n"
        );
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    find("dpkg", "a Debian system");
    assert!(find_any(&["pkexec", "sudo"]), "the updater installs a .deb through pkexec or sudo: apt-get install sudo");
    let dir = tempfile::tempdir().unwrap();
    let _shipping = Shipping::save(dir.path());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let feed = Feed::default();
    feed.put("base", base.clone().into_bytes());
    feed.serve(listener);

    let trusted = keys(dir.path(), "trusted.key");
    let other = keys(dir.path(), "other.key");
    let a = build(A, &trusted, &base, dir.path());
    let b = build(B, &trusted, &base, dir.path());
    assert!(
        b.signature.len() > 100 && a.signature != b.signature,
        "the build signs its updater artifact (bundle.createUpdaterArtifacts)"
    );
    let b_binary = packaged_binary(&b.deb, dir.path());
    assert_ne!(packaged_binary(&a.deb, dir.path()), b_binary, "A and B differ");
    feed.put("/b.deb", std::fs::read(&b.deb).unwrap());
    // B's package signed with a key the app does not trust.
    let forged = sign(&b.deb, &other, dir.path());

    // An older version in the feed from the start: the check at start ignores it.
    feed.offer("0.9.0", "b.deb", &b.signature);
    let package = Installed::deb(&a.deb);
    assert_eq!(package.version(), A);

    let (display, _xvfb) = display();
    let stack = Stack::start().await;
    let (bus, _bus) = super::session_bus(dir.path());
    let port = free_port();
    let env = [("DBUS_SESSION_BUS_ADDRESS", bus.as_str()), ("RUST_LOG", "info,tauri_plugin_updater=debug")];
    let opened = dir.path().join("opened");
    let _driver = Killed(driver_command(port, &display, dir.path(), &stack, &opened, &env).spawn().unwrap());
    let client = super::launch_app(port, Path::new(INSTALLED)).await;
    wait_for(&client, &button("Sign in with your browser")).await;
    let started = running_app();
    assert_eq!(started.len(), 1, "one app process: {started:?}");
    let (a_pid, _) = started[0];

    let status = wait_for_check(&client, &feed).await;
    assert_eq!(status["current"], A);
    assert_eq!(status["available"], Value::Null, "an older version is not an update: {status}");
    assert!(client.find(fantoccini::Locator::XPath("//*[@data-testid='update-banner']")).await.is_err());

    // B, signed by a key the app does not trust.
    feed.offer(B, "b.deb", &forged);
    let status = invoke(&client, "check_for_update").await;
    assert_eq!(status["available"]["version"], B, "{status}");
    let shown = banner_text(&client).await;
    assert!(shown.contains(&format!("Version {B} is available.")), "{shown}");
    screenshot(&client, "update-available").await;
    wait_for(&client, &button("Install and restart")).await.click().await.unwrap();
    let refused = banner_says(&client, "isn't signed by Superset's release key").await;
    assert!(refused.contains(&format!("You're still on {A}")), "{refused}");
    assert!(client.find(fantoccini::Locator::XPath(&button("Try again"))).await.is_err(), "a forgery is not retried");
    screenshot(&client, "update-refused").await;
    assert_eq!(package.version(), A, "nothing was installed");
    assert_eq!(running_app(), vec![(a_pid, INSTALLED.to_owned())], "A still runs, from its own file");

    // B's real package and signature, announced as a version it is not.
    feed.offer("1.2.0", "b.deb", &b.signature);
    invoke(&client, "check_for_update").await;
    wait_for(&client, &button("Install and restart")).await.click().await.unwrap();
    banner_says(&client, "isn't signed by Superset's release key").await;
    assert_eq!(package.version(), A, "nothing was installed");

    // B as released.
    feed.offer(B, "b.deb", &b.signature);
    invoke(&client, "check_for_update").await;
    let downloads = feed.asked("/b.deb");
    wait_for(&client, &button("Install and restart")).await.click().await.unwrap();
    let started = Instant::now();
    let b_pid = loop {
        let running = running_app();
        if let Some(&(pid, _)) = running.iter().find(|(pid, exe)| *pid != a_pid && exe == INSTALLED) {
            if !running.iter().any(|(pid, _)| *pid == a_pid) {
                break pid;
            }
        }
        assert!(started.elapsed() < WAIT, "no restart into the new version; running: {running:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(feed.asked("/b.deb"), downloads + 1, "B was downloaded once more");
    assert_eq!(package.version(), B, "dpkg installed B");
    let running = std::fs::read(format!("/proc/{b_pid}/exe")).unwrap();
    assert!(running == b_binary, "the process running after the restart is B's binary");
    // It keeps running (a crash at start would end it here).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(Path::new(&format!("/proc/{b_pid}")).exists(), "B exited right after starting");
    let _ = client.close().await;
    let _ = Command::new("kill").arg(b_pid.to_string()).status();
}

/// Waits for the app's first check of the feed (at start) and returns its status.
async fn wait_for_check(client: &Client, feed: &Feed) -> Value {
    let started = Instant::now();
    loop {
        let status = invoke(client, "update_status").await;
        if !status["checkedAt"].is_null() {
            assert!(feed.asked("/latest.json") >= 1);
            return status;
        }
        assert!(started.elapsed() < WAIT, "the app never checked its feed at start: {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Signs `file` with `keys` (`tauri signer sign`), as the bundler signs an artifact.
fn sign(file: &Path, keys: &Keys, dir: &Path) -> String {
    let copy = dir.join("forged.deb");
    std::fs::copy(file, &copy).unwrap();
    let status = Command::new("npx")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--no-install", "tauri", "signer", "sign", "--password", "", "--app-version", B, "--private-key-path"])
        .arg(&keys.private)
        .arg(&copy)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "tauri signer sign failed");
    std::fs::read_to_string(copy.with_extension("deb.sig")).unwrap()
}

fn find_any(programs: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| programs.iter().any(|p| dir.join(p).is_file()))
}
