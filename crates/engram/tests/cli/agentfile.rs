//! `engram import FILE.af` and `engram export AGENT`: a sample imports with its warnings on standard error, the
//! export on standard output imports back (from a file and from standard input), and failures are clean errors.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::Server;

fn sample(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engram-agentfile/tests/samples").join(name);
    path.to_str().unwrap().to_owned()
}

#[test]
fn import_and_export_round_trip() {
    let server = Server::start();
    let run = server.cli(&["import", &sample("loop.af")]);
    let out = run.ok();
    assert!(out.starts_with("ID") && out.contains("agent_") && out.contains("Loop"), "{out}");
    assert!(out.contains("anthropic/claude-sonnet-4-5-20250929"), "{out}");
    assert!(run.stderr.lines().any(|l| l.starts_with("warning: tools[") && l.contains("`note`")), "{}", run.stderr);

    let imported = server.cli(&["import", &sample("memgpt_agent.af"), "--json"]).json();
    let id = imported["agent_ids"][0].as_str().unwrap().to_owned();
    assert!(imported["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("`memory_replace`")));

    let exported = server.cli(&["export", &id]).ok().to_owned();
    let file: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(file["agents"][0]["name"], "memgpt_agent");
    assert_eq!(file["agents"][0]["secrets"], Value::Null);
    assert!(file["tools"].as_array().unwrap().iter().any(|t| t["name"] == "memory_replace"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memgpt.af");
    std::fs::write(&path, &exported).unwrap();
    let again = server.cli(&["import", path.to_str().unwrap(), "--json"]).json();
    let copy = again["agent_ids"][0].as_str().unwrap();
    let from_stdin = server.cli_with_stdin(&["import", "-", "--json"], Some(&exported)).json();
    let blocks = |response: &Value| -> Vec<(Value, Value, Value)> {
        let blocks = response["agents"][0]["blocks"].as_array().unwrap().iter();
        blocks.map(|b| (b["label"].clone(), b["value"].clone(), b["limit"].clone())).collect()
    };
    assert_eq!(blocks(&from_stdin), blocks(&again));
    assert_eq!(blocks(&again), blocks(&imported));
    // The copy exports to the same file, but for the time it was written.
    let mut second: Value = serde_json::from_str(server.cli(&["export", copy]).ok()).unwrap();
    let mut first = file.clone();
    for file in [&mut first, &mut second] {
        file["created_at"] = Value::Null;
        file["agents"][0]["messages"][0]["created_at"] = Value::Null;
    }
    assert_eq!(second, first);

    // By name: two agents are named memgpt_agent now, so the name is ambiguous.
    let err = server.cli(&["export", "memgpt_agent"]);
    assert!(err.failed().contains("agents are named \"memgpt_agent\""), "{}", err.stderr);
    let by_name = server.cli(&["export", "Loop"]).json();
    assert_eq!(by_name["agents"][0]["name"], "Loop");
}

#[test]
fn bad_files_and_unknown_agents_are_clean_errors() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.af");
    std::fs::write(&bad, r#"{"agents": [{"name": "x", "block_ids": ["block-7"]}]}"#).unwrap();
    let err = server.cli(&["import", bad.to_str().unwrap()]);
    let stderr = err.failed();
    assert!(
        stderr.contains("agents[0].block_ids[0]") && stderr.trim_end().ends_with("(agentfile_invalid)"),
        "{stderr}"
    );
    let err = server.cli(&["import", dir.path().join("missing.af").to_str().unwrap()]);
    assert!(err.failed().contains("cannot read"), "{}", err.stderr);
    let err = server.cli(&["export", "agent_01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert!(err.failed().trim_end().ends_with("(agent_not_found)"), "{}", err.stderr);
    assert_eq!(server.cli(&["agent", "list", "--json"]).json()["items"].as_array().unwrap().len(), 0);
}
