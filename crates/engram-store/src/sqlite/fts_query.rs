//! The FTS5 match expression for a free-text search, shared by the passage (`search`) and message (`recall`)
//! searches: the query's words (function words already dropped by [`query_terms`]), each double-quoted so no user
//! text is read as FTS syntax, joined with `OR`, minus the words too common to be worth scoring.
//!
//! An `OR` query costs FTS5 one BM25 evaluation per row that holds any of its words, and the index is shared by
//! every agent, so a single common word ("one", "time") can make a search score a large share of the whole table:
//! about 1.2 µs a row, 100 ms at 100k passages. Like Lucene's cutoff frequency, words that occur in more than
//! [`COMMON_ROWS`] rows are left out of the expression when the query has rarer words: those carry most of BM25's
//! weight anyway (its IDF falls towards zero as a word becomes common) and they keep the rows to score small. A
//! query made only of common words requires them all (`AND`), as Lucene's common-terms query does: the rows holding
//! every one of them are few next to the rows holding any. Each word's count is probed with a `LIMIT`, so the probe
//! costs at most [`COMMON_ROWS`] doclist entries per word (well under a millisecond), whatever the table's size.
//!
//! 2,000 rather than Lucene's relative cutoffs: the cost to bound is absolute (rows scored), and at 1.2 µs a row
//! three rare words of 2,000 rows each keep a search's text half near 7 ms.

use sqlx::SqliteConnection;

use engram_core::search::query_terms;

use crate::error::StoreError;

/// Rows (over all agents) above which a word counts as common.
pub(super) const COMMON_ROWS: i64 = 2_000;

/// The FTS5 expression matching any of the terms, or `None` when the text has no words (without the probe: for the
/// query-plan tests).
#[cfg(test)]
pub(super) fn match_expression(text: &str) -> Option<String> {
    expression(&query_terms(text))
}

fn expression(terms: &[String]) -> Option<String> {
    joined(terms, " OR ")
}

fn joined(terms: &[String], operator: &str) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms.iter().map(|t| quoted(t)).collect();
    Some(quoted.join(operator))
}

fn quoted(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The expression to run against `fts_table` (a trusted table name): [`match_expression`] without the words that
/// more than [`COMMON_ROWS`] rows contain, or all the words required together when every one is that common.
pub(super) async fn selective_expression(
    conn: &mut SqliteConnection,
    fts_table: &'static str,
    text: &str,
) -> Result<Option<String>, StoreError> {
    let terms = query_terms(text);
    if terms.len() < 2 {
        return Ok(expression(&terms));
    }
    let probe =
        format!("SELECT count(*) FROM (SELECT 1 FROM {fts_table} WHERE {fts_table} MATCH ? LIMIT {})", COMMON_ROWS + 1);
    let mut rare = Vec::with_capacity(terms.len());
    for term in &terms {
        // The table name is one of the store's own constants; the term is bound.
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(probe.as_str())).bind(quoted(term)).fetch_one(&mut *conn).await?;
        if rows <= COMMON_ROWS {
            rare.push(term.clone());
        }
    }
    Ok(if rare.is_empty() { joined(&terms, " AND ") } else { expression(&rare) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_expressions_quote_every_term() {
        assert_eq!(match_expression("Where's the cat?").as_deref(), Some("\"cat\""));
        assert_eq!(match_expression("NEAR(a b) AND *"), Some("\"near\" OR \"b\"".to_owned()));
        assert_eq!(match_expression(" -- "), None);
    }
}
