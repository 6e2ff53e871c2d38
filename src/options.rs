//! A download's output options, by name: the one parser behind the HTTP query string
//! (`?header=false&delimiter=;`) and the CLI flags, so both accept the same words and
//! reject bad values with the same messages.

use crate::encode::CsvQuoting;
use crate::escape::echo;
use crate::export::Output;

/// The option names, in the order they are listed to users.
pub const NAMES: &[&str] = &["header", "delimiter", "null", "quote", "excel"];

/// The longest `null` text: it is written for every NULL, so a long one would multiply
/// the size of a download.
pub const MAX_NULL_LEN: usize = 64;

/// An option that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("option {name} has an invalid value {}: {expected}", echo(.value))]
    BadValue {
        name: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Sets option `name` to `value` in `output`. `Ok(false)` if `name` is not an output
/// option (the caller may know it as something else).
pub fn apply(output: &mut Output, name: &str, value: &str) -> Result<bool, OptionError> {
    match name {
        "header" => output.csv.header = boolean("header", value)?,
        "excel" => output.csv.excel = boolean("excel", value)?,
        "delimiter" => output.csv.options.delimiter = single_byte("delimiter", value)?,
        "null" if value.len() > MAX_NULL_LEN => {
            return Err(bad("null", value, "at most 64 bytes"));
        }
        "null" => output.csv.options.null = value.to_owned(),
        "quote" => {
            output.csv.quoting = match value {
                "minimal" => CsvQuoting::Minimal,
                "all" => CsvQuoting::All,
                "nonnumeric" => CsvQuoting::NonNumeric,
                _ => return Err(bad("quote", value, "minimal, all or nonnumeric")),
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn bad(name: &'static str, value: &str, expected: &'static str) -> OptionError {
    OptionError::BadValue {
        name,
        value: value.to_owned(),
        expected,
    }
}

fn boolean(name: &'static str, value: &str) -> Result<bool, OptionError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(name, value, "true or false")),
    }
}

fn single_byte(name: &'static str, value: &str) -> Result<u8, OptionError> {
    match value.as_bytes() {
        [byte] if byte.is_ascii() => Ok(*byte),
        _ => Err(bad(name, value, "a single one-byte character")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;

    #[test]
    fn options_change_the_output() {
        let mut output = Output::new(Format::Csv);
        assert_eq!(apply(&mut output, "header", "false"), Ok(true));
        assert_eq!(apply(&mut output, "delimiter", ";"), Ok(true));
        assert_eq!(apply(&mut output, "null", "NULL"), Ok(true));
        assert_eq!(apply(&mut output, "quote", "nonnumeric"), Ok(true));
        assert_eq!(apply(&mut output, "excel", "true"), Ok(true));
        assert!(!output.csv.header);
        assert!(output.csv.excel);
        assert_eq!(output.csv.options.delimiter, b';');
        assert_eq!(output.csv.options.null, "NULL");
        assert_eq!(output.csv.quoting, CsvQuoting::NonNumeric);
        assert_eq!(apply(&mut output, "since", "2024"), Ok(false));
    }

    #[test]
    fn bad_values_say_what_is_expected() {
        let mut output = Output::new(Format::Csv);
        let error = apply(&mut output, "header", "yes").unwrap_err();
        assert_eq!(
            error.to_string(),
            "option header has an invalid value \"yes\": true or false"
        );
        assert!(apply(&mut output, "delimiter", ";;").is_err());
        assert!(apply(&mut output, "delimiter", "é").is_err());
        assert!(apply(&mut output, "quote", "some").is_err());
        assert_eq!(output, Output::new(Format::Csv), "nothing applied");
    }
}
