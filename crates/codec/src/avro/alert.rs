//! The alert as `io.burnrate.Alert`, the value format of the alerts topic. Kind,
//! status and severity are Avro enums, and the figures are nullable decimal strings.

use apache_avro::types::Value;
use apache_avro::Schema;
use burnrate_model::{Alert, AlertKind, AlertStatus, Contributor, Severity};
use rust_decimal::Decimal;

use super::datum::AvroRecord;
use super::error::AvroCodecError;
use super::schemas::alert_schema;
use super::value::{
    array_of, decimal, decimal_value, int_value, nullable_value, record_value, string, string_map,
    string_map_value, symbol, symbol_value, timestamp, timestamp_value, unknown_symbol, unsigned,
    RecordFields,
};

impl AvroRecord for Alert {
    const RECORD: &'static str = "alert";

    fn schema() -> &'static Schema {
        alert_schema()
    }

    fn to_avro_value(&self) -> Result<Value, AvroCodecError> {
        let optional_decimal = |value: Option<Decimal>| nullable_value(value.map(decimal_value));
        let threshold_pct = self
            .threshold_pct
            .map(|threshold| int_value("threshold_pct", threshold))
            .transpose()?;
        let top_contributors = self
            .top_contributors
            .iter()
            .map(contributor_value)
            .collect();

        Ok(record_value(vec![
            ("key", Value::String(self.key.clone())),
            ("kind", symbol_value(kind_symbol(self.kind))),
            ("status", symbol_value(status_symbol(self.status))),
            ("severity", symbol_value(severity_symbol(self.severity))),
            ("account", Value::String(self.account.clone())),
            (
                "contract_id",
                nullable_value(self.contract_id.clone().map(Value::String)),
            ),
            ("scope", string_map_value(&self.scope)),
            ("period_start", timestamp_value(self.period_start)),
            ("period_end", timestamp_value(self.period_end)),
            ("at", timestamp_value(self.at)),
            ("observed", optional_decimal(self.observed)),
            ("budget", optional_decimal(self.budget)),
            ("threshold_pct", nullable_value(threshold_pct)),
            ("forecast", optional_decimal(self.forecast)),
            ("forecast_low", optional_decimal(self.forecast_low)),
            ("forecast_high", optional_decimal(self.forecast_high)),
            ("baseline", optional_decimal(self.baseline)),
            (
                "expected_at",
                nullable_value(self.expected_at.map(timestamp_value)),
            ),
            (
                "currency",
                nullable_value(self.currency.clone().map(Value::String)),
            ),
            ("top_contributors", Value::Array(top_contributors)),
            ("summary", Value::String(self.summary.clone())),
            (
                "runbook_url",
                nullable_value(self.runbook_url.clone().map(Value::String)),
            ),
        ]))
    }

    fn from_avro_value(value: Value) -> Result<Self, AvroCodecError> {
        let mut fields = RecordFields::new("", value)?;
        Ok(Alert {
            key: fields.required("key", string)?,
            kind: fields.required("kind", alert_kind)?,
            status: fields.required("status", alert_status)?,
            severity: fields.required("severity", severity)?,
            account: fields.required("account", string)?,
            contract_id: fields.optional("contract_id", string)?,
            scope: fields.required("scope", string_map)?,
            period_start: fields.required("period_start", timestamp)?,
            period_end: fields.required("period_end", timestamp)?,
            at: fields.required("at", timestamp)?,
            observed: fields.optional("observed", decimal)?,
            budget: fields.optional("budget", decimal)?,
            threshold_pct: fields.optional("threshold_pct", unsigned)?,
            forecast: fields.optional("forecast", decimal)?,
            forecast_low: fields.optional("forecast_low", decimal)?,
            forecast_high: fields.optional("forecast_high", decimal)?,
            baseline: fields.optional("baseline", decimal)?,
            expected_at: fields.optional("expected_at", timestamp)?,
            currency: fields.optional("currency", string)?,
            top_contributors: fields.required("top_contributors", |path, value| {
                array_of(path, value, contributor_from_value)
            })?,
            summary: fields.required("summary", string)?,
            runbook_url: fields.optional("runbook_url", string)?,
        })
    }
}

fn contributor_value(contributor: &Contributor) -> Value {
    record_value(vec![
        ("dimension", Value::String(contributor.dimension.clone())),
        ("value", Value::String(contributor.value.clone())),
        ("cost", decimal_value(contributor.cost)),
        ("share", decimal_value(contributor.share)),
    ])
}

fn contributor_from_value(path: &str, value: Value) -> Result<Contributor, AvroCodecError> {
    let mut fields = RecordFields::new(path, value)?;
    Ok(Contributor {
        dimension: fields.required("dimension", string)?,
        value: fields.required("value", string)?,
        cost: fields.required("cost", decimal)?,
        share: fields.required("share", decimal)?,
    })
}

fn kind_symbol(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::BudgetThreshold => "budget_threshold",
        AlertKind::BudgetForecast => "budget_forecast",
        AlertKind::CommitmentExhaustion => "commitment_exhaustion",
        AlertKind::Anomaly => "anomaly",
        AlertKind::UnratedUsage => "unrated_usage",
    }
}

fn alert_kind(path: &str, value: Value) -> Result<AlertKind, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "budget_threshold" => Ok(AlertKind::BudgetThreshold),
        "budget_forecast" => Ok(AlertKind::BudgetForecast),
        "commitment_exhaustion" => Ok(AlertKind::CommitmentExhaustion),
        "anomaly" => Ok(AlertKind::Anomaly),
        "unrated_usage" => Ok(AlertKind::UnratedUsage),
        _ => Err(unknown_symbol(
            path,
            text,
            "budget_threshold, budget_forecast, commitment_exhaustion, anomaly or unrated_usage",
        )),
    }
}

fn status_symbol(status: AlertStatus) -> &'static str {
    match status {
        AlertStatus::Firing => "firing",
        AlertStatus::Resolved => "resolved",
    }
}

fn alert_status(path: &str, value: Value) -> Result<AlertStatus, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "firing" => Ok(AlertStatus::Firing),
        "resolved" => Ok(AlertStatus::Resolved),
        _ => Err(unknown_symbol(path, text, "firing or resolved")),
    }
}

fn severity_symbol(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn severity(path: &str, value: Value) -> Result<Severity, AvroCodecError> {
    let text = symbol(path, value)?;
    match text.as_str() {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        _ => Err(unknown_symbol(path, text, "info, warning or critical")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::str::FromStr;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::avro::datum::{decode_datum, encode_datum};
    use crate::avro::value::enum_symbols;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    fn full_alert() -> Alert {
        Alert {
            key: "budget_threshold/acme/acme-monthly/2026-05/80".to_owned(),
            kind: AlertKind::BudgetThreshold,
            status: AlertStatus::Firing,
            severity: Severity::Warning,
            account: "acme".to_owned(),
            contract_id: Some("acme-openai-2026".to_owned()),
            scope: BTreeMap::from([("team".to_owned(), "search".to_owned())]),
            period_start: time("2026-04-30T22:00:00Z"),
            period_end: time("2026-05-31T22:00:00Z"),
            at: time("2026-05-06T10:00:00.000001Z"),
            observed: Some(dec("12345678901234567890.5")),
            budget: Some(dec("5000.00")),
            threshold_pct: Some(80),
            forecast: Some(dec("6100.25")),
            forecast_low: Some(dec("5800")),
            forecast_high: Some(dec("6400.5")),
            baseline: Some(dec("0.0000025")),
            expected_at: Some(time("2026-05-28T00:00:00Z")),
            currency: Some("USD".to_owned()),
            top_contributors: vec![
                Contributor {
                    dimension: "user".to_owned(),
                    value: "u-17".to_owned(),
                    cost: dec("2500.0000025"),
                    share: dec("0.625"),
                },
                Contributor {
                    dimension: "project".to_owned(),
                    value: "rag".to_owned(),
                    cost: dec("1500"),
                    share: dec("0.375"),
                },
            ],
            summary: "acme spent 80 % of its monthly budget".to_owned(),
            runbook_url: Some("https://runbooks.example/budget".to_owned()),
        }
    }

    fn sparse_alert() -> Alert {
        Alert {
            kind: AlertKind::UnratedUsage,
            status: AlertStatus::Resolved,
            severity: Severity::Info,
            contract_id: None,
            scope: BTreeMap::new(),
            observed: None,
            budget: None,
            threshold_pct: None,
            forecast: None,
            forecast_low: None,
            forecast_high: None,
            baseline: None,
            expected_at: None,
            currency: None,
            top_contributors: Vec::new(),
            runbook_url: None,
            ..full_alert()
        }
    }

    #[test]
    fn full_and_sparse_alerts_round_trip() {
        for original in [full_alert(), sparse_alert()] {
            let datum = encode_datum(&original).unwrap();
            let decoded: Alert = decode_datum(&datum, alert_schema()).unwrap();
            assert_eq!(decoded, original);
        }
    }

    #[test]
    fn every_schema_symbol_maps_both_ways() {
        for symbol in enum_symbols(alert_schema(), "kind") {
            let kind = alert_kind("kind", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(kind_symbol(kind), symbol);
        }
        for symbol in enum_symbols(alert_schema(), "status") {
            let status = alert_status("status", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(status_symbol(status), symbol);
        }
        for symbol in enum_symbols(alert_schema(), "severity") {
            let parsed = severity("severity", Value::Enum(0, symbol.clone())).unwrap();
            assert_eq!(severity_symbol(parsed), symbol);
        }
    }

    #[test]
    fn every_status_and_severity_round_trips() {
        let statuses = [AlertStatus::Firing, AlertStatus::Resolved];
        let severities = [Severity::Info, Severity::Warning, Severity::Critical];
        for status in statuses {
            for severity in severities {
                let original = Alert {
                    status,
                    severity,
                    ..full_alert()
                };
                let datum = encode_datum(&original).unwrap();
                let decoded: Alert = decode_datum(&datum, alert_schema()).unwrap();
                assert_eq!(decoded, original);
            }
        }
    }

    #[test]
    fn decimals_keep_every_digit() {
        let datum = encode_datum(&full_alert()).unwrap();
        let decoded: Alert = decode_datum(&datum, alert_schema()).unwrap();
        assert_eq!(
            decoded.observed.unwrap().to_string(),
            "12345678901234567890.5"
        );
        assert_eq!(decoded.baseline.unwrap().to_string(), "0.0000025");
        assert_eq!(decoded.top_contributors[0].cost.to_string(), "2500.0000025");
    }
}
