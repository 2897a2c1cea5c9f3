//! A PostgreSQL cluster of a test's own, which the test may stop and start again (outage tests): the shared
//! `scripts/test-postgres` servers must never be stopped under other tests, so this one is `initdb`'d into a temporary
//! directory from the same installed binaries and listens on a free loopback port of its own.
//!
//! [`PgCluster::init`] creates and starts it; [`PgCluster::stop`] takes it down (`fast`: sessions are terminated with
//! `57P01 admin_shutdown`; `immediate`: the server dies as in a crash and recovers at the next start);
//! [`PgCluster::start`] brings it back on the same port and data. Dropping it stops the server and removes the
//! directory. As root, the server runs as the `postgres` system user through `runuser`, as in `scripts/test-postgres`.
//! The calls block (they run `pg_ctl`): from async tests, call them inside `tokio::task::block_in_place`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::postgres::PgVersion;

/// How [`PgCluster::stop`] takes the server down (`pg_ctl stop -m …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Terminates every session (`57P01`), rolls back open transactions, checkpoints and exits.
    Fast,
    /// Exits at once without cleaning up, like a crash; the next start runs crash recovery.
    Immediate,
}

impl StopMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Immediate => "immediate",
        }
    }
}

/// A throwaway PostgreSQL cluster on `127.0.0.1:{port}` with trust authentication for the `postgres` superuser.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    running: bool,
}

/// Where `scripts/test-postgres` keeps its servers and the PostgreSQL 16 install.
fn test_pg_dir() -> PathBuf {
    match std::env::var_os("ENGRAM_TEST_PG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/tmp/engram-test-pg"),
    }
}

/// The directory of `version`'s binaries, installing PostgreSQL 16 through `scripts/test-postgres` if needed.
fn binaries(version: PgVersion) -> PathBuf {
    let bin = match version {
        PgVersion::Pg15 => PathBuf::from("/usr/lib/postgresql/15/bin"),
        PgVersion::Pg16 => test_pg_dir().join("pgserver-0.1.4/pgserver/pginstall/bin"),
    };
    if version == PgVersion::Pg16 && !bin.join("postgres").exists() {
        // The script installs the binaries before starting its shared server (which other tests use anyway).
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/test-postgres");
        let output = Command::new(&script).arg("pg16").output().expect("run scripts/test-postgres");
        assert!(output.status.success(), "scripts/test-postgres pg16: {}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(bin.join("postgres").exists(), "no PostgreSQL binaries in {}", bin.display());
    bin
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl PgCluster {
    /// `initdb` a cluster of `version` in a fresh temporary directory and start it on a free loopback port.
    pub fn init(version: PgVersion) -> Self {
        let bin = binaries(version);
        let dir = tempfile::Builder::new().prefix("engram-pg-cluster-").tempdir().expect("temporary directory");
        if is_root() {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("run chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let mut cluster = Self { bin, dir, port: free_port(), running: false };
        let data = cluster.data();
        let initdb = cluster.bin.join("initdb");
        cluster.run_checked(
            &initdb,
            &["-D", path_str(&data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
        );
        cluster.start();
        cluster
    }

    /// `postgres://postgres@127.0.0.1:{port}/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Starts the server (again) on its port and data directory and waits until it accepts connections.
    pub fn start(&mut self) {
        if self.running {
            return;
        }
        let data = self.data();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100 -c shared_buffers=32MB -c fsync=on",
            self.port,
            path_str(&data)
        );
        let log = self.dir.path().join("server.log");
        let pg_ctl = self.bin.join("pg_ctl");
        self.run_checked(
            &pg_ctl,
            &["-D", path_str(&data), "-l", path_str(&log), "-w", "-t", "60", "-o", &options, "start"],
        );
        self.running = true;
    }

    /// Stops the server and waits until it has exited; the data directory stays for [`Self::start`].
    pub fn stop(&mut self, mode: StopMode) {
        if !self.running {
            return;
        }
        let data = self.data();
        let pg_ctl = self.bin.join("pg_ctl");
        self.run_checked(&pg_ctl, &["-D", path_str(&data), "-m", mode.as_str(), "-w", "-t", "60", "stop"]);
        self.running = false;
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs a PostgreSQL program (as `postgres` when root) and returns its output, whatever its status.
    fn run(&self, program: &Path, args: &[&str]) -> std::io::Result<Output> {
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.dir.path()).output()
    }

    #[track_caller]
    fn run_checked(&self, program: &Path, args: &[&str]) {
        let output = self.run(program, args).unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}\nserver log:\n{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data();
            let pg_ctl = self.bin.join("pg_ctl");
            let _ = self.run(&pg_ctl, &["-D", path_str(&data), "-m", "immediate", "-w", "stop"]);
        }
        // The temporary directory removes itself (root may remove the `postgres` user's files).
    }
}
