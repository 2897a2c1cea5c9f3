//! The checks after the copy that go beyond row-by-row equality: every table's source rows are all in the target,
//! and each organisation's audit log in the target is one unbroken chain, `seq` 1..n, event for event the source's,
//! with the organisation's counter at n (so the next write takes n + 1).

use super::error::TransferError;
use super::report::{AuditChain, Phase, Progress, TableReport};
use super::source::Source;
use super::tables::AUDIT_EVENTS;
use super::target::Target;
use super::value::{self, Value};

/// Audit events compared per round trip.
const EVENT_BATCH: usize = 1000;

/// Fails unless every table's source rows were all found in the target.
pub(super) fn counts(reports: &[TableReport]) -> Result<(), TransferError> {
    for report in reports {
        if report.target_rows != report.source_rows || report.copied + report.skipped != report.source_rows {
            return Err(TransferError::Verification(format!(
                "`{}`: the source has {} rows, the target holds {} of them ({} copied now, {} already there)",
                report.table, report.source_rows, report.target_rows, report.copied, report.skipped
            )));
        }
    }
    Ok(())
}

/// Follows every organisation's audit log in the target next to the source's.
pub(super) async fn audit_chains(
    source: &mut Source,
    target: &Target,
    progress: &mut (dyn Progress + Send),
) -> Result<Vec<AuditChain>, TransferError> {
    let mut chains = Vec::new();
    for org in source.orgs().await? {
        let events = source.count_events(&org).await?;
        progress.start(Phase::Verify, &format!("audit chain {org}"), events);
        let mut seq = 0;
        loop {
            let theirs = source.events(AUDIT_EVENTS, &org, seq, EVENT_BATCH).await?;
            let ours = target.events(AUDIT_EVENTS, &org, seq, EVENT_BATCH).await?;
            for (n, event) in ours.iter().enumerate() {
                let expected = seq + 1 + n as i64;
                if event.get(1) != Some(&Value::Int(expected)) {
                    return Err(broken(
                        &org,
                        format!("the target's event after seq {} is not seq {expected}", expected - 1),
                    ));
                }
                let Some(original) = theirs.get(n) else {
                    return Err(broken(&org, format!("the target has event {expected}, the source does not")));
                };
                if let Some(detail) = value::difference(AUDIT_EVENTS, original, event) {
                    return Err(broken(&org, format!("event {expected}: {detail}")));
                }
            }
            if theirs.len() > ours.len() {
                let missing = seq + 1 + ours.len() as i64;
                return Err(broken(&org, format!("event {missing} of the source is missing from the target")));
            }
            seq += ours.len() as i64;
            progress.advance(ours.len() as u64);
            if ours.len() < EVENT_BATCH {
                break;
            }
        }
        if seq as u64 != events {
            return Err(broken(&org, format!("the source has {events} events, but they are not numbered 1..{events}")));
        }
        let counter = target.audit_seq(&org).await?;
        if counter.unwrap_or(0) != seq {
            let counter = counter.map_or_else(|| "missing".to_owned(), |n| n.to_string());
            return Err(broken(&org, format!("its counter is {counter} in the target, not {seq}")));
        }
        progress.finish();
        chains.push(AuditChain { org, events });
    }
    Ok(chains)
}

fn broken(org: &str, detail: String) -> TransferError {
    TransferError::Verification(format!("the audit chain of {org} in the target is broken: {detail}"))
}
