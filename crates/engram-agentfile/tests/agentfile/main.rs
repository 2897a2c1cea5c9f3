//! Tests of the Agent File import and export over the real sample files (`tests/samples/`): every sample imports with
//! the blocks, messages and window its JSON says; an export imports back to an equal agent and is a fixed point;
//! mangled files are refused with a field, never with a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod mangled;
mod round_trip;
mod samples;
mod support;
