//! `GET /view/{name}`: one dataset: its facts, a form for its parameters, download links,
//! its columns and a preview of its first rows.

use std::fmt::{self, Write};

use super::facts::{
    Sizes, write_describe_error, write_download_buttons, write_downloads, write_facts,
};
use super::html::{Escaped, page};
use super::preview::{PREVIEW_ROWS, Preview};
use crate::server::listing::Listed;
use crate::server::route::page_path;

/// What the preview section shows.
#[derive(Debug)]
pub enum PreviewState {
    Shown(Preview),
    /// Required parameters without a value: no preview yet.
    NeedsValues(Vec<String>),
    /// The query (or the page's query string) was refused; the message says why.
    Refused(String),
}

/// The page for `listed`, whose parameters have `values` (given, else defaults); `options`
/// are the query string's other keys (`columns`, `limit`, ...), kept in the form and the
/// links, so what is previewed is what is downloaded.
pub fn render(
    listed: &Listed,
    sizes: Sizes,
    values: &[(&str, &str)],
    options: &[(&str, &str)],
    preview: &PreviewState,
) -> String {
    let dataset = &listed.dataset;
    page(&dataset.name, |out| {
        writeln!(
            out,
            "<nav aria-label=\"Breadcrumb\"><a href=\"/\">All datasets</a></nav>\n\
             <h1>{}</h1>",
            Escaped(&dataset.name)
        )?;
        if let Some(description) = &dataset.description {
            writeln!(out, "<p>{}</p>", Escaped(description))?;
        }
        write_facts(out, dataset, sizes)?;
        if !dataset.params.is_empty() {
            write_form(out, listed, values, options)?;
        }
        if !matches!(preview, PreviewState::NeedsValues(_)) {
            out.push_str(
                "<section aria-labelledby=\"downloads\">\n<h2 id=\"downloads\">Download</h2>\n",
            );
            let query: Vec<(&str, &str)> = values.iter().chain(options).copied().collect();
            write_downloads(out, dataset, &query)?;
            out.push_str("</section>\n");
        }
        write_columns(out, listed)?;
        write_preview(out, preview)
    })
}

fn write_form(
    out: &mut String,
    listed: &Listed,
    values: &[(&str, &str)],
    options: &[(&str, &str)],
) -> fmt::Result {
    let dataset = &listed.dataset;
    writeln!(
        out,
        "<section aria-labelledby=\"parameters\">\n<h2 id=\"parameters\">Parameters</h2>\n\
         <form method=\"get\" action=\"{}\">",
        page_path(&dataset.name)
    )?;
    for (index, param) in dataset.params.iter().enumerate() {
        let value = values
            .iter()
            .find(|(name, _)| *name == param.name)
            .map_or("", |(_, value)| value);
        let hint = match &param.default {
            Some(default) => format!("{}, default “{default}”", param.type_name),
            None => format!("{}, required", param.type_name),
        };
        writeln!(
            out,
            "<p><label for=\"param-{index}\"><code>{}</code></label>\n\
             <input id=\"param-{index}\" name=\"{}\" value=\"{}\" \
             aria-describedby=\"param-{index}-hint\"{}>\n\
             <span class=\"hint\" id=\"param-{index}-hint\">{}</span></p>",
            Escaped(&param.name),
            Escaped(&param.name),
            Escaped(value),
            if param.default.is_none() {
                " required"
            } else {
                ""
            },
            Escaped(&hint),
        )?;
    }
    for (name, value) in options {
        writeln!(
            out,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            Escaped(name),
            Escaped(value)
        )?;
    }
    out.push_str("<p class=\"buttons\"><button type=\"submit\">Preview</button>\n");
    write_download_buttons(out, dataset)?;
    out.push_str("</p>\n</form>\n</section>\n");
    Ok(())
}

fn write_columns(out: &mut String, listed: &Listed) -> fmt::Result {
    out.push_str("<section aria-labelledby=\"columns\">\n<h2 id=\"columns\">Columns</h2>\n");
    match &listed.columns {
        Ok(columns) => {
            out.push_str(
                "<table class=\"columns\"><thead><tr><th scope=\"col\">Name</th>\
                 <th scope=\"col\">Type</th></tr></thead>\n<tbody>\n",
            );
            for column in columns {
                writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td></tr>",
                    Escaped(&column.name),
                    Escaped(&column.type_name)
                )?;
            }
            out.push_str("</tbody></table>\n");
        }
        Err(error) => write_describe_error(out, error)?,
    }
    out.push_str("</section>\n");
    Ok(())
}

fn write_preview(out: &mut String, preview: &PreviewState) -> fmt::Result {
    out.push_str("<section aria-labelledby=\"preview\">\n<h2 id=\"preview\">Preview</h2>\n");
    match preview {
        PreviewState::NeedsValues(names) => writeln!(
            out,
            "<p>Give {} above to see the first rows.</p>",
            Escaped(&names.join(", "))
        )?,
        PreviewState::Refused(message) => writeln!(
            out,
            "<p class=\"error\" role=\"alert\">{}</p>",
            Escaped(message)
        )?,
        PreviewState::Shown(preview) if preview.rows.is_empty() => {
            out.push_str("<p>No rows.</p>\n");
        }
        PreviewState::Shown(preview) => {
            let shown = preview.rows.len();
            let caption = match (preview.cut, shown as u64 == PREVIEW_ROWS) {
                (true, _) => format!("The first {shown} rows (more were too large to show)"),
                (false, true) => format!("The first {shown} rows"),
                (false, false) => format!("All {shown} rows"),
            };
            // A region that can be focused, so a keyboard can scroll a wide table.
            write!(
                out,
                "<div class=\"scroll\" role=\"region\" aria-labelledby=\"preview-caption\" \
                 tabindex=\"0\">\n<table class=\"rows\">\n\
                 <caption id=\"preview-caption\">{caption}</caption>\n<thead><tr>"
            )?;
            for column in &preview.columns {
                write!(out, "<th scope=\"col\">{}</th>", Escaped(column))?;
            }
            out.push_str("</tr></thead>\n<tbody>\n");
            for row in &preview.rows {
                out.push_str("<tr>");
                for value in row {
                    match value {
                        Some(value) => write!(out, "<td>{}</td>", Escaped(value))?,
                        None => out.push_str("<td class=\"null\">NULL</td>"),
                    }
                }
                out.push_str("</tr>\n");
            }
            out.push_str("</tbody></table>\n</div>\n");
        }
    }
    out.push_str("</section>\n");
    Ok(())
}
