//! The search filters as SQL conditions, shared by full-text and vector search so that both apply them inside the
//! ranking statement, before the limit: a passage's tags (any or all of them) and time range, a message's role and
//! time range. Every value is a bound parameter.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};

use engram_core::message::Role;
use engram_core::search::{MessageSearch, PassageFilter, TagMode};

use super::rows::stored_time;

/// What a search keeps, before ranking.
#[derive(Debug, Clone, Copy)]
pub(super) enum Filter<'a> {
    Passages(&'a PassageFilter),
    Messages { role: Option<Role>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>> },
}

impl<'a> Filter<'a> {
    pub(super) fn messages(search: &'a MessageSearch) -> Self {
        Self::Messages { role: search.role, from: search.from, to: search.to }
    }

    /// Appends ` AND …` conditions on the table aliased `alias`.
    pub(super) fn push(&self, sql: &mut QueryBuilder<Postgres>, alias: &str) {
        let (from, to) = match self {
            Filter::Passages(filter) => (filter.from, filter.to),
            Filter::Messages { from, to, .. } => (*from, *to),
        };
        if let Some(from) = from {
            // Stored times are whole microseconds; a bound with nanoseconds compares as SQLite's integer micros do.
            sql.push(format!(" AND {alias}.created_at >= ")).push_bind(stored_time(from));
        }
        if let Some(to) = to {
            sql.push(format!(" AND {alias}.created_at <= ")).push_bind(stored_time(to));
        }
        match self {
            Filter::Passages(filter) => {
                let tags: BTreeSet<&str> = filter.tags.iter().map(|t| t.as_str()).collect();
                if !tags.is_empty() {
                    let operator = match filter.tag_mode {
                        TagMode::Any => "&&",
                        TagMode::All => "@>",
                    };
                    let tags: Vec<String> = tags.into_iter().map(str::to_owned).collect();
                    sql.push(format!(" AND {alias}.tags {operator} ")).push_bind(tags).push("::text[]");
                }
            }
            Filter::Messages { role: Some(role), .. } => {
                sql.push(format!(" AND {alias}.role = ")).push_bind(role.as_str());
            }
            Filter::Messages { role: None, .. } => {}
        }
    }
}
