//! `engram block get|set`, including optimistic concurrency with `--if-version`.

use std::io::Write;

use crate::support::Server;

#[test]
fn block_get_and_set() {
    let server = Server::start();
    let id = server.create_agent(&["ada", "--block", "human=Ada", "--block", "persona=Helper"]);

    assert_eq!(server.cli(&["block", "get", "ada", "human"]).ok(), "Ada\n");
    let out = server.cli(&["block", "set", &id, "human", "Ada Lovelace, mathematician"]);
    assert!(out.ok().starts_with("updated block human of agent_"), "{}", out.stdout);
    assert_eq!(server.cli(&["block", "get", &id, "human"]).ok(), "Ada Lovelace, mathematician\n");

    // From a file, and from standard input; one trailing newline is dropped.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(file, "line one\nline two\n").unwrap();
    server.cli(&["block", "set", "ada", "persona", "--file", file.path().to_str().unwrap()]).ok();
    let block = server.cli(&["block", "get", "ada", "persona", "--json"]).json();
    assert_eq!(block["value"], "line one\nline two");
    server.cli_with_stdin(&["block", "set", "ada", "persona", "-"], Some("from stdin\n")).ok();
    assert_eq!(server.cli(&["block", "get", "ada", "persona"]).ok(), "from stdin\n");
}

#[test]
fn a_stale_if_version_is_a_version_conflict() {
    let server = Server::start();
    let id = server.create_agent(&["ada", "--block", "human=Ada"]);
    let version = server.cli(&["block", "get", &id, "human", "--json"]).json()["version"].as_i64().unwrap();

    let current = version.to_string();
    server.cli(&["block", "set", &id, "human", "first", "--if-version", &current]).ok();
    let err = server.cli(&["block", "set", &id, "human", "second", "--if-version", &current]);
    let stderr = err.failed();
    assert!(stderr.starts_with("error: ") && stderr.contains("(version_conflict)"), "{stderr}");
    assert_eq!(server.cli(&["block", "get", &id, "human"]).ok(), "first\n");

    let next = server.cli(&["block", "get", &id, "human", "--json"]).json()["version"].as_i64().unwrap();
    assert!(next > version);
    server.cli(&["block", "set", &id, "human", "second", "--if-version", &next.to_string()]).ok();
    assert_eq!(server.cli(&["block", "get", &id, "human"]).ok(), "second\n");
}

#[test]
fn an_unknown_label_is_a_clean_error() {
    let server = Server::start();
    server.create_agent(&["ada", "--block", "human=Ada"]);
    let err = server.cli(&["block", "get", "ada", "nonexistent"]);
    let stderr = err.failed();
    assert!(stderr.starts_with("error: ") && stderr.contains("_not_found)"), "{stderr}");
}
