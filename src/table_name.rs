//! A table or view's name as an operator gives it (`--table`, a dataset's `table`),
//! optionally schema-qualified, and how it is written as SQL. A leaf: the catalog, the
//! CLI and the sources all speak it.

use std::fmt;
use std::str::FromStr;

use crate::escape::quote_identifier;

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
