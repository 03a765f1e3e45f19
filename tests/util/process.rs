//! The built `sockscope` binary as a child process: one-shot runs, and
//! `sockscope serve` children that announce their URL on stdout.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// The binary cargo built for this test run.
const SOCKSCOPE: &str = env!("CARGO_BIN_EXE_sockscope");

/// A `Command` for the built binary.
pub fn sockscope() -> Command {
    Command::new(SOCKSCOPE)
}

/// `sockscope` under a soft cap on the size of the files it writes (`ulimit
/// -S -f`, in 512-byte blocks), like a disk that fills up. SIGXFSZ is ignored
/// so a write past the cap fails with EFBIG instead of killing the process.
/// Needs no root, and `prlimit` can lift the cap later.
pub fn sockscope_with_file_size_cap(blocks: u32) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("trap '' XFSZ; ulimit -S -f {blocks}; exec \"$@\""))
        .arg("sh")
        .arg(SOCKSCOPE);
    command
}

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let output = sockscope().args(args).output().expect("run sockscope");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs to completion in a fresh temp dir and returns (exit code, stderr).
pub fn run_failing(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = sockscope()
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("run sockscope");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A `sockscope serve` child with both pipes open; killed on drop.
pub struct Serving {
    pub child: Child,
    pub url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `sockscope serve ARGS` in `dir` and waits for the URL it announces.
pub fn serve(args: &[&str], dir: &Path) -> Serving {
    let mut child = sockscope()
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut first_line = String::new();
    BufReader::new(stdout)
        .read_line(&mut first_line)
        .expect("first line");
    let url = first_line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first stdout line must announce the URL, got {first_line:?}"))
        .to_owned();
    Serving { child, url }
}

/// A `sockscope serve` child whose stderr is drained into `stderr`, so a
/// chatty server never blocks on a full pipe.
pub struct Child9 {
    pub child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl Child9 {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockscope serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&String::from_utf8_lossy(&buffer[..read]));
                }
            }
        });
        let mut first_line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first_line)
            .expect("first line");
        let url = match first_line.trim().strip_prefix("listening on ") {
            Some(url) => url.to_owned(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve did not start: {first_line:?}\n{}",
                    stderr.lock().map(|s| s.clone()).unwrap_or_default()
                );
            }
        };
        Self { child, url, stderr }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Child9 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
