//! Datasets: the named queries a server offers, either declared in the config file or
//! discovered from the tables and views of schema `public`.
//!
//! Names from users only ever select a dataset; the SQL that runs is the operator's, or a
//! table name quoted here as an identifier.

use crate::source::{Source, SourceError};

pub use crate::escape::quote_identifier;
pub use crate::table_name::{InvalidTableName, TableName};

/// What a dataset runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetQuery {
    Sql(String),
    Table(TableName),
}

impl DatasetQuery {
    /// The query as SQL text.
    pub fn to_sql(&self) -> String {
        match self {
            DatasetQuery::Sql(sql) => sql.clone(),
            DatasetQuery::Table(table) => format!("SELECT * FROM {}", table.to_sql()),
        }
    }
}

/// A named query that can be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    pub name: String,
    pub description: Option<String>,
    pub query: DatasetQuery,
    /// The query's `$1`, `$2`, ... in order.
    pub params: Vec<ParamSpec>,
    /// A unique column the query is ordered by, for resuming with `after`.
    pub key: Option<String>,
    /// More rows than this fail the download.
    pub max_rows: Option<u64>,
}

/// A declared query parameter, filled from the query string or `--param`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    /// A PostgreSQL type name, e.g. `timestamptz` or `text`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The value when the request gives none; without it the parameter is required.
    pub default: Option<String>,
}

/// Where the server's datasets come from.
#[derive(Debug, Clone)]
pub enum Catalog {
    /// The `[[dataset]]` entries of the config file.
    Configured(Vec<Dataset>),
    /// Every table and view of the given schemas that the role may read, looked up on
    /// each request so new tables show up without a restart. A table whose primary key is
    /// one column has it as its key.
    Discovered(Discovery),
}

/// Which relations discovery offers: those of `schemas` (named `name` in `public`,
/// `schema.name` elsewhere), less those whose dataset name matches a pattern of `exclude`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    #[serde(default = "default_schemas")]
    pub schemas: Vec<String>,
    /// Patterns of dataset names to leave out, `*` standing for any characters.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            schemas: default_schemas(),
            exclude: Vec::new(),
        }
    }
}

fn default_schemas() -> Vec<String> {
    vec!["public".to_owned()]
}

impl Discovery {
    /// The dataset name of `table` in `schema`: the bare name in the default schema
    /// (PostgreSQL's `public`, a SQLite file's `main`).
    fn dataset_name(schema: &str, table: &str) -> String {
        match schema {
            "public" | crate::source::sqlite::MAIN_SCHEMA => table.to_owned(),
            _ => format!("{schema}.{table}"),
        }
    }

    fn excludes(&self, name: &str) -> bool {
        self.exclude
            .iter()
            .any(|pattern| glob_matches(pattern, name))
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Catalog {
    /// All datasets, in listing order.
    pub async fn datasets(&self, source: &dyn Source) -> Result<Vec<Dataset>, SourceError> {
        match self {
            Catalog::Configured(datasets) => Ok(datasets.clone()),
            Catalog::Discovered(discovery) => Ok(source
                .tables(&discovery.schemas)
                .await?
                .into_iter()
                .filter_map(|table| {
                    let name = Discovery::dataset_name(&table.schema, &table.name);
                    if discovery.excludes(&name) {
                        return None;
                    }
                    Some(Dataset {
                        query: DatasetQuery::Table(TableName {
                            schema: Some(table.schema),
                            name: table.name,
                        }),
                        name,
                        description: None,
                        params: Vec::new(),
                        key: table.key,
                        max_rows: None,
                    })
                })
                .collect()),
        }
    }

    /// The dataset called `name`, if there is one.
    pub async fn find(
        &self,
        source: &dyn Source,
        name: &str,
    ) -> Result<Option<Dataset>, SourceError> {
        match self {
            Catalog::Configured(datasets) => Ok(datasets
                .iter()
                .find(|dataset| dataset.name == name)
                .cloned()),
            Catalog::Discovered(_) => Ok(self
                .datasets(source)
                .await?
                .into_iter()
                .find(|dataset| dataset.name == name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(given: &str) -> Result<TableName, InvalidTableName> {
        given.parse()
    }

    #[test]
    fn plain_and_qualified_names_are_quoted() {
        assert_eq!(table("orders").unwrap().to_sql(), r#""orders""#);
        assert_eq!(
            table("sales.Orders").unwrap().to_sql(),
            r#""sales"."Orders""#
        );
    }

    #[test]
    fn quoted_parts_may_hold_dots_and_quotes() {
        let name = table(r#""my.schema"."a ""b"" c""#).unwrap();
        assert_eq!(name.schema.as_deref(), Some("my.schema"));
        assert_eq!(name.name, r#"a "b" c"#);
        assert_eq!(name.to_sql(), r#""my.schema"."a ""b"" c""#);
    }

    #[test]
    fn injection_attempts_stay_inside_the_identifier() {
        let name = table(r#"x"; DROP TABLE y; --"#);
        assert!(name.is_err());
        let name = table(r#"orders; DROP TABLE y"#).unwrap();
        assert_eq!(name.to_sql(), r#""orders; DROP TABLE y""#);
    }

    #[test]
    fn exclude_patterns_match_with_stars() {
        for (pattern, name, matches) in [
            ("secret_*", "secret_keys", true),
            ("secret_*", "public_secret_keys", false),
            ("*_audit", "orders_audit", true),
            ("sales.*", "sales.orders", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("*", "", true),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob_matches(pattern, name), matches, "{pattern} ~ {name}");
        }
    }

    #[test]
    fn malformed_names_are_rejected() {
        for bad in [
            "", ".", "a.", ".a", "a.b.c", r#""open"#, r#"a"b"#, "\"\"", "a\0b",
        ] {
            assert!(table(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
