//! An export's keyword arguments, the Python spelling of `rowpipe export`'s options,
//! applied to the library's `Export` builder. Each option is named once, here; a value of
//! the wrong type or range is an `InvalidRequest` naming the option and the value.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyString};
use rowpipe::{Compression, CsvQuoting, Engine, Export, Format};

use crate::errors::Failure;

/// Every option `export` takes, for the message about one it does not.
const OPTIONS: &str = "params, param_types, format, compress, header, delimiter, quote, escape, \
                       null, quoting, excel, columns, limit, key, after, max_rows, max_bytes, \
                       chunk_size, prefetch_depth, statement_timeout, engine, server_formatting";

/// `export` with `options` applied, in the order given (each sets a different field).
pub fn apply(mut export: Export, options: Option<&Bound<'_, PyDict>>) -> Result<Export, Failure> {
    let Some(options) = options else {
        return Ok(export);
    };
    let param_types = match options.get_item("param_types").ok().flatten() {
        Some(types) if !types.is_none() => Some(extract::<Vec<Option<String>>>(
            "param_types",
            &types,
            "a list of type names or None",
        )?),
        _ => None,
    };
    for (name, value) in options.iter() {
        let name: String = name.extract().map_err(|_| invalid("option names", &name))?;
        export = option(export, &name, &value, param_types.as_deref())?;
    }
    Ok(export)
}

fn option(
    export: Export,
    name: &str,
    value: &Bound<'_, PyAny>,
    param_types: Option<&[Option<String>]>,
) -> Result<Export, Failure> {
    let text = |what| extract::<String>(name, value, what);
    let count = || extract::<u64>(name, value, "a non-negative int");
    let flag = || {
        value
            .cast::<PyBool>()
            .map(|flag| flag.is_true())
            .map_err(|_| invalid(name, value))
    };
    Ok(match name {
        "params" => params(export, value, param_types)?,
        "param_types" => export,
        "format" => export.format(
            text("a format name")?
                .parse::<Format>()
                .map_err(|error| Failure::Invalid(error.to_string()))?,
        ),
        "compress" if value.is_none() => export,
        "compress" => export.compress(
            text("gzip, zstd or None")?
                .parse::<Compression>()
                .map_err(Failure::Invalid)?,
        ),
        "header" => export.header(flag()?),
        "delimiter" => export.delimiter(one_byte(name, value)?),
        "quote" => export.quote(one_byte(name, value)?),
        "escape" => export.escape(one_byte(name, value)?),
        "null" => export.null(text("a str")?),
        "quoting" => export.quoting(quoting(&text("minimal, all or nonnumeric")?)?),
        "excel" if flag()? => export.excel(),
        "excel" => export,
        "columns" => export.columns(extract::<Vec<String>>(name, value, "a list of str")?),
        "limit" => export.limit(count()?),
        "key" => export.key(text("a column name")?),
        "after" => export.after(param_text(name, value)?),
        "max_rows" => export.max_rows(count()?),
        "max_bytes" => export.max_bytes(count()?),
        "chunk_size" => match count()? {
            0 => {
                return Err(Failure::Invalid(
                    "chunk_size must be at least 1 byte".into(),
                ));
            }
            bytes => export.chunk_size(usize::try_from(bytes).unwrap_or(usize::MAX)),
        },
        "prefetch_depth" => export.prefetch_depth(count()? as usize),
        "statement_timeout" => export.statement_timeout(timeout(name, value)?),
        "engine" => export.engine(
            text("typed or copy")?
                .parse::<Engine>()
                .map_err(Failure::Invalid)?,
        ),
        "server_formatting" if flag()? => export.server_formatting(),
        "server_formatting" => export,
        _ => {
            return Err(Failure::Invalid(format!(
                "unknown option {name:?} (export takes: {OPTIONS})"
            )));
        }
    })
}

/// The query's parameters, `$1` first: text passed as it is, other values as their `str()`
/// (numbers, dates, `Decimal`, `UUID`), `bool` as `true`/`false`; typed when
/// `param_types` names a type at the same position.
fn params(
    mut export: Export,
    value: &Bound<'_, PyAny>,
    types: Option<&[Option<String>]>,
) -> Result<Export, Failure> {
    let values: Vec<Bound<'_, PyAny>> = extract("params", value, "a list")?;
    if let Some(types) = types {
        if types.len() > values.len() {
            return Err(Failure::Invalid(format!(
                "param_types names {} types for {} params",
                types.len(),
                values.len()
            )));
        }
    }
    for (position, value) in values.iter().enumerate() {
        let name = format!("params[{position}] (${})", position + 1);
        let text = param_text(&name, value)?;
        export = match types
            .and_then(|types| types.get(position))
            .cloned()
            .flatten()
        {
            Some(type_name) => export.typed_param(type_name, text),
            None => export.param(text),
        };
    }
    Ok(export)
}

/// A parameter's (or `after`'s) text. `None` and bytes are refused: a parameter is bound as
/// text, and NULL is better written in the SQL.
fn param_text(name: &str, value: &Bound<'_, PyAny>) -> Result<String, Failure> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_string());
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() { "true" } else { "false" }.into());
    }
    if value.is_none() || value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyByteArray>()
    {
        return Err(Failure::Invalid(format!(
            "{name}: {} cannot be bound (a parameter is a str, a number, a date or \
             anything whose str() the column's type reads; write NULL in the SQL)",
            describe(value)
        )));
    }
    value
        .str()
        .map(|text| text.to_string())
        .map_err(|_| invalid(name, value))
}

fn quoting(name: &str) -> Result<CsvQuoting, Failure> {
    [CsvQuoting::Minimal, CsvQuoting::All, CsvQuoting::NonNumeric]
        .into_iter()
        .find(|quoting| quoting.name() == name)
        .ok_or_else(|| {
            Failure::Invalid(format!(
                "unknown quoting {name:?} (supported: minimal, all, nonnumeric)"
            ))
        })
}

/// A CSV character option: exactly one ASCII character.
fn one_byte(name: &str, value: &Bound<'_, PyAny>) -> Result<u8, Failure> {
    let text: String = extract(name, value, "one ASCII character")?;
    match text.as_bytes() {
        [byte] => Ok(*byte),
        _ => Err(Failure::Invalid(format!(
            "{name} must be one ASCII character, got {text:?}"
        ))),
    }
}

/// Seconds as a `float` or `int`; `None` leaves the server's own setting.
fn timeout(name: &str, value: &Bound<'_, PyAny>) -> Result<Option<Duration>, Failure> {
    if value.is_none() {
        return Ok(None);
    }
    let seconds: f64 = extract(name, value, "seconds (a number) or None")?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .map(Some)
        .ok_or_else(|| {
            Failure::Invalid(format!(
                "{name} must be a positive number of seconds, got {seconds}"
            ))
        })
}

fn extract<'py, T: FromPyObjectOwned<'py>>(
    name: &str,
    value: &Bound<'py, PyAny>,
    expected: &str,
) -> Result<T, Failure> {
    value.extract::<T>().map_err(|_| {
        Failure::Invalid(format!(
            "{name} must be {expected}, got {}",
            describe(value)
        ))
    })
}

fn invalid(name: &str, value: &Bound<'_, PyAny>) -> Failure {
    Failure::Invalid(format!("{name}: {} is not a valid value", describe(value)))
}

/// `repr(value)`, shortened, and its type.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let mut shown = value
        .repr()
        .map(|repr| repr.to_string())
        .unwrap_or_else(|_| "?".into());
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    let type_name = value
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_default();
    format!("{shown} ({type_name})")
}
