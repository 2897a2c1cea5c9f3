//! Integration tests of the model providers against scripted model servers on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod openai;
mod retry;
mod tokens;
