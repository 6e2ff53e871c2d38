//! Writing HTML safely: every piece of text from a database or a config file goes through
//! [`Escaped`] (element content and double-quoted attribute values alike), every query
//! value of a link through [`query`], and every path through
//! [`route`](crate::server::route)'s builders.

use std::fmt::{self, Display, Write};

/// Text written into HTML as text: `& < > " '` as character references, so neither an
/// element nor an attribute value can be closed by it.
pub struct Escaped<'a>(pub &'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// `pairs` as a query string, with a leading `?` (nothing when there are none).
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    serializer.extend_pairs(pairs);
    match serializer.finish() {
        query if query.is_empty() => query,
        query => format!("?{query}"),
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A whole page: the shared head (the stylesheet, no scripts), a skip link, the header and
/// `main` around what `body` writes.
pub fn page(title: &str, body: impl FnOnce(&mut String) -> fmt::Result) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let written = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · rowpipe</title>\n\
         <link rel=\"stylesheet\" href=\"/assets/rowpipe.css\">\n\
         <link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">\n\
         </head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"top\"><a class=\"brand\" href=\"/\">rowpipe</a>\n\
         <nav aria-label=\"The API\"><a href=\"/datasets\">JSON listing</a> \
         <a href=\"/openapi.json\">OpenAPI</a></nav></header>\n<main id=\"main\">",
        Escaped(title)
    )
    .and_then(|()| body(&mut out))
    .and_then(|()| out.write_str("</main>\n</body>\n</html>\n"));
    // Writing into a String cannot fail.
    debug_assert!(written.is_ok());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_written_as_text() {
        assert_eq!(
            Escaped("<script>alert('x & \"y\"')</script>").to_string(),
            "&lt;script&gt;alert(&#39;x &amp; &quot;y&quot;&#39;)&lt;/script&gt;"
        );
        assert_eq!(Escaped("plain ünï ✓").to_string(), "plain ünï ✓");
    }

    #[test]
    fn links_are_encoded() {
        assert_eq!(
            query([("status", "a&b"), ("x", "ü ")]),
            "?status=a%26b&x=%C3%BC+"
        );
        assert_eq!(query([]), "");
    }

    #[test]
    fn numbers_get_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
