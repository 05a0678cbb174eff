//! The HTML a person sees: the sign-in page and the error page. Plain server-rendered
//! markup with inline styles, no script, every interpolated value escaped.

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

pub const PRODUCT_NAME: &str = "Superset";

/// A provider button: where it leads and what it says.
pub struct ProviderLink {
    pub href: String,
    pub label: String,
}

/// The dev sign-in form, when enabled.
pub struct DevForm {
    pub action: String,
    pub name: String,
    pub email: String,
    pub error: Option<String>,
}

pub fn sign_in(status: StatusCode, providers: &[ProviderLink], dev: Option<&DevForm>) -> Response {
    let mut body = format!(
        "<h1>Sign in to {PRODUCT_NAME}</h1>\n<p>The {PRODUCT_NAME} app asked you to sign in. \
         Once you have, you will be sent back to it.</p>\n"
    );
    if providers.is_empty() && dev.is_none() {
        body.push_str("<p>No sign-in method is configured on this server.</p>\n");
    }
    if !providers.is_empty() {
        body.push_str("<ul class=\"providers\">\n");
        for p in providers {
            body.push_str(&format!(
                "<li><a class=\"button\" href=\"{}\">Continue with {}</a></li>\n",
                escape(&p.href),
                escape(&p.label)
            ));
        }
        body.push_str("</ul>\n");
    }
    if let Some(dev) = dev {
        body.push_str(&dev_form(dev));
    }
    page(status, &format!("Sign in to {PRODUCT_NAME}"), &body)
}

fn dev_form(dev: &DevForm) -> String {
    let error = dev
        .error
        .as_deref()
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    format!(
        "<section class=\"dev\" aria-labelledby=\"dev-title\">\n\
         <h2 id=\"dev-title\">Development sign-in</h2>\n\
         <p>This server runs with SUPERSET_DEV_LOGIN=1: anyone can sign in as anyone. \
         Never enable it where others can reach the server.</p>\n{error}\
         <form method=\"post\" action=\"{action}\">\n\
         <label>Name <input name=\"name\" required maxlength=\"200\" value=\"{name}\" autocomplete=\"name\"></label>\n\
         <label>Email <input name=\"email\" type=\"email\" required maxlength=\"254\" value=\"{email}\" autocomplete=\"email\"></label>\n\
         <button type=\"submit\">Sign in</button>\n\
         </form>\n</section>\n",
        action = escape(&dev.action),
        name = escape(&dev.name),
        email = escape(&dev.email),
    )
}

/// A dead end explained: what went wrong, the OAuth error code if there is one, and
/// what to do next.
pub fn error(status: StatusCode, code: Option<&str>, message: &str) -> Response {
    let code = code
        .map(|c| format!("<p>Error code: <code class=\"error-code\">{}</code></p>\n", escape(c)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign-in failed</h1>\n<p class=\"error\" role=\"alert\">{}</p>\n{code}\
         <p>Return to the {PRODUCT_NAME} app and start signing in again.</p>\n",
        escape(message)
    );
    page(status, &format!("Sign-in failed · {PRODUCT_NAME}"), &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    response
}

const STYLE: &str = "\
body{font:16px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1d2330;margin:0}\
main{max-width:26rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}\
h1{font-size:1.4rem;margin-top:0}h2{font-size:1.1rem}\
ul.providers{list-style:none;padding:0}ul.providers li{margin:.5rem 0}\
.button,button{display:block;width:100%;box-sizing:border-box;padding:.7rem;border:1px solid #c9ced8;border-radius:8px;\
background:#fff;color:inherit;text-align:center;text-decoration:none;font:inherit;cursor:pointer}\
.button:hover,button:hover{background:#eef1f6}\
section.dev{margin-top:1.5rem;padding:1rem;border:2px dashed #d08a00;border-radius:8px;background:#fff8e6}\
label{display:block;margin:.6rem 0}input{display:block;width:100%;box-sizing:border-box;padding:.5rem;font:inherit;\
border:1px solid #c9ced8;border-radius:6px}.error{color:#b00020}";

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
