//! `engram agent create|list|show|delete`.

use crate::support::{Server, engram_run};

#[test]
fn agent_create_list_show_delete() {
    let server = Server::start();
    let created = server.cli(&[
        "agent",
        "create",
        "ada",
        "--system",
        "You are Ada's assistant.",
        "--block",
        "human=Ada Lovelace",
        "--block",
        "persona=Patient and precise",
        "--tag",
        "demo",
        "--tag",
        "cli",
    ]);
    let out = created.ok();
    assert!(out.contains("agent_"), "{out}");
    assert!(out.contains("human") && out.contains("Ada Lovelace"), "{out}");
    let id = server.create_agent(&["bob", "--model", "openai/gpt-4o-mini"]);

    let list = server.cli(&["agent", "list"]);
    let out = list.ok();
    assert!(out.starts_with("ID"), "{out}");
    assert!(out.contains("ada") && out.contains("bob") && out.contains(&id), "{out}");
    assert!(out.contains("openai/gpt-4o-mini"), "{out}");

    let by_tag = server.cli(&["agent", "list", "--tag", "demo", "--json"]).json();
    let names: Vec<&str> = by_tag["items"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada"]);
    let by_name = server.cli(&["agent", "list", "--name", "bob", "--json"]).json();
    assert_eq!(by_name["items"][0]["id"], id.as_str());

    let shown = server.cli(&["agent", "show", "ada"]);
    let out = shown.ok();
    assert!(out.contains("persona") && out.contains("Patient and precise"), "{out}");
    assert!(out.contains("demo,cli") || out.contains("cli,demo"), "{out}");
    let shown = server.cli(&["agent", "show", &id, "--json"]).json();
    assert_eq!(shown["name"], "bob");
    assert_eq!(shown["model"], "openai/gpt-4o-mini");

    let deleted = server.cli(&["agent", "delete", "ada"]);
    assert!(deleted.ok().starts_with("deleted agent_"), "{}", deleted.stdout);
    let err = server.cli(&["agent", "show", "ada"]);
    assert!(err.failed().contains("no agent named \"ada\""), "{}", err.stderr);
    server.cli(&["agent", "delete", &id]).ok();
    let err = server.cli(&["agent", "show", &id]);
    assert!(err.failed().contains("(agent_not_found)"), "{}", err.stderr);
    let list = server.cli(&["agent", "list", "--json"]).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
}

#[test]
fn an_ambiguous_name_asks_for_an_id() {
    let server = Server::start();
    let first = server.create_agent(&["twin"]);
    let second = server.create_agent(&["twin"]);
    let err = server.cli(&["agent", "show", "twin"]);
    let stderr = err.failed();
    assert!(stderr.contains("2 agents are named \"twin\""), "{stderr}");
    assert!(stderr.contains(&first) && stderr.contains(&second), "{stderr}");
}

#[test]
fn a_block_without_a_label_is_refused_before_sending() {
    // No server is needed: the argument is checked first (the URL points nowhere).
    let run = engram_run(&["agent", "create", "ada", "--block", "Name: Ada", "--url", "http://127.0.0.1:9"], &[]);
    assert!(run.failed().contains("invalid --block \"Name: Ada\": expected LABEL=VALUE"), "{}", run.stderr);
    let run = engram_run(&["agent", "create", "ada", "--block", "=Ada", "--url", "http://127.0.0.1:9"], &[]);
    assert!(run.failed().contains("the label is empty"), "{}", run.stderr);
}
