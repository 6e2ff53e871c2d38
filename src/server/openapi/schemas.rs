//! The JSON Schemas of `/openapi.json`: of a query-string key's values (from the parser's
//! own [`Values`]), of a dataset parameter (from its declared PostgreSQL type), and of the
//! bodies the server answers with (error bodies by status, from [`ErrorCode::ALL`]).

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::catalog::ParamSpec;
use crate::format::Format;
use crate::options::Values;
use crate::server::error::ErrorCode;
use crate::source::ParamKind;

/// The schema of a key's values.
pub fn values(values: &Values) -> Value {
    match values {
        Values::Boolean => json!({ "type": "boolean" }),
        Values::OneAsciiChar => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 1,
            "pattern": "^[\\x00-\\x7f]$",
        }),
        Values::Text {
            max_bytes: Some(max),
        } => json!({ "type": "string", "maxLength": max }),
        Values::Text { max_bytes: None } => json!({ "type": "string" }),
        Values::OneOf(words) => json!({ "type": "string", "enum": words }),
        Values::Count { max } => json!({ "type": "integer", "minimum": 0, "maximum": max }),
        Values::List { max_items } => json!({
            "type": "array",
            "items": { "type": "string", "minLength": 1, "pattern": "^[^,]*$" },
            "minItems": 1,
            "maxItems": max_items,
        }),
    }
}

/// The schema of a dataset parameter: the JSON type of the values its declared type takes
/// in the source (`kind`: integers with their range, booleans, numbers, dates, times,
/// uuids), else a string; with its default, when it has one that fits.
pub fn param(spec: &ParamSpec, kind: ParamKind) -> Value {
    let mut schema = match kind {
        ParamKind::Integer { min, max } => integer(min, max),
        ParamKind::Boolean => json!({ "type": "boolean" }),
        ParamKind::Number => json!({ "type": "number" }),
        ParamKind::Date => json!({ "type": "string", "format": "date" }),
        ParamKind::DateTime => json!({ "type": "string", "format": "date-time" }),
        ParamKind::Uuid => json!({ "type": "string", "format": "uuid" }),
        ParamKind::Text => json!({ "type": "string" }),
    };
    if let Some(default) = &spec.default {
        let typed = match schema["type"].as_str() {
            Some("integer") => default.parse::<i64>().ok().map(Value::from),
            Some("number") => default
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Value::from),
            Some("boolean") => default.parse::<bool>().ok().map(Value::from),
            _ => Some(Value::from(default.as_str())),
        };
        // A default PostgreSQL reads (` 5`, `yes`, `NaN`) but the JSON type does not:
        // describe the parameter as the text it is.
        let typed = typed.unwrap_or_else(|| {
            schema = json!({ "type": "string" });
            Value::from(default.as_str())
        });
        schema["default"] = typed;
    }
    schema
}

/// The schema of a dataset parameter taken as any text (by `HEAD`, which checks no value
/// against its type), with its default.
pub fn param_as_text(spec: &ParamSpec) -> Value {
    let mut schema = json!({ "type": "string" });
    if let Some(default) = &spec.default {
        schema["default"] = json!(default);
    }
    schema
}

fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// The statuses error bodies come with, in order.
pub fn error_statuses() -> Vec<StatusCode> {
    let mut statuses: Vec<StatusCode> = ErrorCode::ALL.iter().map(|code| code.status()).collect();
    statuses.sort();
    statuses.dedup();
    statuses
}

/// The name of the error body schema for `status` in `components.schemas`.
pub fn error_schema_name(status: StatusCode) -> String {
    format!("Error{}", status.as_u16())
}

/// `components.schemas`: an error body per status, the listing's entry, a health answer.
pub fn components() -> Map<String, Value> {
    let mut schemas = Map::new();
    for status in error_statuses() {
        let codes: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|code| code.status() == status)
            .map(|code| code.as_str())
            .collect();
        schemas.insert(error_schema_name(status), error_body(&codes));
    }
    schemas.insert("Dataset".into(), dataset_entry());
    schemas.insert(
        "Status".into(),
        json!({
            "type": "object",
            "required": ["status"],
            "properties": { "status": { "const": "ok" } },
            "additionalProperties": false,
        }),
    );
    schemas.insert("Readiness".into(), readiness());
    schemas
}

/// `/readyz`'s answer: `status`, and each read replica's state when there are replicas.
fn readiness() -> Value {
    json!({
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": { "const": "ok" },
            "replicas": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "healthy", "lag_seconds", "problem"],
                    "properties": {
                        "name": { "type": "string", "description": "Its URL without a password." },
                        "healthy": { "type": "boolean", "description": "Whether downloads go to it now." },
                        "lag_seconds": {
                            "type": ["number", "null"],
                            "description": "How far its replay was behind what it had received (0: caught up); null when it did not answer or cannot tell.",
                        },
                        "problem": {
                            "type": ["string", "null"],
                            "description": "Why it is skipped: down, or further behind than max_lag.",
                        },
                    },
                    "additionalProperties": false,
                },
            },
        },
        "additionalProperties": false,
    })
}

/// `{"error": {"code", "message", ...}}` with `code` one of `codes`.
fn error_body(codes: &[&str]) -> Value {
    let names = || json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": { "type": "string", "enum": codes },
                    "message": { "type": "string" },
                    "request_id": {
                        "type": "string",
                        "description": "The response's X-Request-Id, also in the server's log line about it.",
                    },
                    "sqlstate": {
                        "type": "string",
                        "description": "The database's SQLSTATE, for errors the database reported.",
                    },
                    "accepted": names(),
                    "columns": names(),
                    "supported": names(),
                },
                "additionalProperties": false,
            }
        },
        "additionalProperties": false,
    })
}

/// An entry of `GET /datasets`.
fn dataset_entry() -> Value {
    let formats: Vec<&str> = Format::ALL
        .iter()
        .map(|format| format.extension())
        .collect();
    let links: Map<String, Value> = formats
        .iter()
        .map(|format| ((*format).to_owned(), json!({ "type": "string" })))
        .collect();
    json!({
        "type": "object",
        "required": ["name", "description", "downloads", "columns"],
        "properties": {
            "name": { "type": "string" },
            "description": { "type": ["string", "null"] },
            "downloads": {
                "type": "object",
                "description": "The download's path, by format.",
                "required": formats,
                "properties": links,
                "additionalProperties": false,
            },
            "columns": {
                "type": ["array", "null"],
                "description": "null when the dataset cannot be described (see error).",
                "items": {
                    "type": "object",
                    "required": ["name", "type"],
                    "properties": {
                        "name": { "type": "string" },
                        "type": { "type": "string", "description": "PostgreSQL's name, arrays as element[]." },
                    },
                    "additionalProperties": false,
                },
            },
            "params": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "type", "required", "default"],
                    "properties": {
                        "name": { "type": "string" },
                        "type": { "type": "string" },
                        "required": { "type": "boolean" },
                        "default": { "type": ["string", "null"] },
                    },
                    "additionalProperties": false,
                },
            },
            "key": { "type": "string" },
            "max_rows": { "type": "integer", "minimum": 0 },
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": { "type": "string" },
                    "message": { "type": "string" },
                },
                "additionalProperties": false,
            },
        },
        "additionalProperties": false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param_of(type_name: &str, default: Option<&str>) -> Value {
        let spec = ParamSpec {
            name: "p".into(),
            type_name: type_name.into(),
            default: default.map(str::to_owned),
        };
        param(&spec, crate::source::postgres::types::param_kind(type_name))
    }

    #[test]
    fn parameters_take_their_types_json_form() {
        assert_eq!(
            param_of("int4", Some("5")),
            json!({ "type": "integer", "minimum": -2147483648i64, "maximum": 2147483647, "default": 5 })
        );
        assert_eq!(param_of("BOOL", None), json!({ "type": "boolean" }));
        assert_eq!(
            param_of("timestamptz", None),
            json!({ "type": "string", "format": "date-time" })
        );
        assert_eq!(
            param_of("text", Some("eu")),
            json!({ "type": "string", "default": "eu" })
        );
        assert_eq!(param_of("inet", None), json!({ "type": "string" }));
        // PostgreSQL reads ` 7` as 7; JSON's integer does not.
        assert_eq!(
            param_of("int8", Some(" 7")),
            json!({ "type": "string", "default": " 7" })
        );
    }

    #[test]
    fn every_error_code_has_its_status_schema() {
        let schemas = components();
        for code in ErrorCode::ALL {
            let schema = &schemas[&error_schema_name(code.status())];
            let codes = &schema["properties"]["error"]["properties"]["code"]["enum"];
            assert!(
                codes.as_array().unwrap().contains(&json!(code.as_str())),
                "{code:?} missing from {schema}"
            );
        }
    }
}
