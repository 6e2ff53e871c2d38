//! A download's output options, by name: the one parser behind the HTTP query string
//! (`?header=false&delimiter=;`) and the CLI flags, so both accept the same words and
//! reject bad values with the same messages.
//!
//! [`OptionKey::ALL`] is the list the parser goes by and `/openapi.json` describes, with
//! each option's [`Values`], so the description cannot name an option the parser lacks or
//! miss one it has.

use crate::encode::CsvQuoting;
use crate::escape::echo;
use crate::export::Output;

/// An output option: a query-string key and a CLI flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKey {
    Header,
    Delimiter,
    Null,
    Quote,
    Excel,
}

impl OptionKey {
    /// Every option, in the order they are listed to users.
    pub const ALL: [OptionKey; 5] = [
        OptionKey::Header,
        OptionKey::Delimiter,
        OptionKey::Null,
        OptionKey::Quote,
        OptionKey::Excel,
    ];

    /// The key, as written in a query string.
    pub const fn name(self) -> &'static str {
        match self {
            OptionKey::Header => "header",
            OptionKey::Delimiter => "delimiter",
            OptionKey::Null => "null",
            OptionKey::Quote => "quote",
            OptionKey::Excel => "excel",
        }
    }

    /// The option called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<OptionKey> {
        OptionKey::ALL.into_iter().find(|key| key.name() == name)
    }

    /// The values it takes.
    pub fn values(self) -> Values {
        match self {
            OptionKey::Header | OptionKey::Excel => Values::Boolean,
            OptionKey::Delimiter => Values::OneAsciiChar,
            OptionKey::Null => Values::Text {
                max_bytes: Some(MAX_NULL_LEN),
            },
            OptionKey::Quote => Values::OneOf(QUOTINGS.iter().map(|q| q.name()).collect()),
        }
    }

    /// What it does, for people (and `/openapi.json`).
    pub fn description(self) -> &'static str {
        match self {
            OptionKey::Header => "Whether csv and tsv start with a line of column names.",
            OptionKey::Delimiter => {
                "CSV's field delimiter: one ASCII character, not NUL, a line break or the \
                 double quote."
            }
            OptionKey::Null => {
                "CSV's text for NULL (default empty): at most 64 bytes, without a line break, \
                 the delimiter or the double quote."
            }
            OptionKey::Quote => {
                "Which CSV values are quoted whatever their content: only where needed \
                 (minimal), every one (all), or every one of a column that is not a number \
                 (nonnumeric)."
            }
            OptionKey::Excel => {
                "CSV for Excel: a UTF-8 byte-order mark, CRLF line ends, and text cells that \
                 Excel would run as a formula prefixed with a single quote."
            }
        }
    }
}

/// What a key of a request takes, for its description (`/openapi.json`): the parser of
/// each key says which of these it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// `true` or `false`.
    Boolean,
    /// One ASCII character.
    OneAsciiChar,
    /// Any text, of at most `max_bytes` bytes.
    Text { max_bytes: Option<usize> },
    /// One of these words.
    OneOf(Vec<&'static str>),
    /// A whole number from 0 to `max`.
    Count { max: u64 },
    /// Names separated by commas, none empty, at most `max_items` of them.
    List { max_items: usize },
}

/// `quote=`'s values, by their names.
const QUOTINGS: [CsvQuoting; 3] = [CsvQuoting::Minimal, CsvQuoting::All, CsvQuoting::NonNumeric];

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
    let Some(key) = OptionKey::from_name(name) else {
        return Ok(false);
    };
    let name = key.name();
    match key {
        OptionKey::Header => output.csv.header = boolean(name, value)?,
        OptionKey::Excel => output.csv.excel = boolean(name, value)?,
        OptionKey::Delimiter => output.csv.options.delimiter = single_byte(name, value)?,
        OptionKey::Null if value.len() > MAX_NULL_LEN => {
            return Err(bad(name, value, "at most 64 bytes"));
        }
        OptionKey::Null => output.csv.options.null = value.to_owned(),
        OptionKey::Quote => {
            output.csv.quoting = QUOTINGS
                .into_iter()
                .find(|quoting| quoting.name() == value)
                .ok_or_else(|| bad(name, value, "minimal, all or nonnumeric"))?;
        }
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
