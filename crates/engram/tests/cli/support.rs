//! Test support: runs the `engram` binary with a clean environment and a deadline, and keeps `engram serve` children
//! that are killed when the guard drops, so a failing test never leaves a server behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_engram");

/// Generous limits: a debug build on a busy 2-core machine is slow, and a deadline only catches hangs.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Every environment variable the binary reads; removed from children so the caller's shell cannot leak in.
const ENGRAM_ENV: &[&str] = &[
    "ENGRAM_CONFIG",
    "ENGRAM_DATA_DIR",
    "ENGRAM_LISTEN",
    "ENGRAM_BODY_LIMIT",
    "ENGRAM_IDEMPOTENCY_TTL_SECS",
    "ENGRAM_LOG",
    "ENGRAM_LOG_FORMAT",
    "ENGRAM_API_KEYS",
    "ENGRAM_URL",
    "ENGRAM_API_KEY",
    "ENGRAM_MODEL_TIMEOUT",
    "ENGRAM_MODEL_MAX_RETRIES",
    "ENGRAM_MAX_STEPS",
    "ENGRAM_COMPACTION_THRESHOLD",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OLLAMA_BASE_URL",
    "NO_COLOR",
];

/// `engram ARGS` with a clean environment plus `env`.
pub fn engram(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for name in ENGRAM_ENV {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// The outcome of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert!(
            self.status.success(),
            "expected success, got {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn failed(&self) -> &str {
        assert!(!self.status.success(), "expected failure\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert_eq!(self.status.code(), Some(1), "exit code; stderr:\n{}", self.stderr);
        &self.stderr
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `command` to completion with `stdin`, killing it if it outlives `timeout`.
#[track_caller]
pub fn run(mut command: Command, stdin: Option<&str>, timeout: Duration) -> Run {
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn engram");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let text = text.to_owned();
        std::thread::spawn(move || pipe.write_all(text.as_bytes()));
    }
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let status = wait_until(&mut child, timeout);
    let Some(status) = status else {
        child.kill().ok();
        child.wait().ok();
        panic!("engram did not finish within {timeout:?}; stderr:\n{}", stderr.join().unwrap_or_default());
    };
    Run { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).ok();
        }
        text
    })
}

/// Waits for `child` to exit; `None` if it is still running after `timeout`.
pub fn wait_until(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running `engram serve`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
    own_dir: Option<TempDir>,
}

impl Server {
    /// A local-mode server on 127.0.0.1:0 with a data directory of its own.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_in(dir.path());
        server.own_dir = Some(dir);
        server
    }

    /// A local-mode server on 127.0.0.1:0 with a data directory of its own and `env` (model providers, say).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_str().expect("utf-8 path");
        let mut server = Self::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], env)
            .unwrap_or_else(|log| panic!("the server did not start; its log:\n{log}"));
        server.own_dir = Some(dir);
        server
    }

    /// A local-mode server on 127.0.0.1:0 over `data_dir`, which the caller keeps.
    pub fn start_in(data_dir: &Path) -> Self {
        let data_dir = data_dir.to_str().expect("utf-8 path");
        Self::spawn(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], &[]).unwrap_or_else(|log| {
            panic!("the server did not start; its log:\n{log}");
        })
    }

    /// `engram ARGS` expected to print `listening on http://…`; `Err` carries the log if it exits first.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = engram(args, env);
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn engram serve");
        let stderr = child.stderr.take().expect("stderr pipe");
        let log = Arc::new(Mutex::new(String::new()));
        let (found, address) = mpsc::channel();
        let writer = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Log the line before announcing the address, so a test that reads the log once the server is up
                // sees the announcement.
                {
                    let mut log = writer.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(addr) = listening_address(&line) {
                    found.send(addr).ok();
                }
            }
        });
        match address.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Ok(Self { child, addr, log, own_dir: None }),
            Err(_) => {
                // Either it exited (the reader hung up) or it hangs; make sure it is gone and report its log.
                child.kill().ok();
                child.wait().ok();
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                Err(log)
            }
        }
    }

    /// The URL to reach the server on loopback (also when it listens on 0.0.0.0).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Runs a client subcommand against this server.
    #[track_caller]
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_with_stdin(args, None)
    }

    #[track_caller]
    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let url = self.url();
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--url", &url]);
        run(engram(&full, &[]), stdin, RUN_TIMEOUT)
    }

    /// Creates an agent and returns its id.
    #[track_caller]
    pub fn create_agent(&self, args: &[&str]) -> String {
        let mut full = vec!["agent", "create", "--json"];
        full.extend(args);
        let agent = self.cli(&full).json();
        agent["id"].as_str().expect("agent id").to_owned()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("kill engram serve");
        self.child.wait().expect("wait for the killed server");
    }

    /// Waits for the server to exit after a signal.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_until(&mut self.child, START_TIMEOUT)
            .unwrap_or_else(|| panic!("the server did not stop; its log:\n{}", self.log()))
    }

    /// SIGTERM, then wait; asserts a clean exit.
    #[track_caller]
    pub fn stop(mut self) {
        self.sigterm();
        let status = self.wait_exit();
        assert!(status.success(), "server exited with {status}; its log:\n{}", self.log());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.child.kill().ok();
        }
        self.child.wait().ok();
    }
}

/// The address in a `listening on http://ADDR` log line.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    const MARK: &str = "listening on http://";
    let rest = &line[line.find(MARK)? + MARK.len()..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '/').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Runs `engram ARGS` (not against a server) with `env`.
#[track_caller]
pub fn engram_run(args: &[&str], env: &[(&str, &str)]) -> Run {
    run(engram(args, env), None, RUN_TIMEOUT)
}
