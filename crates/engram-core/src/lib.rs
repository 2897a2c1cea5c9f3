//! engram-core: the domain model of engram and the pure logic around it.
//!
//! Everything here is plain data and total functions: ids, validated newtypes (labels, names, limits), agents,
//! memory blocks, messages, passages, runs and steps, and audit events. No I/O, no async runtime, no database:
//! the store, the server and the runtime depend on this crate, never the other way round.

pub mod agent;
pub mod audit;
pub mod block;
mod bounded;
pub mod clock;
pub mod commitment;
pub mod defaults;
pub mod fusion;
pub mod id;
pub mod import;
pub mod memory_edit;
pub mod message;
pub mod org;
pub mod page;
pub mod passage;
pub mod prompt;
pub mod run;
pub mod search;
pub mod text;
pub mod text_index;
mod topk;
pub mod validation;
pub mod vector;

pub use validation::ValidationError;
