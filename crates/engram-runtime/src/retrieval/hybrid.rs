//! Hybrid ranking glue: how many candidates each side contributes, and turning the two scored lists of domain
//! objects into [`engram_core::fusion`]'s keyed lists and back.

use std::collections::HashMap;
use std::hash::Hash;

use engram_core::fusion::{FusionInput, fuse as fuse_keys};
use engram_core::search::Scored;

/// Most candidates either side contributes to a fusion.
const MAX_POOL: u32 = 200;

/// How many candidates each side fetches for a fused top `k`: enough that an item ranked moderately by both sides
/// is in both lists.
pub(super) fn pool(k: u32) -> u32 {
    k.saturating_mul(4).max(50).min(MAX_POOL.max(k))
}

/// Fuses the text and vector results (each best first) into the best `k`, identified by `id`.
pub(super) fn fuse<T, I: Copy + Eq + Hash>(
    query: &str,
    text: Vec<Scored<T>>,
    vector: Vec<Scored<T>>,
    k: u32,
    id: impl Fn(&T) -> I,
) -> Vec<Scored<T>> {
    let mut keys: HashMap<I, i64> = HashMap::new();
    let mut items: Vec<Option<T>> = Vec::new();
    let mut keyed = |scored: Vec<Scored<T>>| -> Vec<(i64, f64)> {
        scored
            .into_iter()
            .map(|s| {
                let key = *keys.entry(id(&s.item)).or_insert_with(|| {
                    items.push(None);
                    items.len() as i64 - 1
                });
                if let Some(slot) = items.get_mut(key as usize)
                    && slot.is_none()
                {
                    *slot = Some(s.item);
                }
                (key, s.score)
            })
            .collect()
    };
    let text = keyed(text);
    let vector = keyed(vector);
    let fused = fuse_keys(&FusionInput { query, text: &text, vector: &vector }, k as usize);
    fused
        .into_iter()
        .filter_map(|(key, score)| {
            let item = items.get_mut(usize::try_from(key).ok()?)?.take()?;
            Some(Scored { item, score })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_wider_than_k_and_bounded() {
        assert_eq!(pool(10), 50);
        assert_eq!(pool(20), 80);
        assert_eq!(pool(100), 200);
    }

    #[test]
    fn an_item_found_by_both_sides_comes_back_once() {
        let text = vec![Scored { item: "a", score: 3.0 }, Scored { item: "b", score: 1.0 }];
        let vector = vec![Scored { item: "b", score: 0.9 }, Scored { item: "c", score: 0.5 }];
        let fused = fuse("q", text, vector, 10, |s: &&str| *s);
        let names: Vec<&str> = fused.iter().map(|s| s.item).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec!["a", "b", "c"], "each item once: {names:?}");
    }
}
