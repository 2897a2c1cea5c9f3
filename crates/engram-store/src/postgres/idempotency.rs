//! Idempotency keys: reserving a key for a request, storing its response, and freeing a reservation whose request
//! failed. These are request bookkeeping, not agent state, so they record no audit events.
//!
//! Reserving is race-free across processes: an existing key's row is locked while it is judged, and a new key is
//! inserted with `ON CONFLICT DO NOTHING`, so of two requests reserving one key at once exactly one gets `Started`.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use engram_core::org::OrgId;

use super::rows::{self, stored_time};
use super::{PostgresStore, commit};
use crate::error::StoreError;
use crate::idempotency::{IdempotencyBegin, IdempotencyRecord};

/// A stored key: fingerprint, response status and body (both NULL while reserved), and when it was reserved.
type StoredKey = (String, Option<i64>, Option<Vec<u8>>, DateTime<Utc>);

pub(super) async fn begin(
    store: &PostgresStore,
    org: &OrgId,
    key: &str,
    fingerprint: &str,
    expired_before: DateTime<Utc>,
) -> Result<IdempotencyBegin, StoreError> {
    let mut tx = store.begin().await?;
    let outcome = begin_in(&mut tx, store, org, key, fingerprint, expired_before).await?;
    commit(tx, outcome).await
}

/// [`begin`]'s work.
async fn begin_in(
    conn: &mut PgConnection,
    store: &PostgresStore,
    org: &OrgId,
    key: &str,
    fingerprint: &str,
    expired_before: DateTime<Utc>,
) -> Result<IdempotencyBegin, StoreError> {
    let now = store.now();
    let expired_before = stored_time(expired_before);
    // At most twice: a key another request inserted between our look and our insert is judged on the second look.
    for _ in 0..2 {
        let existing: Option<StoredKey> = sqlx::query_as(
            "SELECT fingerprint, status, body, created_at FROM idempotency_keys WHERE org_id = $1 AND key = $2 \
             FOR UPDATE",
        )
        .bind(org.as_str())
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        match existing {
            Some((stored, status, body, created_at)) if created_at >= expired_before => {
                let outcome = if stored != fingerprint {
                    IdempotencyBegin::Mismatch
                } else if let Some(status) = status {
                    let status = u16::try_from(status).map_err(|_| rows::corrupt("idempotency status", status))?;
                    IdempotencyBegin::Completed(IdempotencyRecord { status, body: body.unwrap_or_default() })
                } else {
                    IdempotencyBegin::InProgress
                };
                return Ok(outcome);
            }
            // Expired: reserve it again for this request.
            Some(_) => {
                sqlx::query(
                    "UPDATE idempotency_keys SET fingerprint = $3, status = NULL, body = NULL, created_at = $4 \
                     WHERE org_id = $1 AND key = $2",
                )
                .bind(org.as_str())
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                return Ok(IdempotencyBegin::Started);
            }
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO idempotency_keys (org_id, key, fingerprint, status, body, created_at) \
                     VALUES ($1, $2, $3, NULL, NULL, $4) ON CONFLICT (org_id, key) DO NOTHING",
                )
                .bind(org.as_str())
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(IdempotencyBegin::Started);
                }
            }
        }
    }
    // Inserted concurrently and then gone again (released) twice in a row: say it is busy, the client retries.
    Ok(IdempotencyBegin::InProgress)
}

pub(super) async fn finish(
    store: &PostgresStore,
    org: &OrgId,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE org_id = $3 AND key = $4")
        .bind(i64::from(status))
        .bind(body)
        .bind(org.as_str())
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn release(store: &PostgresStore, org: &OrgId, key: &str) -> Result<(), StoreError> {
    let mut conn = store.conn().await?;
    // Only a reservation is freed; a completed response stays so that retries keep getting it.
    sqlx::query("DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND status IS NULL")
        .bind(org.as_str())
        .bind(key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
