//! The PostgreSQL catalog, for discovery: which relations a role may read, and their
//! single-column primary keys.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::connect::Pool;

use super::control;
use crate::source::{SourceError, TableInfo};

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
/// their schema and the column of a single-column primary key. On a standby (a server in
/// recovery) unlogged tables are left out: their data is not replicated, and reading one
/// fails.
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
           AND (c.relpersistence OPERATOR(pg_catalog.<>) 'u'::pg_catalog.\"char\" \
             OR NOT pg_catalog.pg_is_in_recovery()) \
         ORDER BY 3, 1"
    )
}

/// The column of `table`'s primary key when it is a single column.
pub(super) async fn primary_key(pool: &Pool, table: &str) -> Result<Option<String>, SourceError> {
    let sql = format!("{PRIMARY_KEY} pg_catalog.to_regclass($1)");
    let row = control::read_only(pool, async |client| {
        client.query_opt(sql.as_str(), &[&table]).await
    })
    .await?;
    Ok(row.and_then(|row| servable_name(row.get(0))))
}

/// The relations of `schemas` the connected role can read.
pub(super) async fn tables(pool: &Pool, schemas: &[String]) -> Result<Vec<TableInfo>, SourceError> {
    let rows = control::read_only(pool, async |client| {
        client.query(list_relations().as_str(), &[&schemas]).await
    })
    .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(TableInfo {
                name: servable_name(row.get(0))?,
                schema: servable_name(row.get(2))?,
                key: row.get::<_, Option<Vec<u8>>>(1).and_then(servable_name),
            })
        })
        .collect())
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
