//! `engram chat`: a real `engram serve` whose `openai` provider is a scripted model server in this test process
//! (configured the way a user would, through `OPENAI_BASE_URL` and `OPENAI_API_KEY`), and the chat driven through
//! standard input. The scripted model checks what the server asked of it, including that it asked for a stream.

use engram_testkit::{RecordedRequest, Reply, ScriptedModel, Turn};
use serde_json::json;

use crate::support::Server;

/// A server whose `openai` provider is `model`, with no retries so that a scripted failure is final.
fn server_for(model: &ScriptedModel) -> Server {
    tokio::task::block_in_place(|| {
        Server::start_with_env(&[
            ("OPENAI_BASE_URL", model.base_url()),
            ("OPENAI_API_KEY", "sk-test"),
            ("ENGRAM_MODEL_MAX_RETRIES", "0"),
        ])
    })
}

fn streamed(request: &RecordedRequest) -> Result<(), String> {
    if request.is_stream() { Ok(()) } else { Err(format!("expected a streaming request: {}", request.text())) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_the_reply_shows_memory_edits_and_answers_slash_commands() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::tool("core_memory_append", json!({"label": "human", "content": "Name: Ada"})))
            .expect(streamed)
            .expect(|request| match request.last_user_text() {
                Some(text) if text == "I'm Ada" => Ok(()),
                other => Err(format!("last user text {other:?}")),
            }),
        Turn::new(Reply::text("Nice to meet you, Ada! I will remember your name.")).expect(streamed),
    ])
    .await;
    let server = server_for(&model);
    assert!(!server.log().contains("sk-test"), "the provider key was logged:\n{}", server.log());

    tokio::task::block_in_place(|| {
        server
            .cli(&[
                "agent",
                "create",
                "ada-helper",
                "--model",
                "openai/gpt-4o-mini",
                "--block",
                "human=Notes about the user:",
                "--block",
                "persona=A friendly assistant.",
                "--context-window",
                "16000",
            ])
            .ok();
        let run = server.cli_with_stdin(&["chat", "ada-helper"], Some("I'm Ada\n/memory\n/context\n/quit\nnot sent\n"));
        let out = run.ok();

        // The tool call and its result, inline, then the reply.
        let call = out.find("  ⚙ core_memory_append(").unwrap_or_else(|| panic!("no tool call:\n{out}"));
        assert!(out.contains(r#"content="Name: Ada""#) && out.contains(r#"label="human""#), "{out}");
        let result = out.find("  ✓ Block `human` updated").unwrap_or_else(|| panic!("no tool result:\n{out}"));
        let reply = out.find("Nice to meet you, Ada! I will remember your name.\n").unwrap_or_else(|| panic!("{out}"));
        assert!(call < result && result < reply, "{out}");
        assert_eq!(out.matches("Nice to meet you").count(), 1, "the streamed reply was printed twice:\n{out}");

        // `/memory`: the updated block with its size, and the other block.
        let memory = &out[reply..];
        assert!(memory.contains("human (31/5000 chars)\n"), "{out}");
        assert!(memory.contains("  Notes about the user:\n  Name: Ada\n"), "{out}");
        assert!(memory.contains("persona (21/5000 chars)\n  A friendly assistant.\n"), "{out}");

        // `/context`: the token table against the agent's window.
        assert!(out.contains("PART") && out.contains("TOKENS") && out.contains("WINDOW"), "{out}");
        for part in ["system", "core memory", "tool schemas", "summary", "messages", "total"] {
            assert!(out.lines().any(|line| line.starts_with(part) && line.ends_with('%')), "{part}:\n{out}");
        }
        assert!(out.contains("window: 16000 tokens"), "{out}");

        // Piped output is plain: no colour, no prompt, no footer; nothing after `/quit` was sent.
        assert!(!out.contains('\x1b') && !out.contains("> ") && !out.contains(" tokens]"), "{out}");
        assert!(run.stderr.is_empty(), "{}", run.stderr);
    });

    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(RecordedRequest::is_stream));
    assert!(requests.iter().all(|r| r.header("authorization") == Some("Bearer sk-test")), "{requests:?}");
    model.assert_done();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_reported_and_the_chat_goes_on() {
    let model = ScriptedModel::openai([
        Turn::new(Reply::error(500, "the model is on fire")),
        Turn::new(Reply::text("Better now.")),
    ])
    .await;
    let server = server_for(&model);
    tokio::task::block_in_place(|| {
        let id = server.create_agent(&["flaky", "--model", "openai/gpt-4o-mini"]);
        let run = server.cli_with_stdin(&["chat", &id], Some("hello\n/nonsense\n\nstill there?\n"));
        let out = run.ok();
        assert_eq!(out, "Better now.\n");
        assert!(run.stderr.contains("error: ") && run.stderr.contains("(upstream_error)"), "{}", run.stderr);
        assert!(run.stderr.contains("unknown command /nonsense"), "{}", run.stderr);

        // A memory-only agent cannot reply: the server's message is shown and the chat continues to the end.
        server.create_agent(&["quiet"]);
        let run = server.cli_with_stdin(&["chat", "quiet"], Some("hello\n"));
        run.ok();
        assert!(run.stderr.contains("has no model"), "{}", run.stderr);
        assert!(run.stderr.contains("(no_model)"), "{}", run.stderr);

        // An agent that does not exist ends the chat with an error.
        let run = server.cli_with_stdin(&["chat", "nobody"], Some("hello\n"));
        assert!(run.failed().contains("no agent named \"nobody\""), "{}", run.stderr);
        let run = server.cli_with_stdin(&["chat", "agent_01JD0000000000000000000000"], Some("hello\n"));
        assert!(run.failed().contains("(agent_not_found)"), "{}", run.stderr);
    });
    model.assert_done();
}
