//! `GET /docs`: the OpenAPI document as one server-rendered HTML page — every operation with its
//! summary, description, parameters and answers — without any script, style sheet or font from
//! elsewhere (a third-party script on the API's origin could read what the page can). The
//! machine-readable document is `/openapi.json`.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, RefOr};

/// The page, rendered once per request from the document (it is small).
pub async fn docs() -> Response {
    let html = render(&crate::openapi::openapi());
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Nothing on this page may come from elsewhere or run.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        html,
    )
        .into_response()
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn operations(item: &PathItem) -> Vec<(&'static str, &Operation)> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("PATCH", &item.patch),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
    .collect()
}

/// The HTML of `doc`.
pub fn render(doc: &OpenApi) -> String {
    let mut h = String::new();
    let title = esc(&doc.info.title);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         code,pre{{font-family:ui-monospace,monospace}}section{{border-top:1px solid #888;padding:.5rem 0}}\
         .m{{font-weight:bold;display:inline-block;min-width:4.5rem}}table{{border-collapse:collapse}}\
         td,th{{text-align:left;padding:.1rem .6rem .1rem 0;vertical-align:top}}\
         </style></head><body><h1>{title} <small>{}</small></h1>",
        esc(&doc.info.version)
    );
    if let Some(d) = &doc.info.description {
        let _ = write!(h, "<p>{}</p>", esc(d));
    }
    h.push_str(
        "<p>The machine-readable document: <a href=\"/openapi.json\"><code>/openapi.json</code></a>.</p>\
         <nav><h2>Operations</h2><ul>",
    );
    let mut n = 0;
    for (path, item) in &doc.paths.paths {
        for (method, _) in operations(item) {
            n += 1;
            let _ = write!(
                h,
                "<li><a href=\"#op{n}\"><span class=\"m\">{method}</span><code>{}</code></a></li>",
                esc(path)
            );
        }
    }
    h.push_str("</ul></nav><main>");
    let mut n = 0;
    for (path, item) in &doc.paths.paths {
        for (method, op) in operations(item) {
            n += 1;
            let _ = write!(
                h,
                "<section id=\"op{n}\"><h3><span class=\"m\">{method}</span><code>{}</code></h3>",
                esc(path)
            );
            if let Some(s) = &op.summary {
                let _ = write!(h, "<p><strong>{}</strong></p>", esc(s));
            }
            if let Some(d) = &op.description {
                let _ = write!(h, "<p>{}</p>", esc(d));
            }
            let params: Vec<_> = item
                .parameters
                .iter()
                .flatten()
                .chain(op.parameters.iter().flatten())
                .collect();
            if !params.is_empty() {
                h.push_str(
                    "<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>meaning</th></tr>",
                );
                for p in params {
                    let _ = write!(
                        h,
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        esc(&p.name),
                        match p.parameter_in {
                            ParameterIn::Path => "path",
                            ParameterIn::Query => "query",
                            ParameterIn::Header => "header",
                            ParameterIn::Cookie => "cookie",
                        },
                        esc(p.description.as_deref().unwrap_or(""))
                    );
                }
                h.push_str("</table>");
            }
            if let Some(body) = &op.request_body {
                let types: Vec<&str> = body.content.keys().map(String::as_str).collect();
                let _ = write!(h, "<h4>Request body</h4><p>{}</p>", esc(&types.join(", ")));
            }
            h.push_str("<h4>Answers</h4><table>");
            for (status, answer) in &op.responses.responses {
                let description = match answer {
                    RefOr::T(r) => r.description.clone(),
                    RefOr::Ref(r) => r.ref_location.clone(),
                };
                let _ = write!(
                    h,
                    "<tr><td><code>{}</code></td><td>{}</td></tr>",
                    esc(status),
                    esc(&description)
                );
            }
            h.push_str("</table></section>");
        }
    }
    h.push_str("</main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
