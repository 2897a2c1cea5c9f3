//! `engram archival add|list|search`.

use std::io::Write;

use crate::support::Server;

#[test]
fn add_from_file_and_stdin_then_list_and_search() {
    let server = Server::start();
    let id = server.create_agent(&["ada"]);

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "Ada visited Lisbon last summer and loved the custard tarts.").unwrap();
    writeln!(file).unwrap();
    writeln!(file, "Ada's favourite composer is Clara Schumann.").unwrap();
    writeln!(file, "   ").unwrap();
    writeln!(file, "Ada keeps a notebook of analytical engine sketches.").unwrap();
    let added = server.cli(&["archival", "add", "ada", "--file", file.path().to_str().unwrap(), "--tag", "facts"]);
    assert_eq!(added.ok(), format!("added 3 passage(s) to {id}\n"));

    let stdin = "Bob plays the cello on Sundays.\n\nBob moved to Oslo in March.\n";
    let added = server.cli_with_stdin(&["archival", "add", &id, "-"], Some(stdin));
    assert_eq!(added.ok(), format!("added 2 passage(s) to {id}\n"));

    let list = server.cli(&["archival", "list", "ada"]);
    let out = list.ok();
    assert_eq!(out.lines().count(), 6, "{out}");
    for text in ["custard tarts", "Clara Schumann", "analytical engine", "cello", "Oslo"] {
        assert!(out.contains(text), "{text} missing from:\n{out}");
    }
    let limited = server.cli(&["archival", "list", "ada", "--limit", "2", "--json"]).json();
    assert_eq!(limited["items"].as_array().unwrap().len(), 2);

    let found = server.cli(&["archival", "search", "ada", "Lisbon", "--mode", "text"]);
    let out = found.ok();
    assert!(out.lines().nth(1).is_some_and(|line| line.contains("Lisbon")), "{out}");
    let found = server.cli(&["archival", "search", "ada", "cello", "--mode", "text", "-k", "1", "--json"]).json();
    let results = found["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert!(results[0]["passage"]["text"].as_str().unwrap().contains("cello"));
    let tagged = server.cli(&["archival", "search", "ada", "Ada", "--mode", "text", "--tag", "facts", "--json"]).json();
    for result in tagged["results"].as_array().unwrap() {
        assert_eq!(result["passage"]["tags"][0], "facts");
    }
}

#[test]
fn add_sends_large_inputs_in_batches() {
    let server = Server::start();
    let id = server.create_agent(&["bulk"]);
    let lines: String = (0..1_100).map(|i| format!("passage number {i} about topic {}\n", i % 7)).collect();
    let added = server.cli_with_stdin(&["archival", "add", "bulk", "-"], Some(&lines));
    assert_eq!(added.ok(), format!("added 1100 passage(s) to {id}\n"));
    let list = server.cli(&["archival", "list", "bulk", "--limit", "5000", "--json"]).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1_100);
}
