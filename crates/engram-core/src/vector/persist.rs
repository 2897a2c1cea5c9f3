//! Bytes for the HNSW graph and for an index's graph with its node→key map, so the store can persist a graph
//! next to its database and reattach it instead of rebuilding (minutes at a million rows).
//!
//! Both formats are little-endian, start with a magic and a version, and end with a SHA-256 of what precedes
//! (the index format checks its own part and embeds the graph bytes, which check themselves). Decoding checks the
//! checksum and then every count, level and link against the sizes it declares, so damaged or crafted bytes give
//! `VectorError::BadGraph`, never a panic or an out-of-range node. Row vectors are not in the bytes: they come
//! from the database, and scores are always computed from them.

use sha2::{Digest, Sha256};

use super::VectorError;
use super::ann::{Ann, TOMB};
use super::hnsw::{Hnsw, HnswParams, MAX_LEVEL, NO_UPPER};
use super::set::{MAX_ROWS, VectorSet};

const GRAPH_MAGIC: &[u8; 8] = b"EGRMHNSW";
const INDEX_MAGIC: &[u8; 8] = b"EGRMVIDX";
const VERSION: u32 = 1;
const DIGEST_LEN: usize = 32;

fn bad(message: impl Into<String>) -> VectorError {
    VectorError::BadGraph(message.into())
}

/// Appends SHA-256 of everything written so far.
fn seal(mut bytes: Vec<u8>) -> Vec<u8> {
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    bytes
}

/// Splits off and verifies the trailing digest of `bytes[..end]`.
fn unseal(bytes: &[u8]) -> Result<&[u8], VectorError> {
    let body_len = bytes.len().checked_sub(DIGEST_LEN).ok_or_else(|| bad("too short"))?;
    let (body, digest) = bytes.split_at(body_len);
    if Sha256::digest(body)[..] != *digest {
        return Err(bad("checksum mismatch"));
    }
    Ok(body)
}

/// A bounds-checked cursor over bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], VectorError> {
        if len > self.bytes.len() {
            return Err(bad(format!("truncated in {what}")));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], VectorError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, VectorError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, VectorError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, VectorError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that must fit in memory-sized arithmetic and be at most `max`.
    fn count(&mut self, max: usize, what: &str) -> Result<usize, VectorError> {
        let count = self.u64(what)?;
        usize::try_from(count)
            .ok()
            .filter(|&count| count <= max)
            .ok_or_else(|| bad(format!("{what} {count} too large")))
    }

    /// `items` fixed-size items, after checking the bytes are there (so a huge count cannot allocate first).
    fn items(&mut self, items: usize, size: usize, what: &str) -> Result<&'a [u8], VectorError> {
        let len = items.checked_mul(size).ok_or_else(|| bad(format!("{what} size overflows")))?;
        self.take(len, what)
    }

    fn header(&mut self, magic: &[u8; 8]) -> Result<(), VectorError> {
        if self.take(8, "magic")? != magic {
            return Err(bad("not an engram vector graph"));
        }
        let version = self.u32("version")?;
        if version != VERSION {
            return Err(bad(format!("format version {version} is not supported (this build reads {VERSION})")));
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), VectorError> {
        if self.bytes.is_empty() { Ok(()) } else { Err(bad("trailing bytes")) }
    }
}

fn u32s(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(4).map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
}

impl Hnsw {
    /// The graph as versioned, checksummed bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        use std::sync::atomic::Ordering::Relaxed;
        let nodes = self.len();
        let mut out = Vec::with_capacity(64 + nodes * 2 + (self.layer0.len() + self.upper.len()) * 4 + DIGEST_LEN);
        out.extend_from_slice(GRAPH_MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        for value in [self.params.m, self.params.ef_construction, self.params.ef_search] {
            out.extend_from_slice(&(value.min(u32::MAX as usize) as u32).to_le_bytes());
        }
        out.extend_from_slice(&self.params.seed.to_le_bytes());
        out.extend_from_slice(&self.rng.to_le_bytes());
        out.extend_from_slice(&(nodes as u64).to_le_bytes());
        out.extend_from_slice(&self.entry.unwrap_or(u32::MAX).to_le_bytes());
        out.push(self.max_level);
        out.extend_from_slice(&self.levels);
        out.extend(self.deleted.iter().map(|&deleted| u8::from(deleted)));
        for word in &self.layer0 {
            out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
        }
        out.extend_from_slice(&(self.upper.len() as u64).to_le_bytes());
        for word in &self.upper {
            out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
        }
        seal(out)
    }

    /// A graph from `to_bytes` output, fully checked.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, VectorError> {
        let mut reader = Reader { bytes: unseal(bytes)? };
        reader.header(GRAPH_MAGIC)?;
        let m = reader.u32("m")? as usize;
        let ef_construction = reader.u32("ef_construction")? as usize;
        let ef_search = reader.u32("ef_search")? as usize;
        let seed = reader.u64("seed")?;
        let rng = reader.u64("rng")?;
        if !(2..=255).contains(&m) || ef_construction == 0 {
            return Err(bad("parameters out of range"));
        }
        let nodes = reader.count(MAX_ROWS, "node count")?;
        let entry = reader.u32("entry")?;
        let max_level = reader.u8("max level")?;
        let levels = reader.items(nodes, 1, "levels")?.to_vec();
        let deleted_bytes = reader.items(nodes, 1, "tombstones")?;
        let block0 = 2 * m + 1;
        let layer0_words = reader.items(nodes, block0 * 4, "layer 0")?;
        let upper_len = reader.count(u32::MAX as usize, "upper length")?;
        let upper_words = reader.items(upper_len, 4, "upper layers")?;
        reader.finish()?;

        let mut graph = Hnsw::new(HnswParams { m, ef_construction, ef_search, seed });
        graph.rng = rng;
        if levels.iter().any(|&level| level > MAX_LEVEL) || deleted_bytes.iter().any(|&flag| flag > 1) {
            return Err(bad("level or tombstone flag out of range"));
        }
        let expected_upper: usize = levels.iter().map(|&level| usize::from(level) * (m + 1)).sum();
        if expected_upper != upper_len {
            return Err(bad("upper layers do not match the levels"));
        }
        let top = levels.iter().copied().max();
        graph.entry = match (nodes, top) {
            (0, _) if entry == u32::MAX => None,
            (_, Some(top)) if (entry as usize) < nodes && levels[entry as usize] == top && max_level == top => {
                Some(entry)
            }
            _ => return Err(bad("entry point does not match the levels")),
        };
        graph.max_level = top.unwrap_or(0);
        let mut upper_at = Vec::with_capacity(nodes);
        let mut next = 0u32;
        for &level in &levels {
            if level == 0 {
                upper_at.push(NO_UPPER);
            } else {
                upper_at.push(next);
                next = next.saturating_add(u32::from(level) * (m as u32 + 1));
            }
        }
        check_blocks(u32s(layer0_words), block0, nodes)?;
        check_blocks(u32s(upper_words), m + 1, nodes)?;
        graph.layer0 = u32s(layer0_words).map(Into::into).collect();
        graph.upper = u32s(upper_words).map(Into::into).collect();
        graph.upper_at = upper_at;
        graph.deleted = deleted_bytes.iter().map(|&flag| flag == 1).collect();
        graph.deleted_count = graph.deleted.iter().filter(|&&deleted| deleted).count();
        graph.levels = levels;
        Ok(graph)
    }
}

/// Every block of `width` words: a count below `width`, then links to existing nodes.
fn check_blocks(words: impl Iterator<Item = u32>, width: usize, nodes: usize) -> Result<(), VectorError> {
    let mut count = 0usize;
    for (index, word) in words.enumerate() {
        let position = index % width;
        if position == 0 {
            count = word as usize;
            if count >= width {
                return Err(bad("a link count exceeds its block"));
            }
        } else if position <= count && word as usize >= nodes {
            return Err(bad("a link points past the last node"));
        }
    }
    Ok(())
}

impl Ann {
    /// The graph with the key of every node and the codes of its tombstones.
    pub(crate) fn to_bytes<A: Copy>(&self, set: &VectorSet<A>) -> Vec<u8> {
        let dim = set.dim();
        let mut out =
            Vec::with_capacity(64 + self.node_loc.len() * 9 + self.tomb_codes.len() + self.tomb_scales.len() * 4);
        out.extend_from_slice(INDEX_MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(dim as u64).to_le_bytes());
        out.extend_from_slice(&(self.node_loc.len() as u64).to_le_bytes());
        for &loc in &self.node_loc {
            let key = if loc & TOMB == 0 { set.key_at(loc as usize) } else { 0 };
            out.extend_from_slice(&key.to_le_bytes());
        }
        out.extend(self.node_loc.iter().map(|&loc| u8::from(loc & TOMB == 0)));
        out.extend_from_slice(&(self.tomb_scales.len() as u64).to_le_bytes());
        for scale in &self.tomb_scales {
            out.extend_from_slice(&scale.to_le_bytes());
        }
        out.extend_from_slice(&self.tomb_codes);
        let mut out = seal(out);
        out.extend_from_slice(&self.graph.to_bytes());
        out
    }

    /// Reattaches persisted bytes to `set`: every live node must name a distinct row of the set and every row
    /// must have a node.
    pub(crate) fn from_bytes<A: Copy>(bytes: &[u8], set: &VectorSet<A>) -> Result<Self, VectorError> {
        let dim = set.dim();
        let mut peek = Reader { bytes };
        peek.header(INDEX_MAGIC)?;
        let stored_dim = peek.count(usize::MAX, "dimension")?;
        if stored_dim != dim {
            return Err(bad(format!("graph is for {stored_dim}-dimensional vectors, the rows have {dim}")));
        }
        let nodes = peek.count(MAX_ROWS, "node count")?;
        peek.items(nodes, 9, "node keys")?;
        let tomb_count = peek.count(MAX_ROWS, "tombstone count")?;
        peek.items(tomb_count, 4, "tombstone scales")?;
        peek.items(tomb_count.saturating_mul(dim), 1, "tombstone codes")?;
        let own_len = bytes.len() - peek.bytes.len() + DIGEST_LEN;
        let (own, graph_bytes) = bytes.split_at(own_len.min(bytes.len()));
        let mut reader = Reader { bytes: unseal(own)? };
        reader.take(8 + 4 + 8 + 8, "header")?;
        let keys = reader.items(nodes, 8, "node keys")?;
        let live = reader.items(nodes, 1, "live flags")?;
        reader.take(8, "tombstone count")?;
        let scale_bytes = reader.items(tomb_count, 4, "tombstone scales")?;
        let code_bytes = reader.items(tomb_count.saturating_mul(dim), 1, "tombstone codes")?;
        reader.finish()?;

        let graph = Hnsw::from_bytes(graph_bytes)?;
        if graph.len() != nodes {
            return Err(bad("graph and key map disagree on the node count"));
        }
        let mut node_loc = Vec::with_capacity(nodes);
        let mut slot_node = vec![u32::MAX; set.len()];
        let mut tombs_seen = 0u32;
        for (node, (key, &flag)) in keys.chunks_exact(8).zip(live).enumerate() {
            if flag == 1 {
                let mut word = [0u8; 8];
                word.copy_from_slice(key);
                let key = i64::from_le_bytes(word);
                let slot = set.slot_of(key).ok_or_else(|| bad(format!("graph names key {key}, which has no row")))?;
                if slot_node[slot] != u32::MAX || graph.deleted[node] {
                    return Err(bad(format!("key {key} appears twice or as a tombstone")));
                }
                slot_node[slot] = node as u32;
                node_loc.push(slot as u32);
            } else if flag == 0 && graph.deleted[node] {
                node_loc.push(TOMB | tombs_seen);
                tombs_seen += 1;
            } else {
                return Err(bad("live flags and tombstones disagree"));
            }
        }
        if tombs_seen as usize != tomb_count || slot_node.contains(&u32::MAX) {
            return Err(bad("graph does not cover exactly the rows it was loaded with"));
        }
        let tomb_scales: Vec<f32> =
            u32s(scale_bytes).map(f32::from_bits).map(|scale| if scale.is_finite() { scale } else { 0.0 }).collect();
        let tomb_codes = code_bytes.to_vec();
        Ok(Self { graph, node_loc, slot_node, tomb_codes, tomb_scales })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::IndexConfig;
    use crate::vector::hnsw::tests::{data, params};
    use crate::vector::index::{SearchPath, VectorIndex};
    use crate::vector::synthetic::{Rng, Shape, points, queries_near};

    fn graph_bytes() -> Vec<u8> {
        let (flat, _) = data(300);
        let mut graph = Hnsw::build(params(), 300, &flat, 2);
        graph.mark_deleted(17);
        graph.to_bytes()
    }

    /// Recomputes the trailing digest, so a test can reach the checks behind the checksum.
    fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
        bytes.truncate(bytes.len() - DIGEST_LEN);
        seal(bytes)
    }

    #[test]
    fn graph_round_trips_exactly() {
        let bytes = graph_bytes();
        let graph = Hnsw::from_bytes(&bytes).unwrap();
        assert_eq!(graph.len(), 300);
        assert_eq!(graph.deleted_count, 1);
        assert!(graph.deleted[17]);
        assert_eq!(graph.to_bytes(), bytes, "decoding and encoding again gives the same bytes");
    }

    #[test]
    fn damaged_graph_bytes_are_errors_not_panics() {
        let bytes = graph_bytes();
        let mut rng = Rng::new(9);
        for _ in 0..200 {
            let mut damaged = bytes.clone();
            let at = rng.below(damaged.len());
            damaged[at] ^= 1 << rng.below(8);
            assert!(matches!(Hnsw::from_bytes(&damaged), Err(VectorError::BadGraph(_))));
        }
        for len in [0, 1, 8, 12, 40, bytes.len() / 2, bytes.len() - 1] {
            assert!(Hnsw::from_bytes(&bytes[..len]).is_err(), "truncated to {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Hnsw::from_bytes(&longer).is_err());
        assert!(Hnsw::from_bytes(&vec![0u8; 4096]).is_err());
    }

    #[test]
    fn checked_fields_behind_a_valid_checksum_are_still_checked() {
        let bytes = graph_bytes();
        let mut version = bytes.clone();
        version[8] = 2;
        let error = Hnsw::from_bytes(&reseal(version)).unwrap_err();
        assert_eq!(error, bad("format version 2 is not supported (this build reads 1)"));
        // The first link of node 0 on layer 0 sits right after the header, levels and tombstone flags.
        let header = 8 + 4 + 12 + 16 + 8 + 4 + 1;
        let first_link = header + 300 * 2 + 4;
        let mut link = bytes.clone();
        link[first_link..first_link + 4].copy_from_slice(&5_000u32.to_le_bytes());
        assert_eq!(Hnsw::from_bytes(&reseal(link)).unwrap_err(), bad("a link points past the last node"));
        let mut count = bytes.clone();
        count[first_link - 4..first_link].copy_from_slice(&99u32.to_le_bytes());
        assert_eq!(Hnsw::from_bytes(&reseal(count)).unwrap_err(), bad("a link count exceeds its block"));
        let mut nodes = bytes;
        nodes[8 + 4 + 12 + 16..8 + 4 + 12 + 16 + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Hnsw::from_bytes(&reseal(nodes)).is_err());
    }

    #[test]
    fn index_graph_reattaches_to_the_same_rows_in_any_order() {
        let dim = 16;
        let data = points(700, dim, Shape { clusters: 20, ..Shape::CLUSTERED }, 4, 1);
        let config = IndexConfig {
            ann_threshold: 300,
            hnsw: HnswParams { m: 8, ef_construction: 40, ef_search: 32, seed: 1 },
            ..IndexConfig::default()
        };
        let mut index = VectorIndex::new(dim, config.clone());
        let rows: Vec<(i64, &[f32], u8)> =
            data.chunks_exact(dim).enumerate().map(|(key, row)| (key as i64 * 10, row, (key % 3) as u8)).collect();
        index.extend(rows.iter().copied()).unwrap();
        for key in (0..7_000).step_by(130) {
            index.remove(key);
        }
        let bytes = index.graph_to_bytes().unwrap();
        let live: Vec<(i64, &[f32], u8)> = rows.iter().rev().filter(|row| index.contains(row.0)).copied().collect();
        let restored = VectorIndex::restore(dim, config.clone(), live.iter().copied(), &bytes).unwrap();
        assert!(restored.has_graph());
        for query in queries_near(&data, dim, 15, Shape::CLUSTERED, 5).chunks_exact(dim) {
            let before = index.search_using(SearchPath::Approximate, query, 10, |_, attr| *attr != 1).unwrap();
            let after = restored.search_using(SearchPath::Approximate, query, 10, |_, attr| *attr != 1).unwrap();
            assert_eq!(before, after);
        }
        let missing = VectorIndex::restore(dim, config.clone(), live[1..].iter().copied(), &bytes);
        assert!(matches!(missing, Err(VectorError::BadGraph(_))));
        let extra = live.iter().copied().chain([(7, &data[..dim], 0)]);
        assert!(matches!(VectorIndex::restore(dim, config.clone(), extra, &bytes), Err(VectorError::BadGraph(_))));
        let other_dim =
            VectorIndex::<u8>::restore(8, config.clone(), std::iter::empty::<(i64, Vec<f32>, u8)>(), &bytes);
        assert!(matches!(other_dim, Err(VectorError::BadGraph(_))));
        let mut damaged = bytes.clone();
        damaged[30] ^= 4;
        assert!(matches!(
            VectorIndex::restore(dim, config, live.iter().copied(), &damaged),
            Err(VectorError::BadGraph(_))
        ));
    }
}
