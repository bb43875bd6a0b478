//! Shared by the soak and scale benches: the real `credledger` binary as a child process on
//! 127.0.0.1 (start, `/readyz`, RSS, SIGTERM), data directory sizes and copies, the
//! `rebuild-read-models` command (or its absence), bounded settings and percentiles.

#![allow(dead_code)] // Each bench uses a different part.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The release binary cargo built for this bench.
pub const BIN: &str = env!("CARGO_BIN_EXE_credledger");

/// A whole-number setting from the environment, with a default and inclusive bounds; anything
/// else stops the bench with a message naming the setting.
pub fn env_u64(name: &str, default: u64, min: u64, max: u64) -> u64 {
    let value = match std::env::var(name) {
        Err(_) => default,
        Ok(text) => match text.trim().replace('_', "").parse::<u64>() {
            Ok(v) => v,
            Err(_) => fail(&format!("{name} must be a whole number, got {text:?}")),
        },
    };
    if value < min || value > max {
        fail(&format!("{name} must be {min}..={max}, got {value}"));
    }
    value
}

/// Whether a flag setting is `1`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim() == "1")
}

/// A percentage mix such as `90,4,3,3`: `parts` whole numbers adding up to 100.
pub fn env_mix(name: &str, default: &[u64]) -> Vec<u64> {
    let Ok(text) = std::env::var(name) else {
        return default.to_vec();
    };
    let parts: Result<Vec<u64>, _> = text.split(',').map(|p| p.trim().parse::<u64>()).collect();
    match parts {
        Ok(parts) if parts.len() == default.len() && parts.iter().sum::<u64>() == 100 => parts,
        _ => fail(&format!(
            "{name} must be {} whole percentages adding up to 100 (e.g. {}), got {text:?}",
            default.len(),
            default
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
}

/// Pids of the servers this bench started and has not stopped yet.
static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Stops the bench with a message (a bench has no error type to return to), after killing
/// the servers it started (`exit` runs no destructors).
pub fn fail(message: &str) -> ! {
    eprintln!("bench: {message}");
    let pids = RUNNING.lock().map(|p| p.clone()).unwrap_or_default();
    for pid in pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) on a pid this bench spawned; no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    std::process::exit(1);
}

fn forget_pid(pid: u32) {
    if let Ok(mut pids) = RUNNING.lock() {
        pids.retain(|p| *p != pid);
    }
}

/// Median and 99th percentile, in milliseconds, of durations in microseconds (`None` when
/// there are no samples).
pub fn percentiles_us(samples: &mut [u32]) -> Option<(f64, f64)> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        f64::from(samples[i]) / 1000.0
    };
    Some((at(0.5), at(0.99)))
}

/// Microseconds of a duration, saturated into a `u32` (71 minutes).
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// `a / b`, or JSON null when `b` is not positive.
pub fn ratio(a: f64, b: f64) -> Value {
    if b > 0.0 && a.is_finite() {
        json!(((a / b) * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

/// Rounds to 3 decimals for printing.
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A free port on 127.0.0.1 (bound, read, released; the server binds it right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a probe port on 127.0.0.1");
    listener.local_addr().expect("probe port address").port()
}

/// The machine's CPU time counters (`/proc/stat`, all CPUs): what a virtual machine's host
/// took (steal) and the total, so a figure can be read next to how much of the machine the
/// run actually had.
#[derive(Debug, Clone, Copy)]
pub struct CpuTimes {
    steal: u64,
    total: u64,
}

impl CpuTimes {
    /// Now, if `/proc/stat` can be read.
    pub fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let total = fields.iter().take(8).sum();
        Some(CpuTimes {
            steal: *fields.get(7)?,
            total,
        })
    }

    /// Percentage of the CPU time since `earlier` that the host stole from this machine.
    pub fn steal_percent_since(self, earlier: CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total)?;
        let steal = self.steal.checked_sub(earlier.steal)?;
        (total > 0).then(|| r3(100.0 * steal as f64 / total as f64))
    }
}

/// Resident set size of a process (VmRSS of /proc/<pid>/status), in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Bytes of every file under a directory (files that vanish during the walk are skipped).
pub fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    // Bounded: a data directory holds a handful of files; stop at a million entries.
    let mut seen = 0u32;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > 1_000_000 {
                return total;
            }
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Copies a directory tree (regular files and directories).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Free bytes on the file system holding `path` (`df`-style, for unprivileged users).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` points to writable memory of the right
    // type; statvfs fills it on success and we read it only then.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Sends SIGTERM to a process.
pub fn sigterm(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we started and a valid signal number has no memory effects.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

/// Waits for a child to exit, at most `timeout`; kills it after that.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    (child.wait().ok(), true)
}

/// A `credledger serve` child process on 127.0.0.1.
pub struct Server {
    child: Child,
    /// Its pid.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Lines it printed on stdout (the first 200).
    stdout: Arc<Mutex<Vec<String>>>,
    /// Where its stderr (the log) goes.
    pub log_file: PathBuf,
    /// When it was spawned.
    pub spawned: Instant,
}

/// The first-start output of a new ledger.
#[derive(Debug, Clone)]
pub struct FirstStart {
    /// The administrator's token.
    pub admin_token: String,
    /// The administrator's user id.
    pub admin_user: String,
    /// The organization workspace.
    pub org_workspace: String,
}

impl Server {
    /// Spawns `credledger serve` on a free loopback port; its log goes to `log_file`.
    pub fn spawn(data_dir: &Path, key_file: &Path, log_file: &Path) -> Server {
        let port = free_port();
        let log = std::fs::File::create(log_file).expect("create the server log file");
        let spawned = Instant::now();
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--key-file")
            .arg(key_file)
            // The benches create airtable authentications; its endpoint is on the internet.
            .args(["--credential-verification", "off"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn credledger serve");
        if let Ok(mut pids) = RUNNING.lock() {
            pids.push(child.id());
        }
        let stdout = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let lines = stdout.clone();
            std::thread::spawn(move || {
                // Ends when the child closes stdout (it exits); keeps the first 200 lines.
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let mut kept = lines.lock().expect("stdout lines lock");
                    if kept.len() < 200 {
                        kept.push(line);
                    }
                }
            });
        }
        Server {
            pid: child.id(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            stdout,
            log_file: log_file.to_path_buf(),
            spawned,
        }
    }

    /// Polls `/readyz` every 20 ms until it answers 200, at most `timeout`; the time from the
    /// spawn to that answer. Stops the bench if the process exits or the time runs out.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, timeout: Duration) -> Duration {
        let deadline = self.spawned + timeout;
        let url = format!("{}/readyz", self.base);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                fail(&format!(
                    "credledger serve exited ({status}) before it was ready; log: {}",
                    self.log_tail()
                ));
            }
            if let Ok(answer) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if answer.status().as_u16() == 200 {
                    return self.spawned.elapsed();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        fail(&format!(
            "credledger serve was not ready within {} s; log: {}",
            timeout.as_secs(),
            self.log_tail()
        ));
    }

    /// The first-start output (admin token, admin user, org workspace); waits up to 10 s for
    /// the lines to arrive.
    pub fn first_start(&self) -> FirstStart {
        let find = |lines: &[String], label: &str| {
            lines.iter().find_map(|l| {
                let rest = l.trim_start().strip_prefix(label)?;
                rest.split_whitespace().next().map(str::to_owned)
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            {
                let lines = self.stdout.lock().expect("stdout lines lock");
                if let (Some(admin_token), Some(admin_user), Some(org_workspace)) = (
                    find(&lines, "admin token"),
                    find(&lines, "admin user"),
                    find(&lines, "org workspace"),
                ) {
                    return FirstStart {
                        admin_token,
                        admin_user,
                        org_workspace,
                    };
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fail("no admin token / admin user / org workspace in the first-start output");
    }

    /// Resident set size now.
    pub fn rss(&self) -> Option<u64> {
        rss_bytes(self.pid)
    }

    /// SIGTERM, then waits up to `timeout` for a graceful exit (SIGKILL after that). Returns
    /// the time it took, whether it exited 0, and whether it had to be killed.
    pub fn stop(mut self, timeout: Duration) -> (Duration, bool, bool) {
        let started = Instant::now();
        sigterm(self.pid);
        let (status, killed) = wait_bounded(&mut self.child, timeout);
        forget_pid(self.pid);
        (
            started.elapsed(),
            status.is_some_and(|s| s.success()),
            killed,
        )
    }

    /// The last few hundred bytes of its log, for error messages.
    pub fn log_tail(&self) -> String {
        tail_of_file(&self.log_file, 600)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A server still running when the bench stops (a panic, an early exit) is killed.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        forget_pid(self.pid);
    }
}

/// The last `n` bytes of a file, as text.
pub fn tail_of_file(path: &Path, n: u64) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut text = String::new();
    if std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(len.saturating_sub(n))).is_ok() {
        let _ = file.read_to_string(&mut text);
    }
    text.replace('\n', " | ")
}

/// What `credledger rebuild-read-models` did.
pub enum Rebuild {
    /// It ran to its end.
    Ran {
        /// Wall time of the process.
        secs: f64,
        /// Whether it exited 0.
        success: bool,
        /// Its exit code.
        code: Option<i32>,
        /// Whether it had to be killed at the time limit.
        killed: bool,
        /// The end of its stderr.
        stderr_tail: String,
    },
    /// The binary has no such subcommand yet (clap: exit 2, "unrecognized subcommand").
    Unavailable,
}

impl Rebuild {
    /// The JSON fields describing it.
    pub fn to_json(&self) -> Value {
        match self {
            Rebuild::Ran {
                secs,
                success,
                code,
                killed,
                stderr_tail,
            } => json!({"available": true, "secs": r3(*secs), "success": success,
                "exit_code": code, "killed_at_time_limit": killed,
                "stderr_tail": if *success { Value::Null } else { json!(stderr_tail) }}),
            Rebuild::Unavailable => json!({"available": false,
                "reason": "this credledger has no `rebuild-read-models` subcommand yet"}),
        }
    }

    /// Its time, when it ran and succeeded.
    pub fn secs(&self) -> Option<f64> {
        match self {
            Rebuild::Ran {
                secs,
                success: true,
                ..
            } => Some(*secs),
            _ => None,
        }
    }
}

/// Runs `credledger rebuild-read-models --data-dir D --key-file K` (progress on its stderr,
/// kept in `log_file`), at most `timeout`.
pub fn rebuild_read_models(
    data_dir: &Path,
    key_file: &Path,
    log_file: &Path,
    timeout: Duration,
) -> Rebuild {
    let log = std::fs::File::create(log_file).expect("create the rebuild log file");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("rebuild-read-models")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--key-file")
        .arg(key_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn credledger rebuild-read-models");
    let (status, killed) = wait_bounded(&mut child, timeout);
    let secs = started.elapsed().as_secs_f64();
    let code = status.and_then(|s| s.code());
    let stderr_tail = tail_of_file(log_file, 600);
    if code == Some(2) && stderr_tail.contains("unrecognized subcommand") {
        return Rebuild::Unavailable;
    }
    Rebuild::Ran {
        secs,
        success: status.is_some_and(|s| s.success()),
        code,
        killed,
        stderr_tail,
    }
}

/// Runs `credledger verify --data-dir D` at most `timeout`; whether it passed and its time.
pub fn verify(data_dir: &Path, log_file: &Path, timeout: Duration) -> (bool, f64) {
    let log = std::fs::File::create(log_file).expect("create the verify log file");
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("verify")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn credledger verify");
    let (status, _) = wait_bounded(&mut child, timeout);
    (
        status.is_some_and(|s| s.success()),
        started.elapsed().as_secs_f64(),
    )
}

/// The ledger head (`credledger_ledger_head_position`) from `GET /metrics`.
pub async fn head_position(client: &reqwest::Client, base: &str) -> Option<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("credledger_ledger_head_position "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// An HTTP client for loopback only: no redirects, no proxy, bounded timeouts.
pub fn client(pool_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(pool_per_host)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Megabytes (10^6 bytes) for human output.
pub fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1e6 * 10.0).round() / 10.0
}
