//! `Ann`: an HNSW graph bound to the rows of a `VectorSet`, without a second copy of the vectors.
//!
//! Graph nodes are numbered in insertion order and never move; set rows move when another row is removed (swap
//! removal). Two maps tie them together: `node_loc` (node → slot, or → tombstone) and `slot_node` (slot → node).
//! A removed row's codes are copied into `tomb_codes`, because searches still route through its node until the
//! graph is rebuilt; the index bounds tombstones to a fraction of the graph. The graph walks on codes; `search`
//! re-ranks the beam it returns with the rows' `f32` scores, so hit scores are exact.

use super::distance::dot;
use super::hit::{Hit, TopK, into_hits};
use super::hnsw::{Code, Hnsw, HnswParams, NodeVectors};
use super::quant::{Probe, quantize_into};
use super::set::VectorSet;

/// Marks a `node_loc` entry as a tombstone number rather than a slot of the set.
pub(crate) const TOMB: u32 = 1 << 31;

/// The graph over a set's rows and the maps between its nodes and the rows.
#[derive(Debug)]
pub(crate) struct Ann {
    pub(crate) graph: Hnsw,
    /// Per node: its slot in the set, or `TOMB | i` for the `i`-th tombstone.
    pub(crate) node_loc: Vec<u32>,
    /// Per set slot: its node.
    pub(crate) slot_node: Vec<u32>,
    /// Codes of removed rows, `dim` each, in tombstone order, and their scales.
    pub(crate) tomb_codes: Vec<u8>,
    pub(crate) tomb_scales: Vec<f32>,
}

/// Reads node codes from the set, or from the tombstones for removed nodes.
pub(crate) struct Rows<'a, A> {
    set: &'a VectorSet<A>,
    node_loc: &'a [u32],
    tomb_codes: &'a [u8],
    tomb_scales: &'a [f32],
}

impl<A: Copy + Sync> NodeVectors for Rows<'_, A> {
    #[inline]
    fn code(&self, node: u32) -> Code<'_> {
        match self.node_loc.get(node as usize) {
            Some(&loc) if loc & TOMB == 0 => {
                let (codes, scale) = self.set.code(loc as usize);
                Code { codes, scale }
            }
            Some(&loc) => {
                let (dim, tomb) = (self.set.dim(), (loc & !TOMB) as usize);
                Code {
                    codes: self.tomb_codes.get(tomb * dim..(tomb + 1) * dim).unwrap_or(&[]),
                    scale: self.tomb_scales.get(tomb).copied().unwrap_or(0.0),
                }
            }
            None => Code { codes: &[], scale: 0.0 },
        }
    }
}

impl Ann {
    /// Builds a graph over every row of `set` on `threads` threads.
    pub(crate) fn build<A: Copy + Sync>(set: &VectorSet<A>, params: HnswParams, threads: usize) -> Self {
        let node_loc: Vec<u32> = (0..set.len() as u32).collect();
        let rows = Rows { set, node_loc: &node_loc, tomb_codes: &[], tomb_scales: &[] };
        let graph = Hnsw::build(params, set.len(), &rows, threads);
        Self { graph, slot_node: node_loc.clone(), node_loc, tomb_codes: Vec::new(), tomb_scales: Vec::new() }
    }

    fn rows<'a, A>(&'a self, set: &'a VectorSet<A>) -> Rows<'a, A> {
        Rows { set, node_loc: &self.node_loc, tomb_codes: &self.tomb_codes, tomb_scales: &self.tomb_scales }
    }

    /// Links the set's last row (just pushed) into the graph.
    pub(crate) fn append<A: Copy + Sync>(&mut self, set: &VectorSet<A>) {
        self.node_loc.push((set.len() - 1) as u32);
        let Self { graph, node_loc, tomb_codes, tomb_scales, .. } = self;
        let node = graph.add(&Rows { set, node_loc, tomb_codes, tomb_scales });
        self.slot_node.push(node);
    }

    /// Turns the node of `slot` into a tombstone and mirrors the swap removal the set is about to do.
    /// Call before `set.remove` of the same row.
    pub(crate) fn bury<A: Copy>(&mut self, set: &VectorSet<A>, slot: usize) {
        let (Some(&node), Some(last)) = (self.slot_node.get(slot), set.len().checked_sub(1)) else {
            return;
        };
        let tomb = self.tomb_scales.len() as u32;
        let (codes, scale) = set.code(slot);
        self.tomb_codes.extend_from_slice(codes);
        self.tomb_scales.push(scale);
        if let Some(loc) = self.node_loc.get_mut(node as usize) {
            *loc = TOMB | tomb;
        }
        self.graph.mark_deleted(node);
        if slot != last
            && let Some(&moved) = self.slot_node.get(last)
        {
            self.slot_node[slot] = moved;
            if let Some(loc) = self.node_loc.get_mut(moved as usize) {
                *loc = slot as u32;
            }
        }
        self.slot_node.pop();
    }

    /// Share of graph nodes that are tombstones.
    pub(crate) fn tombstone_fraction(&self) -> f64 {
        self.graph.deleted_count as f64 / self.graph.len().max(1) as f64
    }

    /// Approximate top-k among live rows `accept` lets through: a beam of `max(ef, k)` nodes from the graph,
    /// re-ranked by their `f32` scores (ties by smaller key).
    pub(crate) fn search<A: Copy + Sync>(
        &self,
        set: &VectorSet<A>,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &(impl Fn(i64, &A) -> bool + Sync),
    ) -> Vec<Hit> {
        let mut codes = vec![0u8; query.len()];
        let (scale, _) = quantize_into(query, &mut codes);
        let probe = Probe::of(&codes, scale);
        let slot_of = |node: u32| self.node_loc.get(node as usize).copied().filter(|loc| loc & TOMB == 0);
        let accept_node =
            |node: u32| slot_of(node).is_some_and(|slot| accept(set.key_at(slot as usize), set.attr_at(slot as usize)));
        let mut top = TopK::new(k);
        for near in self.graph.search(&self.rows(set), &probe, ef.max(k), &accept_node) {
            if let Some(slot) = slot_of(near.node) {
                top.offer(set.key_at(slot as usize), dot(query, set.row(slot as usize)));
            }
        }
        into_hits(top)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.graph.memory_bytes()
            + (self.node_loc.capacity() + self.slot_node.capacity() + self.tomb_scales.capacity()) * 4
            + self.tomb_codes.capacity()
    }
}
