//! Shared by the network benches: the servers under test (each its own
//! process, so none of them shares CPU time with the load generator's
//! runtime), machine facts, and medians.

#![allow(dead_code)]

pub mod busy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Environment variable that turns a bench binary into the raw echo server.
const RAW_SERVER_ENV: &str = "SOCKSCOPE_BENCH_RAW_ECHO_SERVER";

/// Environment variable that turns a bench binary into a CPU hog.
const HOG_ENV: &str = "SOCKSCOPE_BENCH_CPU_HOG";

/// Another busy program on the machine (an IDE indexing, a build): one
/// process spinning on one CPU until dropped.
pub struct CpuHog {
    child: Child,
}

impl CpuHog {
    pub fn start() -> Self {
        let child = Command::new(std::env::current_exe().expect("bench binary path"))
            .env(HOG_ENV, "1")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the CPU hog");
        Self { child }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spin_forever() -> ! {
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// A server process, killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub url: String,
    child: Child,
}

impl Server {
    /// The process id (for /proc/PID/status).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_announcing(name: &'static str, mut command: Command) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("server announces its URL");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{name} printed {line:?} instead of its URL"))
        .to_owned();
    Server { name, url, child }
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `sockscope serve --quiet` with `script` and `kv` on a free port.
pub fn sockscope_serve(script: &Path, kv: &str) -> Server {
    sockscope_serve_with("sockscope serve -q (echo.js)", script, kv, &["--quiet"])
}

/// `sockscope serve` with `script`, `kv` and `extra` flags on a free port.
/// Its log goes to a file in the target dir, as a user's `2>serve.log`
/// (a terminal would be slower still; /dev/null would hide the cost).
pub fn sockscope_serve_with(name: &'static str, script: &Path, kv: &str, extra: &[&str]) -> Server {
    let log_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "serve-{}.log",
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    ));
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", log_path.display()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    command
        .args(["serve", "--port", "0", "--kv", kv, "--script"])
        .arg(script)
        .args(extra)
        .stderr(log);
    spawn_announcing(name, command)
}

/// `sockscope proxy --quiet` in front of `target_url`, on a free port, with
/// `extra` flags.
pub fn sockscope_proxy(target_url: &str, extra: &[&str]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    command
        .args(["proxy", "--quiet", "--port", "0", "--target", target_url])
        .args(extra);
    spawn_announcing("sockscope proxy -q", command)
}

/// `sockscope serve --quiet --run CMD` in `dir` (the real-runtime lane) on
/// free ports.
pub fn sockscope_run(name: &'static str, command_line: &str, dir: &Path) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sockscope"));
    command
        .args(["serve", "--quiet", "--port", "0", "--kv", ":memory:"])
        .args(["--service-address", "127.0.0.1:0", "--run", command_line])
        .current_dir(dir);
    spawn_announcing(name, command)
}

/// The children of a process (`/proc/PID/task/PID/children`).
pub fn child_pids(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|children| children.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// This bench binary again, as a raw tokio-tungstenite echo server.
pub fn raw_echo_server() -> Server {
    let mut command = Command::new(std::env::current_exe().expect("bench binary path"));
    command.env(RAW_SERVER_ENV, "1");
    spawn_announcing("raw tokio-tungstenite echo", command)
}

/// Runs the raw echo server (or the CPU hog) instead of the bench if this
/// process was started as one (never returns then).
pub fn serve_raw_echo_if_asked() {
    if std::env::var_os(HOG_ENV).is_some() {
        spin_forever();
    }
    if std::env::var_os(RAW_SERVER_ENV).is_none() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening on ws://{}", listener.local_addr().expect("addr"));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(websocket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                // The idiomatic echo: forward() feeds while messages are
                // ready and flushes when the stream would wait.
                let (sink, stream) = websocket.split();
                let data = stream.filter(|message| {
                    std::future::ready(matches!(message, Ok(Message::Text(_) | Message::Binary(_))))
                });
                let _ = data.forward(sink).await;
            });
        }
    });
    std::process::exit(0);
}

/// Node's `ws` echo server, if `node` and `npm` exist (installs `ws` once
/// into the target dir). `Err` says why it was skipped.
pub fn node_ws_server() -> Result<Server, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("node-ws-echo");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if !node_ok {
        return Err("`node` is not installed".to_owned());
    }
    if !dir.join("node_modules/ws").exists() {
        std::fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
        let installed = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "ws@8"])
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .map_err(|error| format!("cannot run npm: {error}"))?;
        if !installed.success() {
            return Err("`npm install ws` failed".to_owned());
        }
    }
    let script = dir.join("echo-server.js");
    std::fs::write(
        &script,
        "const { WebSocketServer } = require('ws');\n\
         const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });\n\
         wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));\n\
         wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));\n",
    )
    .map_err(|error| error.to_string())?;
    let mut command = Command::new("node");
    command.arg(&script).current_dir(&dir);
    Ok(spawn_announcing("node ws 8 echo", command))
}

/// `nproc` and the CPU model, for the report.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |count| count.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!("{cpus} CPUs, {model}")
}

/// Resident memory of a process in KiB (VmRSS in /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) a process has used so far, in seconds.
/// `/proc/PID/stat` counts in USER_HZ, which Linux fixes at 100.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ")".
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// CPU seconds per thread of a process, by thread name, from
/// `/proc/PID/task/*/stat` (threads of one name are summed).
pub fn thread_cpu_seconds(pid: u32) -> Vec<(String, f64)> {
    let mut threads: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
            .map(|name| name.trim().to_owned())
            .unwrap_or_default();
        let Some(seconds) = cpu_seconds(&format!("{pid}/task/{tid}")) else {
            continue;
        };
        match threads.iter_mut().find(|(known, _)| *known == name) {
            Some((_, total)) => *total += seconds,
            None => threads.push((name, seconds)),
        }
    }
    threads.sort_by(|a, b| a.0.cmp(&b.0));
    threads
}

/// `after - before` per thread name, as microseconds per message.
pub fn per_thread_us(before: &[(String, f64)], after: &[(String, f64)], messages: u64) -> String {
    after
        .iter()
        .map(|(name, seconds)| {
            let earlier = before
                .iter()
                .find(|(known, _)| known == name)
                .map_or(0.0, |(_, seconds)| *seconds);
            format!(
                "{name} {:.2}",
                (seconds - earlier) * 1e6 / messages.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A multi-threaded runtime for the load generator.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// The runtime `sockscope replay` gives its embedded engine: the socket
/// threads leave a CPU to the script thread.
pub fn embedded_engine_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(sockscope::core::config::default_io_threads())
        .enable_all()
        .build()
        .expect("runtime")
}

pub const SETTLE: Duration = Duration::from_millis(200);
