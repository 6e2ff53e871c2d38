//! Datasets: the named queries a server offers, either declared in the config file or
//! discovered from the tables and views of schema `public`.
//!
//! Names from users only ever select a dataset; the SQL that runs is the operator's, or a
//! table name quoted here as an identifier.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use deadpool_postgres::Pool;

use crate::source::SourceError;

/// A table or view, optionally schema-qualified, as given by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

/// A table name that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table name {given:?}: {reason}")]
pub struct InvalidTableName {
    pub given: String,
    pub reason: &'static str,
}

impl TableName {
    /// The name as SQL: each part double-quoted, embedded quotes doubled.
    pub fn to_sql(&self) -> String {
        match &self.schema {
            Some(schema) => format!(
                "{}.{}",
                quote_identifier(schema),
                quote_identifier(&self.name)
            ),
            None => quote_identifier(&self.name),
        }
    }
}

/// `name` or `schema.name`. Each part is taken exactly as written (no case folding); a part
/// in double quotes may contain dots, with `""` standing for one quote.
impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidTableName {
            given: given.to_owned(),
            reason,
        };
        let mut parts = Vec::new();
        let mut chars = given.chars().peekable();
        loop {
            let mut part = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            part.push('"');
                        }
                        Some('"') => break,
                        Some(c) => part.push(c),
                        None => return Err(invalid("unterminated double quote")),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == '.' {
                        break;
                    }
                    if c == '"' {
                        return Err(invalid("a double quote may only enclose a whole part"));
                    }
                    part.push(c);
                    chars.next();
                }
            }
            if part.is_empty() {
                return Err(invalid("empty name part"));
            }
            if part.contains('\0') {
                return Err(invalid("names cannot contain NUL"));
            }
            parts.push(part);
            match chars.next() {
                None => break,
                Some('.') => continue,
                Some(_) => return Err(invalid("expected a dot between schema and name")),
            }
        }
        match <[String; 2]>::try_from(parts) {
            Ok([schema, name]) => Ok(TableName {
                schema: Some(schema),
                name,
            }),
            Err(parts) if parts.len() == 1 => Ok(TableName {
                schema: None,
                name: parts.into_iter().next().expect("one part"),
            }),
            Err(_) => Err(invalid("expected `name` or `schema.name`")),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sql())
    }
}

/// Double-quotes an identifier for SQL.
pub fn quote_identifier(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

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
    /// The dataset name of `table` in `schema`.
    fn dataset_name(schema: &str, table: &str) -> String {
        match schema {
            "public" => table.to_owned(),
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

/// The column of the single-column primary key of the relation whose oid is `$1`/`c.oid`,
/// as its name's raw bytes.
const PRIMARY_KEY: &str = "\
    SELECT pg_catalog.convert_to(a.attname::pg_catalog.text, 'SQL_ASCII') \
    FROM pg_catalog.pg_index i \
    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid \
      AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0] \
    WHERE i.indisprimary AND i.indnkeyatts OPERATOR(pg_catalog.=) 1 \
      AND i.indrelid OPERATOR(pg_catalog.=) ";

/// Lists the relations of the schemas in `$1` the connected role can `SELECT` from, with
/// their schema and the column of a single-column primary key.
///
/// Names come as their raw bytes (`convert_to` SQL_ASCII converts nothing), so a name that
/// is not valid UTF-8 (possible in a `SQL_ASCII` database) can be skipped on its own
/// instead of failing the listing.
/// Every operator and function is `pg_catalog`'s, whatever the role's `search_path`.
fn list_relations() -> String {
    format!(
        "SELECT pg_catalog.convert_to(c.relname::pg_catalog.text, 'SQL_ASCII'), ({PRIMARY_KEY} c.oid), \
           pg_catalog.convert_to(n.nspname::pg_catalog.text, 'SQL_ASCII') \
         FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE n.nspname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]) \
           AND c.relkind OPERATOR(pg_catalog.=) ANY ('{{r,v,m,p,f}}'::pg_catalog.\"char\"[]) \
           AND pg_catalog.has_table_privilege(c.oid, 'SELECT') \
         ORDER BY 3, 1"
    )
}

/// The column of `table`'s primary key when it is a single column, for exports of a
/// whole table that name no key: they are then in key order, and resumable.
pub async fn primary_key(pool: &Pool, table: &TableName) -> Result<Option<String>, SourceError> {
    let client = pool.get().await.map_err(SourceError::Connect)?;
    let sql = format!("{PRIMARY_KEY} pg_catalog.to_regclass($1)");
    let row = client
        .query_opt(sql.as_str(), &[&table.to_sql()])
        .await
        .map_err(SourceError::Query)?;
    Ok(row.and_then(|row| servable_name(row.get(0))))
}

impl Catalog {
    /// All datasets, in listing order.
    pub async fn datasets(&self, pool: &Pool) -> Result<Vec<Dataset>, SourceError> {
        match self {
            Catalog::Configured(datasets) => Ok(datasets.clone()),
            Catalog::Discovered(discovery) => {
                let client = pool.get().await.map_err(SourceError::Connect)?;
                let rows = client
                    .query(list_relations().as_str(), &[&discovery.schemas])
                    .await
                    .map_err(SourceError::Query)?;
                Ok(rows
                    .iter()
                    .filter_map(|row| {
                        let table = servable_name(row.get(0))?;
                        let schema = servable_name(row.get(2))?;
                        let name = Discovery::dataset_name(&schema, &table);
                        if discovery.excludes(&name) {
                            return None;
                        }
                        let key = row.get::<_, Option<Vec<u8>>>(1).and_then(servable_name);
                        Some(Dataset {
                            query: DatasetQuery::Table(TableName {
                                schema: Some(schema),
                                name: table,
                            }),
                            name,
                            description: None,
                            params: Vec::new(),
                            key,
                            max_rows: None,
                        })
                    })
                    .collect())
            }
        }
    }

    /// The dataset called `name`, if there is one.
    pub async fn find(&self, pool: &Pool, name: &str) -> Result<Option<Dataset>, SourceError> {
        match self {
            Catalog::Configured(datasets) => Ok(datasets
                .iter()
                .find(|dataset| dataset.name == name)
                .cloned()),
            Catalog::Discovered(_) => Ok(self
                .datasets(pool)
                .await?
                .into_iter()
                .find(|dataset| dataset.name == name)),
        }
    }
}

/// A discovered name as text, or `None` (and a warning, once per name and process) when
/// it is not valid UTF-8 and so cannot be a URL or a column name rowpipe can match.
fn servable_name(bytes: Vec<u8>) -> Option<String> {
    static WARNED: Mutex<BTreeSet<Vec<u8>>> = Mutex::new(BTreeSet::new());
    String::from_utf8(bytes)
        .map_err(|error| {
            let bytes = error.into_bytes();
            let name = String::from_utf8_lossy(&bytes).into_owned();
            let mut warned = WARNED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if warned.insert(bytes) {
                tracing::warn!(
                    name = ?name,
                    "a name that is not valid UTF-8 cannot be served: that relation is not \
                     offered (or that key column not used)"
                );
            }
        })
        .ok()
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
