//! Unrated-usage rule: usage that no price covers, once per account, vendor, meter,
//! reason and UTC calendar month, with the quantity involved.

use burnrate_model::{Alert, AlertKind, AlertStatus, Severity, UsageEvent};
use burnrate_pricing::UnratedReason;
use chrono::{DateTime, Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{key_time, new_alert, AlertBook, AlertHeader, RuleContext};

/// Unrated usage of one account, vendor, meter and reason in the current month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnratedTrack {
    /// The current UTC calendar month `[start, end)`.
    pub month: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Unrated quantity in the month.
    pub quantity: Decimal,
    /// Unrated events in the month.
    pub events: u64,
    /// Whether the month's alert is firing.
    pub firing: bool,
    /// The reason the usage is unrated, as last seen.
    pub reason: String,
}

fn utc_month(time: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(time.year(), time.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(time);
    let (next_year, next_month) = if time.month() == 12 {
        (time.year() + 1, 1)
    } else {
        (time.year(), time.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single()
        .unwrap_or(time);
    (start, end)
}

pub(super) fn on_unrated(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    event: &UsageEvent,
    reason: &UnratedReason,
    alerts: &mut Vec<Alert>,
) {
    let key = (
        event.account.clone(),
        event.source.clone(),
        event.meter.clone(),
        reason.code().to_owned(),
    );
    let track = book.unrated.entry(key.clone()).or_default();
    let month = utc_month(event.time);
    match track.month {
        Some((start, _)) if month.0 < start => return,
        Some(current) if current != month => {
            if track.firing {
                alerts.push(unrated_alert(
                    &key,
                    track,
                    context,
                    AlertStatus::Resolved,
                    current.1,
                    "the month ended".to_owned(),
                ));
            }
            *track = UnratedTrack::default();
        }
        _ => {}
    }
    track.month = Some(month);
    track.quantity = track.quantity.saturating_add(event.quantity);
    track.events += 1;
    track.reason = reason.to_string();
    if context.track_changes {
        book.dirty.unrated.insert(key.clone());
    }

    if track.events == 1 {
        track.firing = true;
        let summary = format!(
            "usage of meter {:?} by account {:?} from {:?} is unrated: {reason}",
            event.meter, event.account, event.source
        );
        alerts.push(unrated_alert(
            &key,
            track,
            context,
            AlertStatus::Firing,
            event.time,
            summary,
        ));
    }
}

pub(super) fn on_watermark(
    book: &mut AlertBook,
    context: &RuleContext<'_>,
    watermark: DateTime<Utc>,
    alerts: &mut Vec<Alert>,
) {
    for (key, track) in book.unrated.iter_mut() {
        let Some((_, end)) = track.month else {
            continue;
        };
        if track.firing && end <= watermark {
            track.firing = false;
            alerts.push(unrated_alert(
                key,
                track,
                context,
                AlertStatus::Resolved,
                end,
                "the month ended".to_owned(),
            ));
            if context.track_changes {
                book.dirty.unrated.insert(key.clone());
            }
        }
    }
}

fn unrated_alert(
    key: &super::UnratedKey,
    track: &UnratedTrack,
    context: &RuleContext<'_>,
    status: AlertStatus,
    at: DateTime<Utc>,
    summary: String,
) -> Alert {
    let (account, vendor, meter, code) = key;
    let month = track.month.unwrap_or((at, at));
    let mut alert = new_alert(
        context,
        AlertHeader {
            key: format!(
                "unrated_usage/{account}/{vendor}/{meter}/{code}/{}",
                key_time(month.0)
            ),
            kind: AlertKind::UnratedUsage,
            status,
            severity: Severity::Warning,
            account,
            contract_id: None,
            period: month,
            at,
            summary,
        },
    );
    alert.scope.insert("vendor".to_owned(), vendor.clone());
    alert.scope.insert("meter".to_owned(), meter.clone());
    alert.scope.insert("reason".to_owned(), code.clone());
    alert.observed = Some(track.quantity);
    alert
}
