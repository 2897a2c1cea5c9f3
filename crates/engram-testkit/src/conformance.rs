//! The store conformance suite: what every [`Store`] backend must do, written against the trait only, so SQLite and
//! PostgreSQL pass the very same checks.
//!
//! Each check is a plain `async fn(Arc<dyn Store>)` that gets a fresh, empty store and panics with a message on the
//! first broken expectation. [`CHECKS`] lists them by name; a backend's test binary generates one `#[tokio::test]` per
//! check with [`store_conformance_tests!`](crate::store_conformance_tests), given a [`StoreFactory`]:
//!
//! ```text
//! struct Sqlite;
//! impl engram_testkit::conformance::StoreFactory for Sqlite {
//!     async fn fresh(&self) -> FreshStore { /* open a store in a new temp dir */ }
//! }
//! mod conformance {
//!     engram_testkit::store_conformance_tests!(super::Sqlite);
//! }
//! ```

mod agents;
mod audit;
mod blocks;
mod concurrency;
mod embeddings;
pub mod fixtures;
mod idempotency;
mod import;
mod isolation;
mod messages;
mod passages;
mod recall;
mod runs;
mod search;
mod vectors;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use engram_store::Store;

/// A new, empty store for one check, and whatever must live as long as it (a temp dir, a database to drop).
pub struct FreshStore {
    pub store: Arc<dyn Store>,
    _keep: Box<dyn Any + Send + Sync>,
}

impl FreshStore {
    /// Wraps `store`; `keep` is dropped only after the check has finished with the store.
    pub fn new(store: Arc<dyn Store>, keep: impl Any + Send + Sync) -> Self {
        Self { store, _keep: Box::new(keep) }
    }
}

/// Makes a fresh, empty store for each check.
pub trait StoreFactory: Send + Sync {
    fn fresh(&self) -> impl Future<Output = FreshStore> + Send;
}

/// A check's body.
pub type CheckFn = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every check, by name. [`store_conformance_tests!`](crate::store_conformance_tests) generates one test per entry
/// and a test that the two lists agree.
pub const CHECKS: &[(&str, CheckFn)] = &[
    ("agent_create_and_get", |s| Box::pin(agents::create_and_get(s))),
    ("agent_update_and_noop_patch", |s| Box::pin(agents::update_and_noop_patch(s))),
    ("agent_list_filters", |s| Box::pin(agents::list_filters(s))),
    ("agent_list_pagination", |s| Box::pin(agents::list_pagination(s))),
    ("agent_create_rejects_bad_blocks", |s| Box::pin(agents::create_rejects_bad_blocks(s))),
    ("agent_create_attaches_existing_blocks", |s| Box::pin(agents::create_attaches_existing_blocks(s))),
    ("agent_delete_keeps_shared_blocks", |s| Box::pin(agents::delete_keeps_shared_blocks(s))),
    ("block_update_via_label", |s| Box::pin(blocks::update_via_label(s))),
    ("block_shared_between_agents", |s| Box::pin(blocks::shared_between_agents(s))),
    ("block_version_conflict", |s| Box::pin(blocks::version_conflict(s))),
    ("block_limit_exceeded_changes_nothing", |s| Box::pin(blocks::limit_exceeded_changes_nothing(s))),
    ("block_standalone_crud", |s| Box::pin(blocks::standalone_crud(s))),
    ("block_attach_detach_rules", |s| Box::pin(blocks::attach_detach_rules(s))),
    ("block_delete_in_use", |s| Box::pin(blocks::delete_in_use(s))),
    ("passage_insert_get_list_delete", |s| Box::pin(passages::insert_get_list_delete(s))),
    ("passage_batches_and_pagination", |s| Box::pin(passages::batches_and_pagination(s))),
    ("passage_embeddings", |s| Box::pin(passages::embeddings(s))),
    ("passage_text_search", |s| Box::pin(search::text_search(s))),
    ("passage_search_filters", |s| Box::pin(search::filters(s))),
    ("message_append_positions", |s| Box::pin(messages::append_positions(s))),
    ("message_list_queries", |s| Box::pin(messages::list_queries(s))),
    ("message_context_window", |s| Box::pin(recall::context_window(s))),
    ("message_compaction", |s| Box::pin(recall::compaction(s))),
    ("message_text_search", |s| Box::pin(recall::text_search(s))),
    ("passage_tags", |s| Box::pin(recall::passage_tags(s))),
    ("run_lifecycle", |s| Box::pin(runs::lifecycle(s))),
    ("run_cancel", |s| Box::pin(runs::cancel(s))),
    ("run_status_and_isolation", |s| Box::pin(runs::status_and_isolation(s))),
    ("run_step_messages", |s| Box::pin(runs::step_messages(s))),
    ("run_combined_writes", |s| Box::pin(runs::combined_writes(s))),
    ("run_queue", |s| Box::pin(runs::queue(s))),
    ("window_snapshot", |s| Box::pin(recall::window_snapshot(s))),
    ("org_isolation", |s| Box::pin(isolation::org_isolation(s))),
    ("audit_agent_lifecycle_events", |s| Box::pin(audit::agent_lifecycle_events(s))),
    ("audit_commitments_chain", |s| Box::pin(audit::commitments_chain(s))),
    ("audit_seq_per_org", |s| Box::pin(audit::seq_per_org(s))),
    ("idempotency_lifecycle", |s| Box::pin(idempotency::lifecycle(s))),
    ("idempotency_expiry_and_scope", |s| Box::pin(idempotency::expiry_and_scope(s))),
    ("concurrent_passage_inserts", |s| Box::pin(concurrency::concurrent_passage_inserts(s))),
    ("passage_vector_search", |s| Box::pin(vectors::passage_search(s))),
    ("passage_vector_filters", |s| Box::pin(vectors::passage_filters(s))),
    ("passage_vector_model_mismatch", |s| Box::pin(vectors::passage_model_mismatch(s))),
    ("passage_vector_deletes", |s| Box::pin(vectors::passage_deletes(s))),
    ("passage_vector_model_change_after_deletes", |s| Box::pin(vectors::passage_model_change_after_deletes(s))),
    ("message_vector_search", |s| Box::pin(vectors::message_search(s))),
    ("embedding_pending_rows", |s| Box::pin(embeddings::pending_rows(s))),
    ("embedding_set_rows", |s| Box::pin(embeddings::set_rows(s))),
    ("agent_embedding_model_in_use", |s| Box::pin(embeddings::model_in_use(s))),
    ("import_agents_blocks_and_history", |s| Box::pin(import::agents_blocks_and_history(s))),
    ("import_refused_creates_nothing", |s| Box::pin(import::refused_imports_create_nothing(s))),
];

/// The names in [`CHECKS`], in order.
pub fn names() -> Vec<&'static str> {
    CHECKS.iter().map(|(name, _)| *name).collect()
}

/// Runs the check `name` against a fresh store from `factory`, then closes the store.
pub async fn run(factory: &impl StoreFactory, name: &str) {
    let Some((_, check)) = CHECKS.iter().find(|(n, _)| *n == name) else {
        panic!("no store conformance check named `{name}`");
    };
    let fresh = factory.fresh().await;
    check(fresh.store.clone()).await;
    fresh.store.close().await;
}

/// Generates one `#[tokio::test]` per conformance check for a backend, given an expression of a type that implements
/// [`StoreFactory`]. Invoke it inside a module (`mod conformance { … }`) so test names read `conformance::<check>`.
/// The caller needs `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! store_conformance_tests {
    ($factory:expr) => {
        $crate::store_conformance_tests!(@tests $factory;
            agent_create_and_get,
            agent_update_and_noop_patch,
            agent_list_filters,
            agent_list_pagination,
            agent_create_rejects_bad_blocks,
            agent_create_attaches_existing_blocks,
            agent_delete_keeps_shared_blocks,
            block_update_via_label,
            block_shared_between_agents,
            block_version_conflict,
            block_limit_exceeded_changes_nothing,
            block_standalone_crud,
            block_attach_detach_rules,
            block_delete_in_use,
            passage_insert_get_list_delete,
            passage_batches_and_pagination,
            passage_embeddings,
            passage_text_search,
            passage_search_filters,
            message_append_positions,
            message_list_queries,
            message_context_window,
            message_compaction,
            message_text_search,
            passage_tags,
            run_lifecycle,
            run_cancel,
            run_status_and_isolation,
            run_step_messages,
            run_combined_writes,
            run_queue,
            window_snapshot,
            org_isolation,
            audit_agent_lifecycle_events,
            audit_commitments_chain,
            audit_seq_per_org,
            idempotency_lifecycle,
            idempotency_expiry_and_scope,
            concurrent_passage_inserts,
            passage_vector_search,
            passage_vector_filters,
            passage_vector_model_mismatch,
            passage_vector_deletes,
            passage_vector_model_change_after_deletes,
            message_vector_search,
            embedding_pending_rows,
            embedding_set_rows,
            agent_embedding_model_in_use,
            import_agents_blocks_and_history,
            import_refused_creates_nothing,
        );
    };
    (@tests $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::conformance::run(&$factory, stringify!($name)).await;
            }
        )*

        #[test]
        fn every_check_has_a_test() {
            let generated: &[&str] = &[$(stringify!($name)),*];
            assert_eq!(generated, $crate::conformance::names().as_slice());
        }
    };
}
