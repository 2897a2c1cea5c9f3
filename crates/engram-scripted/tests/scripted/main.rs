//! Tests of the scripted model servers: each wire format, streaming and not, as a raw HTTP client sees it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod openai;
