//! Helpers for the SQLite-specific tests: opening stores in temp dirs, a fixed clock, and raw connections that look
//! at the database file beside the store.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};

use engram_core::clock::Clock;
use engram_core::id::AgentId;
use engram_core::org::OrgId;
use engram_core::search::MessageSearch;
use engram_store::Store;
use engram_store::sqlite::DB_FILE;
use engram_store::{SqliteOptions, SqliteStore};
use engram_testkit::conformance::fixtures::{Must, all_messages};

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

pub async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir, SqliteOptions::default()).await.must("open store")
}

pub async fn open_with_clock(dir: &Path, clock: FixedClock) -> SqliteStore {
    let options = SqliteOptions { clock: Arc::new(clock), ..SqliteOptions::default() };
    SqliteStore::open(dir, options).await.must("open store")
}

/// A plain connection to the data dir's database, outside the store.
pub async fn raw(dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new().filename(dir.join(DB_FILE)).connect().await.must("raw connection")
}

/// Asserts that a text search for `word` finds exactly the agent's messages containing it, and nothing else: the
/// full-text index agrees with the table after whatever the test wrote.
pub async fn check_message_search(store: &dyn Store, org: &OrgId, agent: AgentId, word: &str) {
    let page = store.list_messages(org, agent, &all_messages()).await.must("list messages");
    let mut expected: Vec<String> = page
        .items
        .iter()
        .filter(|m| m.content.split_whitespace().any(|w| w == word))
        .map(|m| m.id.to_string())
        .collect();
    let query = MessageSearch { text: word.to_owned(), role: None, from: None, to: None, limit: 10_000 };
    let found = store.search_messages_text(org, agent, &query).await.must("search messages");
    let mut found: Vec<String> = found.iter().map(|s| s.item.id.to_string()).collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected, "text search for {word:?} finds exactly the messages holding it");
}
