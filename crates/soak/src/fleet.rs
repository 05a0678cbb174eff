//! The processes under test: one auth server and three streams servers on one
//! PostgreSQL database, HAProxy in front (deploy/haproxy.cfg). The soak starts them,
//! kills and restarts streams servers, and reads each one's CPU time and memory from
//! /proc.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};
use url::Url;

pub const STREAMS_INSTANCES: usize = 3;
/// How long a server gets to start (migrations included) or to stop on SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Linux's USER_HZ, the unit of /proc/PID/stat's CPU times, on every architecture
/// the project builds for.
const TICKS_PER_SECOND: f64 = 100.0;

pub struct Binaries {
    pub api: PathBuf,
    pub streams: PathBuf,
    pub haproxy_config: PathBuf,
    pub database_url: String,
    pub logs: PathBuf,
}

/// One process the soak runs, across its restarts.
struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Probed (direct, not through HAProxy) until it answers 200.
    ready_url: Url,
    child: Option<Child>,
    /// CPU time of the incarnations that were killed.
    cpu_before: Duration,
    rss_peak_kib: u64,
    starts: u32,
}

/// One process's resource use, for the report.
pub struct Usage {
    pub name: String,
    pub cpu: Duration,
    pub rss_kib: u64,
    pub rss_peak_kib: u64,
    pub starts: u32,
}

pub struct Fleet {
    /// HAProxy's front for the streams servers, and for the auth server.
    pub streams_url: Url,
    pub auth_url: Url,
    /// Each streams instance, bypassing HAProxy.
    pub direct: Vec<Url>,
    processes: Vec<Process>,
    http: reqwest::Client,
    logs: PathBuf,
}

/// A free loopback port; the servers are given explicit ports so that a restarted
/// instance comes back where HAProxy expects it.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn url(port: u16, path: &str) -> Url {
    Url::parse(&format!("http://127.0.0.1:{port}{path}")).expect("a valid URL")
}

impl Fleet {
    pub async fn start(bin: &Binaries) -> anyhow::Result<Fleet> {
        std::fs::create_dir_all(&bin.logs)?;
        let lb_streams = free_port()?;
        let lb_auth = free_port()?;
        let api = free_port()?;
        let streams: Vec<u16> = (0..STREAMS_INSTANCES).map(|_| free_port()).collect::<Result<_, _>>()?;
        let db = ("DATABASE_URL".to_owned(), bin.database_url.clone());
        let log_level = ("RUST_LOG".to_owned(), "warn".to_owned());

        let mut processes = Vec::new();
        for (i, port) in streams.iter().enumerate() {
            processes.push(Process::new(format!("streams-{}", i + 1), &bin.streams, url(*port, "/health/ready")).env(
                [
                    db.clone(),
                    log_level.clone(),
                    ("STREAMS_HOST".into(), "127.0.0.1".into()),
                    ("STREAMS_PORT".into(), port.to_string()),
                    ("STREAMS_STORAGE".into(), "postgres".into()),
                    // Behind HAProxy every connection comes from it: the per-address
                    // caps would count all users as one (docs/deploy.md).
                    ("STREAMS_MAX_CONNECTIONS_PER_CLIENT".into(), "0".into()),
                    ("STREAMS_TRUSTED_PROXIES".into(), "127.0.0.1/32".into()),
                ],
            ));
        }
        processes.push(Process::new("auth".into(), &bin.api, url(api, "/health")).env([
            db,
            log_level,
            ("API_HOST".into(), "127.0.0.1".into()),
            ("API_PORT".into(), api.to_string()),
            ("API_PUBLIC_URL".into(), format!("http://127.0.0.1:{lb_auth}")),
            ("SUPERSET_DEV_LOGIN".into(), "1".into()),
            ("API_TRUSTED_PROXIES".into(), "127.0.0.1/32".into()),
            ("API_MAX_CONNECTIONS_PER_CLIENT".into(), "0".into()),
        ]));
        let mut haproxy_env = vec![
            ("LB_STREAMS_BIND".to_owned(), format!("127.0.0.1:{lb_streams}")),
            ("LB_AUTH_BIND".to_owned(), format!("127.0.0.1:{lb_auth}")),
            ("API_1".to_owned(), format!("127.0.0.1:{api}")),
        ];
        for (i, port) in streams.iter().enumerate() {
            haproxy_env.push((format!("STREAMS_{}", i + 1), format!("127.0.0.1:{port}")));
        }
        let mut haproxy = Process::new("haproxy".into(), &PathBuf::from("haproxy"), url(lb_streams, "/health/ready"))
            .env(haproxy_env);
        haproxy.args = vec!["-db".into(), "-f".into(), bin.haproxy_config.display().to_string()];

        let mut fleet = Fleet {
            streams_url: url(lb_streams, "/"),
            auth_url: url(lb_auth, "/"),
            direct: streams.iter().map(|port| url(*port, "/")).collect(),
            processes: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?,
            logs: bin.logs.clone(),
        };
        // The first streams instance migrates alone, so the others start on a ready schema.
        for process in processes {
            fleet.processes.push(process);
            let last = fleet.processes.len() - 1;
            fleet.spawn(last)?;
            if last == 0 {
                fleet.wait_ready(0).await?;
            }
        }
        for i in 0..fleet.processes.len() {
            fleet.wait_ready(i).await?;
        }
        fleet.processes.push(haproxy);
        let last = fleet.processes.len() - 1;
        fleet.spawn(last)?;
        fleet.wait_ready(last).await?;
        Ok(fleet)
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let process = &mut self.processes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{}.log", process.name)))?;
        let child = Command::new(&process.program)
            .args(&process.args)
            .envs(process.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", process.program.display()))?;
        process.child = Some(child);
        process.starts += 1;
        Ok(())
    }

    async fn wait_ready(&mut self, i: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if self.is_ready(i).await {
                return Ok(());
            }
            let process = &mut self.processes[i];
            if let Some(status) = process.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("{} exited with {status} while starting (see its log)", process.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} was not ready within {START_TIMEOUT:?}", self.processes[i].name)
    }

    async fn is_ready(&self, i: usize) -> bool {
        let url = self.processes[i].ready_url.clone();
        self.http.get(url).send().await.is_ok_and(|r| r.status().is_success())
    }

    /// Waits until every streams instance, and HAProxy's view of them, answer ready.
    pub async fn wait_all_ready(&mut self) -> anyhow::Result<()> {
        for i in 0..self.processes.len() {
            self.wait_ready(i).await?;
        }
        Ok(())
    }

    /// SIGKILL to streams instance `n` (0-based), and wait for it to be gone.
    pub async fn kill_streams(&mut self, n: usize) -> anyhow::Result<()> {
        let process = &mut self.processes[n];
        let cpu = process.sample().0;
        let mut child = process.child.take().context("the instance is not running")?;
        child.start_kill()?;
        child.wait().await?;
        process.cpu_before += cpu;
        Ok(())
    }

    pub async fn restart_streams(&mut self, n: usize) -> anyhow::Result<()> {
        self.spawn(n)?;
        self.wait_ready(n).await
    }

    /// Reads every process's memory, keeping the peaks; call it now and then.
    pub fn sample(&mut self) {
        for process in &mut self.processes {
            process.sample();
        }
    }

    pub fn usage(&mut self) -> Vec<Usage> {
        self.processes
            .iter_mut()
            .map(|p| {
                let (cpu, rss) = p.sample();
                Usage {
                    name: p.name.clone(),
                    cpu: p.cpu_before + cpu,
                    rss_kib: rss,
                    rss_peak_kib: p.rss_peak_kib,
                    starts: p.starts,
                }
            })
            .collect()
    }

    /// SIGTERM to everything, HAProxy first; SIGKILL what has not stopped in time.
    pub async fn stop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            let Some(mut child) = process.child.take() else { continue };
            if let Some(pid) = child.id() {
                let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            }
            if tokio::time::timeout(STOP_TIMEOUT, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

impl Process {
    fn new(name: String, program: &std::path::Path, ready_url: Url) -> Self {
        Process {
            name,
            program: program.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            ready_url,
            child: None,
            cpu_before: Duration::ZERO,
            rss_peak_kib: 0,
            starts: 0,
        }
    }

    fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    /// This incarnation's CPU time and resident memory (KiB), from /proc.
    fn sample(&mut self) -> (Duration, u64) {
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return (Duration::ZERO, 0);
        };
        let (cpu, rss, peak) = read_proc(pid).unwrap_or_default();
        self.rss_peak_kib = self.rss_peak_kib.max(peak).max(rss);
        (cpu, rss)
    }
}

/// CPU time (user + system), VmRSS and VmHWM (KiB) of a process.
fn read_proc(pid: u32) -> Option<(Duration, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Some((Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND), kib("VmRSS:"), kib("VmHWM:")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        // /proc counts CPU time in ticks (10 ms): on a loaded machine a short spin may
        // not be scheduled for a whole one, so spin until one is counted (or give up).
        let spin = Instant::now();
        let (cpu, rss, peak) = loop {
            std::hint::black_box(0);
            let read = read_proc(std::process::id()).expect("/proc is readable");
            if read.0 > Duration::ZERO || spin.elapsed() > Duration::from_secs(10) {
                break read;
            }
        };
        assert!(cpu > Duration::ZERO);
        assert!(rss > 0 && peak >= rss);
    }
}
