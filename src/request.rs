//! One export request (a download's query string, or the CLI's flags), from its key/value
//! pairs to what the pipeline runs: the output format and options, and the dataset's query
//! with its parameters bound, a column selection, a row limit, its key and a resume point.
//!
//! The HTTP query string and the CLI flags both end up here, so they accept the same keys
//! and reject the same mistakes with the same messages. Every key must mean something:
//! a typo is an error, never silently a different file.

use std::collections::HashSet;

use crate::catalog::Dataset;
use crate::escape::echo;
use crate::export::{BoundParam, ExportQuery, Output};
use crate::format::Format;
use crate::options::{self, OptionError, OptionKey, Values};

/// A key that shapes the query, beside the output options of [`OptionKey`].
///
/// [`QueryKey::ALL`] is the list the parser goes by and `/openapi.json` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKey {
    Columns,
    Limit,
    After,
}

impl QueryKey {
    /// Every query key, in the order they are listed to users.
    pub const ALL: [QueryKey; 3] = [QueryKey::Columns, QueryKey::Limit, QueryKey::After];

    /// The key, as written in a query string.
    pub const fn name(self) -> &'static str {
        match self {
            QueryKey::Columns => "columns",
            QueryKey::Limit => "limit",
            QueryKey::After => "after",
        }
    }

    /// The key called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<QueryKey> {
        QueryKey::ALL.into_iter().find(|key| key.name() == name)
    }

    /// The values it takes.
    pub fn values(self) -> Values {
        match self {
            QueryKey::Columns => Values::List {
                max_items: MAX_COLUMNS,
            },
            QueryKey::Limit => Values::Count {
                max: i64::MAX.unsigned_abs(),
            },
            QueryKey::After => Values::Text { max_bytes: None },
        }
    }

    /// What it does, for people (and `/openapi.json`).
    pub fn description(self) -> &'static str {
        match self {
            QueryKey::Columns => {
                "Only these columns, in this order: names as the query gives them, taken \
                 exactly as written, separated by commas."
            }
            QueryKey::Limit => {
                "Only the first N rows: a complete download. With a key, the first N in key \
                 order."
            }
            QueryKey::After => {
                "Only the rows whose key is greater than this value (datasets with a key): \
                 resumes a broken download."
            }
        }
    }

    /// Whether `dataset` takes this key: `after` needs a key column.
    pub fn applies_to(self, dataset: &Dataset) -> bool {
        self != QueryKey::After || dataset.key.is_some()
    }
}

/// Keys with a meaning of their own, which no dataset parameter may take.
pub fn reserved_keys() -> impl Iterator<Item = &'static str> {
    OptionKey::ALL
        .into_iter()
        .map(OptionKey::name)
        .chain(QueryKey::ALL.into_iter().map(QueryKey::name))
}

/// Whether `name` is a key of its own rather than a possible parameter name.
pub fn is_reserved(name: &str) -> bool {
    reserved_keys().any(|key| key == name)
}

/// An export as a request asks for it (a download's query string, or the CLI's flags),
/// ready to run.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub output: Output,
    pub query: ExportQuery,
}

/// A request that cannot be run as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error("unknown parameter {}; accepted: {}", echo(.given), .accepted.join(", "))]
    UnknownKey {
        given: String,
        accepted: Vec<String>,
    },
    #[error("{} is given more than once", echo(.name))]
    Repeated { name: String },
    #[error("missing required parameter {name} ({type_name})")]
    MissingParam { name: String, type_name: String },
    #[error("limit={} is not a whole number of rows from 0 to {}", echo(.value), i64::MAX)]
    BadLimit { value: String },
    #[error("columns= must name at least one column, separated by commas")]
    EmptyColumns,
    #[error("columns= names {given} columns; a result has at most {MAX_COLUMNS}")]
    TooManyColumns { given: usize },
    #[error("dataset {dataset:?} declares no key column, so it cannot resume with after=")]
    NoKey { dataset: String },
}

impl ExportRequest {
    /// The request for `dataset` in `format` that `pairs` (query-string or flag pairs, in
    /// order) describe.
    pub fn build<K, V>(
        dataset: &Dataset,
        format: Format,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<ExportRequest, RequestError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut output = Output::new(format);
        let mut query = ExportQuery {
            sql: dataset.query.to_sql(),
            key: dataset.key.clone(),
            ..ExportQuery::default()
        };
        let mut given = vec![None; dataset.params.len()];
        let mut seen = HashSet::new();
        for (name, value) in pairs {
            let (name, value) = (name.as_ref(), value.as_ref());
            if !seen.insert(name.to_owned()) {
                return Err(RequestError::Repeated {
                    name: name.to_owned(),
                });
            }
            if options::apply(&mut output, name, value)? {
                continue;
            }
            match QueryKey::from_name(name) {
                Some(QueryKey::Columns) => query.columns = Some(parse_columns(value)?),
                Some(QueryKey::Limit) => query.limit = Some(parse_limit(value)?),
                Some(QueryKey::After) => {
                    if !QueryKey::After.applies_to(dataset) {
                        return Err(RequestError::NoKey {
                            dataset: dataset.name.clone(),
                        });
                    }
                    query.after = Some(value.to_owned());
                }
                None => match dataset.params.iter().position(|param| param.name == name) {
                    Some(index) => given[index] = Some(value.to_owned()),
                    None => {
                        return Err(RequestError::UnknownKey {
                            given: name.to_owned(),
                            accepted: accepted_keys(dataset),
                        });
                    }
                },
            }
        }
        for (param, value) in dataset.params.iter().zip(given) {
            let value = value.or_else(|| param.default.clone()).ok_or_else(|| {
                RequestError::MissingParam {
                    name: param.name.clone(),
                    type_name: param.type_name.clone(),
                }
            })?;
            query.params.push(BoundParam {
                name: param.name.clone(),
                type_name: param.type_name.clone(),
                value,
            });
        }
        Ok(ExportRequest { output, query })
    }
}

/// Every key a request for `dataset` may use: its parameters, then the reserved keys
/// (`after` only with a key column).
pub fn accepted_keys(dataset: &Dataset) -> Vec<String> {
    dataset
        .params
        .iter()
        .map(|param| param.name.clone())
        .chain(OptionKey::ALL.into_iter().map(|key| key.name().to_owned()))
        .chain(
            QueryKey::ALL
                .into_iter()
                .filter(|key| key.applies_to(dataset))
                .map(|key| key.name().to_owned()),
        )
        .collect()
}

/// The most columns a PostgreSQL result can have (`MaxTupleAttributeNumber`).
pub const MAX_COLUMNS: usize = 1664;

/// A row count PostgreSQL's `LIMIT` takes: 0 to `i64::MAX`.
fn parse_limit(value: &str) -> Result<u64, RequestError> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|limit| u64::try_from(limit).ok())
        .filter(|_| !value.starts_with('+'))
        .ok_or_else(|| RequestError::BadLimit {
            value: value.to_owned(),
        })
}

/// `a,b,c`: names taken exactly as written (no trimming, no case folding).
fn parse_columns(value: &str) -> Result<Vec<String>, RequestError> {
    let columns: Vec<String> = value.split(',').map(str::to_owned).collect();
    if columns.iter().any(String::is_empty) {
        return Err(RequestError::EmptyColumns);
    }
    if columns.len() > MAX_COLUMNS {
        return Err(RequestError::TooManyColumns {
            given: columns.len(),
        });
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{DatasetQuery, ParamSpec};

    fn orders() -> Dataset {
        Dataset {
            name: "orders_since".into(),
            description: None,
            query: DatasetQuery::Sql("SELECT * FROM orders WHERE at >= $1 AND region = $2".into()),
            params: vec![
                ParamSpec {
                    name: "since".into(),
                    type_name: "timestamptz".into(),
                    default: None,
                },
                ParamSpec {
                    name: "region".into(),
                    type_name: "text".into(),
                    default: Some("eu".into()),
                },
            ],
            key: Some("id".into()),
            max_rows: None,
        }
    }

    #[test]
    fn parameters_are_bound_in_declaration_order_with_defaults() {
        let request =
            ExportRequest::build(&orders(), Format::Csv, [("since", "2024-01-01")]).unwrap();
        let values: Vec<_> = request.query.params.iter().map(|p| &p.value[..]).collect();
        assert_eq!(values, ["2024-01-01", "eu"]);
        let request = ExportRequest::build(
            &orders(),
            Format::Csv,
            [
                ("region", "us"),
                ("since", "x"),
                ("limit", "10"),
                ("columns", "id,at"),
            ],
        )
        .unwrap();
        let values: Vec<_> = request.query.params.iter().map(|p| &p.value[..]).collect();
        assert_eq!(values, ["x", "us"]);
        assert_eq!(request.query.limit, Some(10));
        assert_eq!(request.query.columns, Some(vec!["id".into(), "at".into()]));
    }

    #[test]
    fn mistakes_are_named() {
        let dataset = orders();
        let error = |pairs: &[(&str, &str)]| {
            ExportRequest::build(&dataset, Format::Csv, pairs.iter().copied())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(error(&[]), "missing required parameter since (timestamptz)");
        assert_eq!(
            error(&[("since", "x"), ("sinse", "y")]),
            "unknown parameter \"sinse\"; accepted: since, region, header, delimiter, null, \
             quote, excel, columns, limit, after"
        );
        assert_eq!(
            error(&[("since", "x"), ("since", "y")]),
            "\"since\" is given more than once"
        );
        assert_eq!(
            error(&[("since", "x"), ("limit", "-1")]),
            "limit=\"-1\" is not a whole number of rows from 0 to 9223372036854775807"
        );
        assert_eq!(
            error(&[("since", "x"), ("columns", "a,,b")]),
            "columns= must name at least one column, separated by commas"
        );
        let mut keyless = orders();
        keyless.key = None;
        assert!(
            ExportRequest::build(&keyless, Format::Csv, [("since", "x"), ("after", "5")])
                .unwrap_err()
                .to_string()
                .contains("declares no key column")
        );
    }
}
