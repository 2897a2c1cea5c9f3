//! Idempotency keys: reserving a key for a request, storing its response, and freeing a reservation whose request
//! failed. These are request bookkeeping, not agent state, so they record no audit events.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use engram_core::org::OrgId;

use super::SqliteStore;
use super::rows::{self, micros};
use crate::error::StoreError;
use crate::idempotency::{IdempotencyBegin, IdempotencyRecord};

/// A stored key: fingerprint, response status and body (both NULL while reserved), and when it was reserved.
type StoredKey = (String, Option<i64>, Option<Vec<u8>>, i64);

pub(super) async fn begin(
    store: &SqliteStore,
    org: &OrgId,
    key: &str,
    fingerprint: &str,
    expired_before: DateTime<Utc>,
) -> Result<IdempotencyBegin, StoreError> {
    let (job_store, org, key, fingerprint) = (store.clone(), org.clone(), key.to_owned(), fingerprint.to_owned());
    store
        .write(move |conn| {
            Box::pin(async move { begin_in(conn, &job_store, &org, &key, &fingerprint, expired_before).await })
        })
        .await
}

/// [`begin`]'s work, run by the writer.
async fn begin_in(
    conn: &mut SqliteConnection,
    store: &SqliteStore,
    org: &OrgId,
    key: &str,
    fingerprint: &str,
    expired_before: DateTime<Utc>,
) -> Result<IdempotencyBegin, StoreError> {
    let now = store.now();
    let existing: Option<StoredKey> = sqlx::query_as(
        "SELECT fingerprint, status, body, created_at FROM idempotency_keys WHERE org_id = ?1 AND key = ?2",
    )
    .bind(org.as_str())
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let outcome = match existing {
        Some((stored, status, body, created_at)) if created_at >= micros(expired_before) => {
            if stored != fingerprint {
                IdempotencyBegin::Mismatch
            } else if let Some(status) = status {
                let status = u16::try_from(status).map_err(|_| rows::corrupt("idempotency status", status))?;
                IdempotencyBegin::Completed(IdempotencyRecord { status, body: body.unwrap_or_default() })
            } else {
                IdempotencyBegin::InProgress
            }
        }
        // Absent or expired: reserve it for this request.
        _ => {
            sqlx::query(
                "INSERT OR REPLACE INTO idempotency_keys (org_id, key, fingerprint, status, body, created_at) \
                 VALUES (?1, ?2, ?3, NULL, NULL, ?4)",
            )
            .bind(org.as_str())
            .bind(key)
            .bind(fingerprint)
            .bind(micros(now))
            .execute(&mut *conn)
            .await?;
            IdempotencyBegin::Started
        }
    };
    Ok(outcome)
}

pub(super) async fn finish(
    store: &SqliteStore,
    org: &OrgId,
    key: &str,
    status: u16,
    body: &[u8],
) -> Result<(), StoreError> {
    let (org, key, body) = (org.clone(), key.to_owned(), body.to_vec());
    store
        .write(move |conn| {
            Box::pin(async move {
                sqlx::query("UPDATE idempotency_keys SET status = ?1, body = ?2 WHERE org_id = ?3 AND key = ?4")
                    .bind(i64::from(status))
                    .bind(body)
                    .bind(org.as_str())
                    .bind(key)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}

pub(super) async fn release(store: &SqliteStore, org: &OrgId, key: &str) -> Result<(), StoreError> {
    let (org, key) = (org.clone(), key.to_owned());
    store
        .write(move |conn| {
            Box::pin(async move {
                // Only a reservation is freed; a completed response stays so that retries keep getting it.
                sqlx::query("DELETE FROM idempotency_keys WHERE org_id = ?1 AND key = ?2 AND status IS NULL")
                    .bind(org.as_str())
                    .bind(key)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}
