//! An `engram serve` child process of the current executable, for the benchmark: started on 127.0.0.1:0 with a data
//! directory of its own and a clean environment, found by its `listening on http://…` log line, measured through
//! `/proc`, and stopped with SIGTERM.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

use crate::config::OPTIONS;

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Killed when dropped, so an early return never leaves it behind.
pub struct ServerProcess {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    /// When the process was spawned.
    pub spawned_at: Instant,
}

impl ServerProcess {
    /// Starts a server with some environment variables set on top of the clean environment (for options the
    /// benchmark chooses on purpose, such as the embedding model directory).
    pub async fn start_with(data_dir: &Path, env: &[(&str, OsString)]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the current executable")?;
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The benchmark measures the defaults, not whatever the caller's shell configures.
        for option in OPTIONS {
            command.env_remove(option.env);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let spawned_at = Instant::now();
        let mut child = command.spawn().context("cannot start `engram serve`")?;
        let pid = child.id().ok_or_else(|| anyhow!("the server exited at once"))?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr pipe"))?;
        let addr = match tokio::time::timeout(START_TIMEOUT, read_address(stderr)).await {
            Ok(result) => result?,
            Err(_) => bail!("the server did not report its address within {START_TIMEOUT:?}"),
        };
        Ok(Self { child, pid, addr, spawned_at })
    }

    /// Resident set size from `/proc/PID/status`, in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).context("cannot read /proc")?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS in /proc/{}/status", self.pid))?;
        Ok(kib / 1024.0)
    }

    /// Sends SIGTERM and waits for a clean exit; kills the process if it takes too long.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await;
        if !status.is_ok_and(|s| s.success()) {
            self.child.start_kill().ok();
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => bail!("the server exited with {status} after SIGTERM"),
            Ok(Err(e)) => Err(e).context("cannot wait for the server"),
            Err(_) => {
                self.child.start_kill().ok();
                bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM")
            }
        }
    }
}

/// Reads log lines until the `listening on http://ADDR` line, then keeps draining the pipe in the background so the
/// server never blocks on a full pipe.
async fn read_address(stderr: ChildStderr) -> anyhow::Result<SocketAddr> {
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.context("cannot read the server's log")? {
        if let Some(addr) = listening_address(&line) {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(addr);
        }
        seen.push(line);
    }
    bail!("the server exited before listening; its log:\n{}", seen.join("\n"))
}

/// The address in a `listening on http://ADDR` log line, text or JSON.
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == '/').unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_text_and_json_lines() {
        let text = "2025-01-01T00:00:00Z  WARN engram::serve: listening on http://127.0.0.1:4000 (data in /x)";
        assert_eq!(listening_address(text), Some(SocketAddr::from(([127, 0, 0, 1], 4000))));
        let json = r#"{"fields":{"message":"listening on http://[::1]:80 (data in /x)"}}"#;
        assert_eq!(listening_address(json), "[::1]:80".parse().ok());
        assert_eq!(listening_address("stopped"), None);
    }
}
