//! What both pages show of a dataset: its facts (key, parameters, size, limits) and its
//! download links.

use std::fmt::{self, Write};

use super::html::{Escaped, query, thousands};
use crate::catalog::Dataset;
use crate::format::Format;
use crate::server::ApiError;
use crate::server::route::download_path;

/// What the pages say of a dataset beside its definition.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    /// The planner's estimate of its rows, where the source has one.
    pub estimate: Option<f64>,
    /// The server's `max_bytes`.
    pub max_bytes: Option<u64>,
}

/// A format's name for people.
fn title(format: Format) -> &'static str {
    match format {
        Format::Csv => "CSV",
        Format::Tsv => "TSV",
        Format::Jsonl => "JSON Lines",
        Format::Json => "JSON",
    }
}

/// The dataset's facts as a description list (nothing when there is nothing to say).
pub fn write_facts(out: &mut String, dataset: &Dataset, sizes: Sizes) -> fmt::Result {
    let mut facts = String::new();
    if let Some(estimate) = sizes.estimate {
        write!(
            facts,
            "<dt>Rows</dt><dd>about {} (the database's estimate)</dd>",
            thousands(estimate.max(0.0).round() as u64)
        )?;
    }
    if let Some(key) = &dataset.key {
        write!(
            facts,
            "<dt>Key</dt><dd><code>{}</code>: rows come in its order, and a broken download \
             resumes with <code>after=</code> its last value</dd>",
            Escaped(key)
        )?;
    }
    if !dataset.params.is_empty() {
        facts.push_str("<dt>Parameters</dt><dd><ul>");
        for param in &dataset.params {
            write!(
                facts,
                "<li><code>{}</code> <span class=\"type\">{}</span>",
                Escaped(&param.name),
                Escaped(&param.type_name)
            )?;
            match &param.default {
                Some(default) => write!(facts, ", default <q>{}</q>", Escaped(default))?,
                None => facts.push_str(", required"),
            }
            facts.push_str("</li>");
        }
        facts.push_str("</ul></dd>");
    }
    let mut limits = Vec::new();
    if let Some(rows) = dataset.max_rows {
        limits.push(format!("{} rows", thousands(rows)));
    }
    if let Some(bytes) = sizes.max_bytes {
        limits.push(format!("{} bytes", thousands(bytes)));
    }
    if !limits.is_empty() {
        write!(
            facts,
            "<dt>Limits</dt><dd>at most {}: a bigger download fails (it is never cut short \
             silently)</dd>",
            limits.join(" and ")
        )?;
    }
    if !facts.is_empty() {
        writeln!(out, "<dl class=\"facts\">{facts}</dl>")?;
    }
    Ok(())
}

/// Why a dataset's columns cannot be shown.
pub fn write_describe_error(out: &mut String, error: &ApiError) -> fmt::Result {
    writeln!(
        out,
        "<p class=\"error\" role=\"alert\">Cannot be described: {}</p>",
        Escaped(&error.public_message())
    )
}

/// A link for each format, and one for Excel, carrying `params`.
pub fn write_downloads(
    out: &mut String,
    dataset: &Dataset,
    params: &[(&str, &str)],
) -> fmt::Result {
    let with = query(params.iter().copied());
    out.push_str("<ul class=\"downloads\">");
    for &format in Format::ALL {
        write!(
            out,
            "<li><a href=\"{}{with}\" download>{}</a></li>",
            download_path(&dataset.name, format),
            title(format),
        )?;
    }
    let excel = query(params.iter().copied().chain([("excel", "true")]));
    writeln!(
        out,
        "<li><a href=\"{}{excel}\" download>CSV for Excel</a></li></ul>",
        download_path(&dataset.name, Format::Csv)
    )
}

/// A button for each format (and Excel) that submits the parameters' form as a download.
pub fn write_download_buttons(out: &mut String, dataset: &Dataset) -> fmt::Result {
    for &format in Format::ALL {
        writeln!(
            out,
            "<button type=\"submit\" formaction=\"{}\">Download {}</button>",
            download_path(&dataset.name, format),
            title(format)
        )?;
    }
    writeln!(
        out,
        "<button type=\"submit\" name=\"excel\" value=\"true\" \
         formaction=\"{}\">Download CSV for Excel</button>",
        download_path(&dataset.name, Format::Csv)
    )
}
