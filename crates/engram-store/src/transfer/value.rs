//! One row in transit: its values in a form both backends agree on, read from a SQLite row or a PostgreSQL row by
//! the column's [`Kind`], and bound into PostgreSQL statements in the form the target stores (a vector as pgvector
//! text or as bytes). A row read back from the target equals the source's row exactly when the stored data is the
//! same, which is how an existing row is told apart from a diverged one.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Postgres, QueryBuilder, Row as _, Sqlite};

use super::tables::{Column, Kind, Table};
use crate::codec::{corrupt, decode_vector, encode_vector, parse_vector_text, vector_text};
use crate::error::StoreError;
use crate::postgres::VectorPath;

/// A stored value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Time(DateTime<Utc>),
    TextList(Vec<String>),
    /// JSON text, exactly as stored.
    Json(String),
    Vector(Vec<f32>),
}

/// A row's values, in the order of its table's `columns`.
pub(super) type Row = Vec<Value>;

impl Value {
    /// The value as it appears in a key or a message (keys are text or integers).
    fn display(&self) -> String {
        match self {
            Value::Null => "NULL".to_owned(),
            Value::Int(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Text(s) | Value::Json(s) => s.clone(),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Time(t) => t.to_rfc3339(),
            Value::TextList(items) => format!("{items:?}"),
            Value::Vector(v) => format!("a vector of {} dimensions", v.len()),
        }
    }
}

/// The row's key as text: `agent_…`, or `(org_…, 12)` for a key of several columns. Identifies a row in reports
/// and errors, and in the maps that match source rows with target rows.
pub(super) fn key_text(table: &Table, row: &[Value]) -> String {
    let parts: Vec<String> = row.iter().take(table.key.len()).map(Value::display).collect();
    match parts.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", parts.join(", ")),
    }
}

/// The first column whose values differ between two rows of `table`, described for a message.
pub(super) fn difference(table: &Table, source: &[Value], target: &[Value]) -> Option<String> {
    let (i, column) =
        table.columns.iter().enumerate().find(|(i, _)| source.get(*i).is_none() || source.get(*i) != target.get(*i))?;
    let shown = |value: Option<&Value>| value.map_or_else(|| "nothing".to_owned(), short);
    Some(format!(
        "its `{}` is {} in the target but {} in the source",
        column.name,
        shown(target.get(i)),
        shown(source.get(i))
    ))
}

/// A value for a message: long text is cut, content is never dumped whole.
fn short(value: &Value) -> String {
    let text = value.display();
    if text.chars().count() <= 40 {
        return format!("`{text}`");
    }
    let cut: String = text.chars().take(39).collect();
    format!("`{cut}…`")
}

/// Column `i` of a SQLite row, as `column` describes it.
pub(super) fn from_sqlite(row: &SqliteRow, i: usize, column: &Column) -> Result<Value, StoreError> {
    let bad = |e: sqlx::Error| corrupt(column.name, e);
    let value = match column.kind {
        Kind::Text => row.try_get::<Option<String>, _>(i).map_err(bad)?.map(Value::Text),
        Kind::Int => row.try_get::<Option<i64>, _>(i).map_err(bad)?.map(Value::Int),
        Kind::Bool => row.try_get::<Option<i64>, _>(i).map_err(bad)?.map(|n| Value::Bool(n != 0)),
        Kind::Time => match row.try_get::<Option<i64>, _>(i).map_err(bad)? {
            Some(micros) => Some(Value::Time(
                DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| corrupt(column.name, format!("{micros} is not a timestamp")))?,
            )),
            None => None,
        },
        Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)?.map(Value::Bytes),
        Kind::TextList => match row.try_get::<Option<String>, _>(i).map_err(bad)? {
            Some(json) => Some(Value::TextList(serde_json::from_str(&json).map_err(|e| corrupt(column.name, e))?)),
            None => None,
        },
        Kind::Json => row.try_get::<Option<String>, _>(i).map_err(bad)?.map(Value::Json),
        Kind::Vector => match row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)? {
            Some(bytes) => Some(Value::Vector(decode_vector(&bytes)?)),
            None => None,
        },
    };
    Ok(value.unwrap_or(Value::Null))
}

/// The select expression for `column` on PostgreSQL, read back with [`from_postgres`]: JSON and pgvector
/// columns as text (JSON comes back exactly as written; a vector's text form is exact too).
pub(super) fn postgres_select(column: &Column, path: VectorPath) -> String {
    match (column.kind, path) {
        (Kind::Json, _) | (Kind::Vector, VectorPath::Pgvector) => format!("{}::text", column.name),
        _ => column.name.to_owned(),
    }
}

/// Column `i` of a PostgreSQL row selected with [`postgres_select`].
pub(super) fn from_postgres(row: &PgRow, i: usize, column: &Column, path: VectorPath) -> Result<Value, StoreError> {
    let bad = |e: sqlx::Error| corrupt(column.name, e);
    let value = match column.kind {
        Kind::Text => row.try_get::<Option<String>, _>(i).map_err(bad)?.map(Value::Text),
        Kind::Int => row.try_get::<Option<i64>, _>(i).map_err(bad)?.map(Value::Int),
        Kind::Bool => row.try_get::<Option<bool>, _>(i).map_err(bad)?.map(Value::Bool),
        Kind::Time => row.try_get::<Option<DateTime<Utc>>, _>(i).map_err(bad)?.map(Value::Time),
        Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)?.map(Value::Bytes),
        Kind::TextList => row.try_get::<Option<Vec<String>>, _>(i).map_err(bad)?.map(Value::TextList),
        Kind::Json => row.try_get::<Option<String>, _>(i).map_err(bad)?.map(Value::Json),
        Kind::Vector => match path {
            VectorPath::Pgvector => match row.try_get::<Option<String>, _>(i).map_err(bad)? {
                Some(text) => Some(Value::Vector(parse_vector_text(&text)?)),
                None => None,
            },
            VectorPath::Exact => match row.try_get::<Option<Vec<u8>>, _>(i).map_err(bad)? {
                Some(bytes) => Some(Value::Vector(decode_vector(&bytes)?)),
                None => None,
            },
        },
    };
    Ok(value.unwrap_or(Value::Null))
}

/// Binds `value` into a PostgreSQL statement as a value of `column`, in the form the target stores.
pub(super) fn push_postgres(sql: &mut QueryBuilder<Postgres>, value: &Value, column: &Column, path: VectorPath) {
    match (column.kind, value) {
        (Kind::Text, Value::Text(s)) => sql.push_bind(s.clone()),
        (Kind::Text, _) => sql.push_bind(None::<String>),
        (Kind::Int, Value::Int(n)) => sql.push_bind(*n),
        (Kind::Int, _) => sql.push_bind(None::<i64>),
        (Kind::Bool, Value::Bool(b)) => sql.push_bind(*b),
        (Kind::Bool, _) => sql.push_bind(None::<bool>),
        (Kind::Time, Value::Time(t)) => sql.push_bind(*t),
        (Kind::Time, _) => sql.push_bind(None::<DateTime<Utc>>),
        (Kind::Bytes, Value::Bytes(b)) => sql.push_bind(b.clone()),
        (Kind::Bytes, _) => sql.push_bind(None::<Vec<u8>>),
        (Kind::TextList, Value::TextList(items)) => sql.push_bind(items.clone()),
        (Kind::TextList, _) => sql.push_bind(None::<Vec<String>>),
        (Kind::Json, Value::Json(s)) => sql.push_bind(s.clone()).push("::json"),
        (Kind::Json, _) => sql.push_bind(None::<String>).push("::json"),
        (Kind::Vector, value) => {
            let vector = match value {
                Value::Vector(v) => Some(v.as_slice()),
                _ => None,
            };
            match path {
                VectorPath::Pgvector => sql.push_bind(vector.map(vector_text)).push("::vector"),
                VectorPath::Exact => sql.push_bind(vector.map(encode_vector)),
            }
        }
    };
}

/// Binds a key value into a SQLite statement (keys are text or integers).
pub(super) fn push_sqlite(sql: &mut QueryBuilder<Sqlite>, value: &Value) {
    match value {
        Value::Int(n) => sql.push_bind(*n),
        Value::Text(s) => sql.push_bind(s.clone()),
        other => sql.push_bind(other.display()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::tables::{AUDIT_EVENTS, TABLES};

    #[test]
    fn keys_name_rows_and_differences_name_columns() {
        let agents = TABLES[1];
        let mut row: Row = agents.columns.iter().map(|_| Value::Null).collect();
        row[0] = Value::Text("agent_1".into());
        assert_eq!(key_text(agents, &row), "agent_1");
        let event = vec![Value::Text("org_a".into()), Value::Int(12)];
        assert_eq!(key_text(AUDIT_EVENTS, &event), "(org_a, 12)");

        assert_eq!(difference(agents, &row, &row), None);
        let mut changed = row.clone();
        changed[2] = Value::Text("x".repeat(100));
        let found = difference(agents, &row, &changed).unwrap();
        assert!(found.starts_with("its `name` is `xxx"), "{found}");
        assert!(found.ends_with("…` in the target but `NULL` in the source"), "{found}");
    }

    #[test]
    fn vectors_keep_their_exact_values_in_pgvector_text() {
        let vector = vec![0.1_f32, -3.4028235e38, 1.0e-45, 0.33333334];
        assert_eq!(parse_vector_text(&vector_text(&vector)).unwrap(), vector);
        assert!(parse_vector_text("{1,2}").is_err());
    }
}
