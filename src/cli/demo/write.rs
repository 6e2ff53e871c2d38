//! Writes the demo shop into a new SQLite file.
//!
//! The file is built beside its final path and renamed into place when complete, so a
//! demo that was interrupted never leaves a database that looks whole. Durability is
//! switched off while writing (no journal, no syncs): an interrupted build is thrown away
//! and made again, so there is nothing for a journal to protect.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use super::shop::{self, Dice, Order, Size};

const SCHEMA: &str = "
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    signed_up_at TEXT NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL,
    weight_kg REAL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    shipped_at TEXT,
    details TEXT NOT NULL,
    note TEXT
);
";

/// Made after the rows are in: one sorted build is faster than keeping it up to date.
const INDEXES: &str = "CREATE INDEX orders_by_customer ON orders (customer_id);";

/// Reports progress every this many orders.
const PROGRESS_EVERY: u64 = 20_000;

/// Why the demo could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} already exists (use --force to make it again)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {}: {error}", path.display())]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
}

/// Writes a demo database of `size` at `path`, replacing a file there only if `replace`;
/// `progress` is told the orders written so far.
pub fn write(
    path: &Path,
    size: Size,
    replace: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<(), WriteError> {
    if !replace && path.exists() {
        return Err(WriteError::Exists(path.to_owned()));
    }
    let io = |error| WriteError::Io {
        path: path.to_owned(),
        error,
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut building = path.as_os_str().to_owned();
    building.push(".part");
    let building = PathBuf::from(building);
    // A `.part` is only ever a build of ours that did not finish.
    match std::fs::remove_file(&building) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io(error)),
    }
    fill(&building, size, progress).map_err(|error| WriteError::Sqlite {
        path: building.clone(),
        error,
    })?;
    std::fs::rename(&building, path).map_err(io)
}

fn fill(path: &Path, size: Size, progress: &mut dyn FnMut(u64)) -> rusqlite::Result<()> {
    let mut db = Connection::open(path)?;
    db.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
    db.execute_batch(SCHEMA)?;
    let tx = db.transaction()?;
    let mut dice = Dice::new(1);
    {
        let mut insert = tx.prepare("INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for id in 1..=size.customers as i64 {
            let c = shop::customer(&mut dice, id);
            insert.execute(params![
                c.id,
                c.name,
                c.email,
                c.country,
                c.city,
                c.signed_up_at
            ])?;
        }
    }
    let mut dice = Dice::new(2);
    let mut prices = Vec::with_capacity(size.products as usize);
    {
        let mut insert = tx.prepare("INSERT INTO products VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for id in 1..=size.products as i64 {
            let p = shop::product(&mut dice, id);
            insert.execute(params![p.id, p.name, p.category, p.price, p.weight_kg])?;
            prices.push(p.price);
        }
    }
    let mut dice = Dice::new(3);
    {
        let mut insert =
            tx.prepare("INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
        let mut o = Order::default();
        for id in 1..=size.orders as i64 {
            shop::order(&mut dice, id, size, &prices, &mut o);
            insert.execute(params![
                o.id,
                o.customer_id,
                o.product_id,
                o.quantity,
                o.amount,
                o.status,
                o.created_at,
                o.shipped_at,
                o.details,
                o.note
            ])?;
            if id as u64 % PROGRESS_EVERY == 0 {
                progress(id as u64);
            }
        }
    }
    tx.execute_batch(INDEXES)?;
    tx.commit()?;
    // Readers get the planner's statistics without having to write them.
    db.execute_batch("ANALYZE;")?;
    progress(size.orders);
    db.close().map_err(|(_, error)| error)
}
