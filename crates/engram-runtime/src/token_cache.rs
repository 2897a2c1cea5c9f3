//! Token counts of stored messages, remembered per message and tokenizer. Messages never change once written, so a
//! count can never go stale; the cache only bounds its size.

use std::collections::HashMap;
use std::sync::Mutex;

use engram_core::id::MessageId;

/// Most entries kept before the cache starts over.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    counts: Mutex<HashMap<(MessageId, &'static str), u64>>,
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
}
