//! Cards (README.md) to HTML: pulldown-cmark for Markdown, then ammonia with a strict policy,
//! because cards come from pull requests. No script, no event handlers, no `javascript:` or
//! `data:` URLs, no iframes, forms or styles; relative links survive only when they name a
//! file the version ships (rewritten to its blob) or an anchor on the page.

use pulldown_cmark::{Options, Parser, html};
use std::borrow::Cow;
use std::collections::HashSet;

/// The Markdown after the front matter (if any).
pub fn body(text: &str) -> &str {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return text;
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if line.trim_end() == "---" {
            return &rest[offset..];
        }
    }
    text
}

/// Render a card to sanitized HTML. `link` maps a relative URL written in the card to the URL
/// to use on the page, or `None` to drop it.
pub fn card(text: &str, link: impl Fn(&str) -> Option<String> + Send + Sync) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    options.insert(Options::ENABLE_FOOTNOTES);
    let mut raw = String::new();
    html::push_html(&mut raw, Parser::new_ext(body(text), options));
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    ammonia::Builder::default()
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Custom(Box::new(Relative(link))))
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&raw)
        .to_string()
}

struct Relative<F>(F);

impl<'a, F: Fn(&str) -> Option<String> + Send + Sync + 'a> ammonia::UrlRelativeEvaluate<'a>
    for Relative<F>
{
    fn evaluate<'url>(&self, url: &'url str) -> Option<Cow<'url, str>> {
        if url.starts_with('#') {
            return Some(Cow::Borrowed(url));
        }
        (self.0)(url).map(Cow::Owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(md: &str) -> String {
        card(md, |u| {
            (u == "plot.png").then(|| "../blobs/sha256/abc".to_string())
        })
    }

    #[test]
    fn hostile_markup_is_removed() {
        let html = clean(
            "<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n\n[a](javascript:alert(1))\n\n\
             <iframe src=https://evil.example></iframe> <a href=\"data:text/html,x\">d</a> \
             <div style=\"background:url(x)\" onclick=\"x()\">s</div>",
        );
        assert!(
            html.contains("<a rel=\"noopener noreferrer nofollow\">a</a>"),
            "{html}"
        );
        for bad in [
            "<script",
            "onerror",
            "href=\"javascript",
            "<iframe",
            "data:text",
            "onclick",
            "style=",
        ] {
            assert!(!html.contains(bad), "{bad} survived: {html}");
        }
    }

    #[test]
    fn relative_links_go_to_blobs_or_away() {
        let html =
            clean("![roc](plot.png) [x](other.md) [top](#limitations) [web](https://example.com)");
        assert!(html.contains("src=\"../blobs/sha256/abc\""), "{html}");
        assert!(!html.contains("other.md"), "{html}");
        assert!(html.contains("href=\"#limitations\""), "{html}");
        assert!(
            html.contains("href=\"https://example.com\" rel=\"noopener noreferrer nofollow\""),
            "{html}"
        );
    }

    #[test]
    fn front_matter_is_not_rendered() {
        assert_eq!(body("---\nlicense: mit\n---\n# Title\n"), "# Title\n");
        assert_eq!(body("# No front matter\n"), "# No front matter\n");
    }
}
