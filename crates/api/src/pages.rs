//! The HTML a person sees: the sign-in page and the error page. Plain server-rendered
//! markup with inline styles, no script, every interpolated value escaped.

use std::time::Duration;

use axum::http::header::{ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

pub const PRODUCT_NAME: &str = "Superset";

/// A provider button: where its form posts and what it says.
pub struct ProviderButton {
    pub action: String,
    pub label: String,
}

/// The dev sign-in form, when enabled.
pub struct DevForm {
    pub action: String,
    pub name: String,
    pub email: String,
    pub error: Option<String>,
}

/// What the person agrees to by choosing a way to sign in: which app receives the
/// sign-in, and where (RFC 8252 §8.6: a page anyone can open must say so before a
/// code is issued). `csrf_token` goes with every form: only this page knows it.
pub struct Consent<'a> {
    pub app: &'a str,
    pub redirect_uri: &'a str,
    pub csrf_token: &'a str,
}

pub fn sign_in(status: StatusCode, consent: &Consent, providers: &[ProviderButton], dev: Option<&DevForm>) -> Response {
    let mut body = format!(
        "<h1>Sign in to {PRODUCT_NAME}</h1>\n\
         <p class=\"consent\"><strong>{app}</strong> will receive your sign-in at <code class=\"redirect\">{redirect}</code>.</p>\n\
         <p>If you did not just ask to sign in from that app, close this page.</p>\n",
        app = escape(consent.app),
        redirect = escape(consent.redirect_uri),
    );
    if providers.is_empty() && dev.is_none() {
        body.push_str("<p>No sign-in method is configured on this server.</p>\n");
    }
    if !providers.is_empty() {
        body.push_str("<ul class=\"providers\">\n");
        for p in providers {
            body.push_str(&format!(
                "<li><form method=\"post\" action=\"{}\">{}<button type=\"submit\">Continue with {}</button></form></li>\n",
                escape(&p.action),
                csrf_input(consent.csrf_token),
                escape(&p.label)
            ));
        }
        body.push_str("</ul>\n");
    }
    if let Some(dev) = dev {
        body.push_str(&dev_form(dev, consent.csrf_token));
    }
    page(status, &format!("Sign in to {PRODUCT_NAME}"), &body)
}

fn csrf_input(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">", escape(token))
}

fn dev_form(dev: &DevForm, csrf_token: &str) -> String {
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
         <form method=\"post\" action=\"{action}\">\n{csrf}\n\
         <label>Name <input name=\"name\" required maxlength=\"200\" value=\"{name}\" autocomplete=\"name\"></label>\n\
         <label>Email <input name=\"email\" type=\"email\" required maxlength=\"254\" value=\"{email}\" autocomplete=\"email\"></label>\n\
         <button type=\"submit\">Sign in</button>\n\
         </form>\n</section>\n",
        action = escape(&dev.action),
        csrf = csrf_input(csrf_token),
        name = escape(&dev.name),
        email = escape(&dev.email),
    )
}

/// Too many requests: the page says why, `Retry-After` says when (RFC 6585 §4).
pub fn too_many(retry_after: Duration, message: &str) -> Response {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, None, message);
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// A page fetched with GET that only answers POST: 405 with `Allow` (RFC 9110 §15.5.6), and what to do instead.
pub fn post_only(message: &str) -> Response {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, None, message);
    response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
    response
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
ul.providers{list-style:none;padding:0}ul.providers li{margin:.5rem 0}code.redirect{word-break:break-all}\
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
