//! Wire types: the JSON shapes of the v1 API. Responses are converted from domain types by hand; requests are
//! validated into domain types here, once, so handlers and the store only ever see checked values.

pub mod agent;
pub mod agentfile;
pub mod audit;
pub mod block;
pub mod common;
pub mod message;
pub mod passage;
pub mod run;
