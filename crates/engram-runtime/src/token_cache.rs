//! Token counts that never change, remembered: stored messages (per message and tokenizer; a message never changes
//! once written) and tool schema sets (per tokenizer; the built-in schemas are constants). No count can go stale; the
//! cache only bounds its size.

use std::collections::HashMap;
use std::sync::Mutex;

use engram_core::id::MessageId;

use crate::tools::Builtin;

/// Most entries kept before the cache starts over.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    counts: Mutex<HashMap<(MessageId, &'static str), u64>>,
    tool_sets: Mutex<HashMap<(Vec<Builtin>, &'static str), u64>>,
}

impl TokenCache {
    /// The cached count of `message` under `tokenizer`, or `count()` remembered.
    pub(crate) fn get_or(&self, message: MessageId, tokenizer: &'static str, count: impl FnOnce() -> u64) -> u64 {
        let key = (message, tokenizer);
        if let Some(&n) = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return n;
        }
        let n = count();
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() >= MAX_ENTRIES {
            counts.clear();
        }
        counts.insert(key, n);
        n
    }

    /// The cached count of the schemas of `tools` under `tokenizer`, or `count()` remembered.
    pub(crate) fn tools_or(&self, tools: &[Builtin], tokenizer: &'static str, count: impl FnOnce() -> u64) -> u64 {
        let key = (tools.to_vec(), tokenizer);
        let mut sets = self.tool_sets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&n) = sets.get(&key) {
            return n;
        }
        let n = count();
        if sets.len() >= 1024 {
            sets.clear();
        }
        sets.insert(key, n);
        n
    }
}
