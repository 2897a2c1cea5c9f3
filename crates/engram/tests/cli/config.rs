//! Configuration layering (default < file < environment < flag), messages for invalid values, and the start-up
//! refusal to expose an unauthenticated server.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Server, engram_run};

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("engram.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The resolved `key` and its source, from `engram config show --json`.
fn resolved(args: &[&str], env: &[(&str, &str)], key: &str) -> (Value, String) {
    let mut full = vec!["config", "show", "--json"];
    full.extend(args);
    let shown = engram_run(&full, env).json();
    (shown[key]["value"].clone(), shown[key]["source"].as_str().unwrap().to_owned())
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "listen = \"127.0.0.1:7001\"\nlog_format = \"json\"\n");
    let env_config = [("ENGRAM_CONFIG", config.as_str())];
    let env_both = [("ENGRAM_CONFIG", config.as_str()), ("ENGRAM_LISTEN", "127.0.0.1:7002")];

    let check = |args: &[&str], env: &[(&str, &str)], value: &str, source: &str| {
        let (got, from) = resolved(args, env, "listen");
        assert_eq!((got.as_str().unwrap(), from.as_str()), (value, source), "args {args:?} env {env:?}");
    };
    check(&[], &[], "127.0.0.1:8283", "default");
    check(&[], &env_config, "127.0.0.1:7001", &format!("config file {config}"));
    check(&["--config", &config], &[], "127.0.0.1:7001", &format!("config file {config}"));
    check(&[], &env_both, "127.0.0.1:7002", "ENGRAM_LISTEN");
    check(&["--listen", "127.0.0.1:7003"], &env_both, "127.0.0.1:7003", "--listen");

    // Other keys keep coming from the layer that sets them.
    let (format, from) = resolved(&["--listen", "127.0.0.1:7003"], &env_both, "log_format");
    assert_eq!((format.as_str().unwrap(), from), ("json", format!("config file {config}")));
    let (limit, from) = resolved(&["--body-limit", "1024"], &[("ENGRAM_BODY_LIMIT", "2048")], "body_limit_bytes");
    assert_eq!((limit, from.as_str()), (Value::from(1024), "--body-limit"));
    let (keys, from) = resolved(&[], &[("ENGRAM_API_KEYS", "ci:s3cret,ops:k2:acme")], "api_keys");
    assert_eq!(keys, serde_json::json!([{"id": "ci", "org": "default"}, {"id": "ops", "org": "acme"}]));
    assert_eq!(from, "ENGRAM_API_KEYS");
}

#[test]
fn the_server_uses_the_resolved_config() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let config =
        write_config(dir.path(), &format!("listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n", data_dir.to_str().unwrap()));
    let server = Server::spawn(&["serve"], &[("ENGRAM_CONFIG", &config)]).unwrap_or_else(|log| panic!("{log}"));
    let canonical = data_dir.canonicalize().unwrap();
    assert!(server.log().contains(canonical.to_str().unwrap()), "{}", server.log());
    assert!(server.log().contains("NO AUTHENTICATION"), "{}", server.log());
    server.cli(&["agent", "list"]).ok();
    assert!(data_dir.is_dir());
    server.stop();
}

#[test]
fn invalid_values_name_the_option_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let bad_format = write_config(dir.path(), "log_format = \"xml\"\n");
    // (flags, environment, expected part of the message)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (&["--listen", "foo"], &[], "invalid listen address \"foo\" (from --listen)"),
        (&[], &[("ENGRAM_LISTEN", "foo")], "invalid listen address \"foo\" (from ENGRAM_LISTEN)"),
        (&[], &[("ENGRAM_BODY_LIMIT", "lots")], "invalid body limit \"lots\" (from ENGRAM_BODY_LIMIT)"),
        (&["--body-limit", "0"], &[], "invalid body limit \"0\" (from --body-limit)"),
        (&["--config", &bad_format], &[], "invalid log format \"xml\" (from config file"),
        (&["--log-format", "xml"], &[], "invalid log format \"xml\" (from --log-format)"),
        (&[], &[("ENGRAM_API_KEYS", "nokey")], "invalid api_keys entry 1 (from ENGRAM_API_KEYS)"),
        (
            &[],
            &[("ENGRAM_COMPACTION_THRESHOLD", "0.6")],
            "invalid compaction threshold \"0.6\" (from ENGRAM_COMPACTION_THRESHOLD): expected a share of the context \
             window above 0.75",
        ),
        (&["--compaction-threshold", "1"], &[], "invalid compaction threshold \"1\" (from --compaction-threshold)"),
        (&[], &[("ENGRAM_COMPACTION_THRESHOLD", "lots")], "invalid compaction threshold \"lots\""),
        (
            &[],
            &[("OPENAI_BASE_URL", "api.example.com")],
            "invalid OpenAI base URL \"api.example.com\" (from OPENAI_BASE_URL)",
        ),
        (&["--max-steps", "0"], &[], "invalid max steps \"0\" (from --max-steps)"),
        (
            &[],
            &[("ENGRAM_MODEL_MAX_RETRIES", "11")],
            "invalid model max retries \"11\" (from ENGRAM_MODEL_MAX_RETRIES)",
        ),
        (
            &["--config", "/nonexistent/engram.toml"],
            &[],
            "cannot read config file /nonexistent/engram.toml (from --config)",
        ),
    ];
    for (args, env, expected) in cases {
        let mut full = vec!["serve", "--data-dir", data];
        full.extend(*args);
        let run = engram_run(&full, env);
        let stderr = run.failed();
        assert!(stderr.starts_with("error: ") && stderr.contains(expected), "{args:?} {env:?}: {stderr}");
    }

    // A typo in the file is caught rather than ignored.
    let typo = write_config(dir.path(), "lisen = \"127.0.0.1:0\"\n");
    let run = engram_run(&["serve", "--config", &typo], &[]);
    assert!(run.failed().contains("unknown key \"lisen\""), "{}", run.stderr);
}

#[test]
fn provider_keys_are_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "anthropic_api_key = \"sk-ant-file-secret\"\nmax_steps = 7\n");
    let env = [
        ("OPENAI_API_KEY", "sk-test-env-secret"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
        ("ENGRAM_CONFIG", config.as_str()),
        ("ENGRAM_COMPACTION_THRESHOLD", "0.8"),
    ];
    let table = engram_run(&["config", "show"], &env);
    let out = table.ok();
    assert!(!out.contains("secret"), "a key was printed:\n{out}");
    let line = |key: &str| out.lines().find(|line| line.starts_with(key)).unwrap_or_else(|| panic!("{key}:\n{out}"));
    assert!(line("openai_api_key ").contains("<redacted>") && line("openai_api_key ").ends_with("OPENAI_API_KEY"));
    assert!(line("anthropic_api_key ").contains("<redacted>"), "{out}");
    assert!(line("ollama_base_url ").contains("http://127.0.0.1:11434/v1"), "{out}");

    let shown = engram_run(&["config", "show", "--json", "--max-steps", "9"], &env);
    assert!(!shown.ok().contains("secret"), "a key was printed:\n{}", shown.stdout);
    let shown = shown.json();
    assert_eq!(shown["openai_api_key"], json!({"value": "<redacted>", "source": "OPENAI_API_KEY"}));
    assert_eq!(shown["anthropic_api_key"], json!({"value": "<redacted>", "source": format!("config file {config}")}));
    assert_eq!(shown["openai_base_url"], json!({"value": "http://127.0.0.1:9/v1", "source": "OPENAI_BASE_URL"}));
    assert_eq!(shown["compaction_threshold"], json!({"value": 0.8, "source": "ENGRAM_COMPACTION_THRESHOLD"}));
    assert_eq!(shown["max_steps"], json!({"value": 9, "source": "--max-steps"}));
    assert_eq!(shown["model_timeout_secs"], json!({"value": 120, "source": "default"}));

    // A blank key counts as unset.
    let shown = engram_run(&["config", "show", "--json"], &[("OPENAI_API_KEY", "")]).json();
    assert_eq!(shown["openai_api_key"]["value"], Value::Null);
}

#[test]
fn a_non_loopback_address_without_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = engram_run(&["serve", "--listen", "0.0.0.0:0", "--data-dir", dir.path().to_str().unwrap()], &[]);
    let stderr = run.failed();
    assert!(stderr.contains("refusing to listen on 0.0.0.0") && stderr.contains("API keys"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_in_the_config_file_requests_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "listen = \"0.0.0.0:0\"\ndata_dir = {:?}\n\n[[api_keys]]\nid = \"ci\"\nkey = \"test-secret-0123456789\"\n",
            dir.path().join("data").to_str().unwrap()
        ),
    );
    let server = Server::spawn(&["serve", "--config", &config], &[]).unwrap_or_else(|log| panic!("{log}"));
    assert!(!server.log().contains("test-secret-0123456789"), "the secret was logged:\n{}", server.log());
    assert!(!server.log().contains("NO AUTHENTICATION"), "{}", server.log());

    let http = reqwest::Client::new();
    let url = format!("{}/v1/agents", server.url());
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http.get(&url).bearer_auth("test-secret-0123456789").send().await.unwrap();
    assert_eq!(response.status(), 200);

    let run = tokio::task::block_in_place(|| server.cli(&["agent", "list"]));
    assert!(run.failed().starts_with("error: "), "{}", run.stderr);
    let run = tokio::task::block_in_place(|| server.cli(&["agent", "list", "--api-key", "test-secret-0123456789"]));
    run.ok();
    tokio::task::block_in_place(|| server.stop());
}

/// The README's configuration table documents every option `engram config docs` knows (the option table is the
/// single definition; this keeps the README from drifting).
#[test]
fn the_readme_documents_every_option() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_engram")).args(["config", "docs"]).output().unwrap();
    assert!(out.status.success());
    let docs = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let mut checked = 0;
    for token in docs.split(|c: char| c.is_whitespace() || c == '|' || c == '`' || c == '(' || c == ')' || c == ',') {
        // Environment variables: ENGRAM_… and the providers' own (OPENAI_API_KEY, …).
        let is_env = token.len() > 3
            && token.contains('_')
            && token.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        let is_flag = token.starts_with("--") && token.len() > 2;
        if is_env || is_flag {
            assert!(readme.contains(token), "README.md does not mention `{token}`");
            checked += 1;
        }
    }
    assert!(checked >= 30, "expected the docs to name every env var and flag, found {checked}:\n{docs}");
}
