//! A sign-in goes on only with the person's consent (RFC 8252 §8.6). A page anywhere
//! can open `/oauth/authorize` with its own PKCE challenge and a loopback redirect of
//! its choosing; it must not be able to walk the browser on to a code. So the sign-in
//! page says which app gets the sign-in and where, and only its own forms (a POST with
//! the page's anti-CSRF token, from this server's pages) start an upstream sign-in.

mod support;

use superset_api::Secret;
use superset_testkit::TestDatabase;
use support::*;

/// The attacker's loopback listener, where a code for the victim would arrive.
const ATTACKER_REDIRECT: &str = "http://127.0.0.1:41999/steal";

/// GitHub as the provider: its authorization URL is built locally, so the test needs no
/// network to see whether the browser would be sent there.
async fn start_with_github(db: &TestDatabase) -> Running {
    start_api(db, |c| {
        c.dev_login = false;
        c.github_client_id = Some("gh-id".into());
        c.github_client_secret = Some(Secret::new("gh-secret"));
    })
    .await
}

fn goes_to_github(response: &reqwest::Response) -> bool {
    response.status() == 303
        && response.headers()["location"].to_str().unwrap().starts_with("https://github.com/login/oauth/authorize?")
}

#[tokio::test]
async fn a_get_on_a_provider_starts_nothing() {
    let db = TestDatabase::sqlite();
    let api = start_with_github(&db).await;
    let browser = stepping_browser();
    let html =
        open_sign_in_page(&browser, &authorize_url(&api, ATTACKER_REDIRECT, &Pkce::new().challenge, "s", &[])).await;
    assert!(html.contains(&format!("will receive your sign-in at <code class=\"redirect\">{ATTACKER_REDIRECT}</code>")));
    for path in ["/signin/github", "/signin/dev"] {
        let response = browser.get(api.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "POST");
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("sign-in page"));
    }
    // The page's own button still works: the sign-in was not spent.
    assert!(goes_to_github(&choose_provider(&browser, &api, &html, "github").await));
    api.stop().await;
}

#[tokio::test]
async fn a_post_without_this_sign_ins_token_or_from_another_site_is_refused() {
    let db = TestDatabase::sqlite();
    let api = start_with_github(&db).await;
    let victim = stepping_browser();
    let url = authorize_url(&api, ATTACKER_REDIRECT, &Pkce::new().challenge, "s", &[]);
    let html = open_sign_in_page(&victim, &url).await;
    let token = csrf_token(&html);
    // The attacker can start a sign-in of their own and read its page's token.
    let attackers_token = csrf_token(&open_sign_in_page(&stepping_browser(), &url).await);
    assert_ne!(attackers_token, token);

    let github = api.url("/signin/github");
    let forged: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no token", victim.post(&github).form(&[("name", "x")])),
        ("a wrong token", victim.post(&github).form(&[("csrf_token", "guess")])),
        ("another sign-in's token", victim.post(&github).form(&[("csrf_token", attackers_token.as_str())])),
        (
            "another site's Origin",
            victim.post(&github).header("origin", "https://attacker.example").form(&[("csrf_token", token.as_str())]),
        ),
        (
            "Sec-Fetch-Site: cross-site",
            victim.post(&github).header("sec-fetch-site", "cross-site").form(&[("csrf_token", token.as_str())]),
        ),
    ];
    for (what, request) in forged {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 403, "{what}");
        assert!(response.headers().get("location").is_none(), "{what}");
    }

    // What a browser sends from the page itself goes on.
    let genuine = victim
        .post(&github)
        .header("origin", api.url(""))
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(goes_to_github(&genuine), "{}", genuine.status());
    api.stop().await;
}

#[tokio::test]
async fn the_dev_form_needs_the_token_too() {
    let db = TestDatabase::sqlite();
    let api = start_api(&db, |_| {}).await;
    let browser = stepping_browser();
    open_sign_in_page(&browser, &authorize_url(&api, ATTACKER_REDIRECT, &Pkce::new().challenge, "s", &[])).await;
    let response = browser
        .post(api.url("/signin/dev"))
        .form(&[("name", "Eve"), ("email", "eve@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.headers().get("location").is_none());
    assert_eq!(count(&db, "SELECT count(*) FROM {auth}users", &[]).await, 0);
    api.stop().await;
}
