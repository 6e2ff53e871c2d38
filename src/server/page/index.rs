//! `GET /`: every dataset the caller may read, with its description, columns, facts and
//! download links.

use std::fmt::{self, Write};

use super::facts::{Sizes, write_describe_error, write_downloads, write_facts};
use super::html::{Escaped, page};
use crate::server::listing::Listed;
use crate::server::route::page_path;

/// The page, for `datasets` (each with its sizes).
pub fn render(datasets: &[(Listed, Sizes)]) -> String {
    page("Datasets", |out| {
        out.push_str("<h1>Datasets</h1>\n");
        match datasets.len() {
            0 => out.push_str("<p>No datasets to offer.</p>\n"),
            n => writeln!(
                out,
                "<p>{n} dataset{}. Each downloads as CSV, TSV, JSON Lines or JSON, streamed \
                 while the database reads it; a download that fails breaks off and never \
                 looks complete.</p>",
                if n == 1 { "" } else { "s" }
            )?,
        }
        for (index, (listed, sizes)) in datasets.iter().enumerate() {
            write_dataset(out, index, listed, *sizes)?;
        }
        Ok(())
    })
}

fn write_dataset(out: &mut String, index: usize, listed: &Listed, sizes: Sizes) -> fmt::Result {
    let dataset = &listed.dataset;
    writeln!(
        out,
        "<section class=\"dataset\" aria-labelledby=\"dataset-{index}\">\n\
         <h2 id=\"dataset-{index}\"><a href=\"{}\">{}</a></h2>",
        page_path(&dataset.name),
        Escaped(&dataset.name)
    )?;
    if let Some(description) = &dataset.description {
        writeln!(out, "<p>{}</p>", Escaped(description))?;
    }
    match &listed.columns {
        Ok(columns) => {
            out.push_str("<p class=\"columns\"><span class=\"label\">Columns:</span> ");
            for (at, column) in columns.iter().enumerate() {
                write!(
                    out,
                    "{}<code>{}</code> <span class=\"type\">{}</span>",
                    if at == 0 { "" } else { ", " },
                    Escaped(&column.name),
                    Escaped(&column.type_name)
                )?;
            }
            out.push_str("</p>\n");
        }
        Err(error) => write_describe_error(out, error)?,
    }
    write_facts(out, dataset, sizes)?;
    let required: Vec<&str> = dataset
        .params
        .iter()
        .filter(|param| param.default.is_none())
        .map(|param| param.name.as_str())
        .collect();
    let view = page_path(&dataset.name);
    if required.is_empty() {
        write_downloads(out, dataset, &[])?;
        writeln!(
            out,
            "<p><a href=\"{view}\">Preview {}</a></p>",
            Escaped(&dataset.name)
        )?;
    } else {
        writeln!(
            out,
            "<p><a href=\"{view}\">Give {} to preview and download</a></p>",
            Escaped(&required.join(", "))
        )?;
    }
    out.push_str("</section>\n");
    Ok(())
}
