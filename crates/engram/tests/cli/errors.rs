//! How the client reports failures: server errors as `error: <message> (<code>)` with exit code 1, unknown agents,
//! and a server that is not there.

use crate::support::{Server, engram_run};

#[test]
fn unknown_agents_are_clean_errors() {
    let server = Server::start();
    let err = server.cli(&["agent", "show", "agent_01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    let stderr = err.failed();
    assert!(stderr.starts_with("error: ") && stderr.trim_end().ends_with("(agent_not_found)"), "{stderr}");
    assert_eq!(err.stdout, "");

    let err = server.cli(&["block", "get", "nobody", "human"]);
    assert!(err.failed().contains("no agent named \"nobody\""), "{}", err.stderr);
    let err = server.cli(&["archival", "search", "nobody", "anything"]);
    assert!(err.failed().contains("no agent named \"nobody\""), "{}", err.stderr);
}

#[test]
fn an_unreachable_server_is_named() {
    let run = engram_run(&["agent", "list", "--url", "http://127.0.0.1:1"], &[]);
    let stderr = run.failed();
    assert!(stderr.contains("cannot connect") && stderr.contains("http://127.0.0.1:1"), "{stderr}");
    let run = engram_run(&["agent", "list"], &[("ENGRAM_URL", "http://127.0.0.1:1")]);
    assert!(run.failed().contains("http://127.0.0.1:1"), "{}", run.stderr);
}

#[test]
fn version_and_usage() {
    let run = engram_run(&["--version"], &[]);
    assert_eq!(run.ok(), format!("engram {}\n", env!("CARGO_PKG_VERSION")));
    let run = engram_run(&["agent", "create", "x", "--block", "novalue"], &[("ENGRAM_URL", "http://127.0.0.1:1")]);
    assert!(run.failed().contains("expected LABEL=VALUE"), "{}", run.stderr);
}
