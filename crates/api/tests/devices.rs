//! The devices endpoints (`/api/sessions`) and sliding expiry on the Bearer endpoints,
//! against the real auth server (and the real streams server for revocation), on both
//! databases.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use superset_auth_db::{AuthDb, NewSession, NewUser, Session};
use superset_testkit::{Backend, TestDatabase};
use support::{api_me, desktop, start_api, start_streams, Running};

async fn person(auth: &AuthDb, email: &str) -> String {
    let user = NewUser { name: "P".into(), email: email.into(), email_verified: true, image: None };
    auth.upsert_user(&user).await.unwrap().id
}

async fn signed_in(auth: &AuthDb, user_id: &str, agent: &str) -> Session {
    let new = NewSession {
        user_agent: Some(agent.into()),
        ip_address: Some("127.0.0.1".into()),
        ..NewSession::for_user(user_id)
    };
    auth.create_session(&new).await.unwrap()
}

async fn list(api: &Running, token: &str) -> reqwest::Response {
    desktop().get(api.url("/api/sessions")).bearer_auth(token).send().await.unwrap()
}

async fn revoke(api: &Running, token: &str, id: &str) -> reqwest::Response {
    desktop().delete(api.url(&format!("/api/sessions/{id}"))).bearer_auth(token).send().await.unwrap()
}

async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"error": "Unauthorized"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_listed_and_revoked() {
    for backend in Backend::ALL {
        devices_on(backend).await;
    }
}

async fn devices_on(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let auth = AuthDb::connect(&db.database_url()).await.unwrap();
    let api = start_api(&db, |_| {}).await;
    let ada = person(&auth, "ada@example.com").await;
    let grace = person(&auth, "grace@example.com").await;
    let laptop = signed_in(&auth, &ada, "superset-cli/0.1.0 (linux; laptop)").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let desktop_app = signed_in(&auth, &ada, "superset-desktop/0.1.0 (macos; mac)").await;
    let theirs = signed_in(&auth, &grace, "superset-cli/0.1.0 (linux; other)").await;

    let response = list(&api, &laptop.token).await;
    assert_eq!(response.status(), 200, "{backend:?}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    assert!(!text.contains(&laptop.token) && !text.contains(&desktop_app.token), "{backend:?}: never a token");
    let body: Value = serde_json::from_str(&text).unwrap();
    let sessions = body["sessions"].as_array().expect("a list");
    assert_eq!(sessions.len(), 2, "{backend:?}: {body}");
    assert_eq!(sessions[0]["id"], desktop_app.id.as_str(), "{backend:?}: newest use first");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["id"], laptop.id.as_str());
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(sessions[1]["client"], "superset-cli/0.1.0 (linux; laptop)");
    assert_eq!(sessions[1]["ip"], "127.0.0.1");
    for field in ["createdAt", "lastUsedAt", "expiresAt"] {
        let at = sessions[1][field].as_str().unwrap_or_else(|| panic!("{field}: {body}"));
        chrono::DateTime::parse_from_rfc3339(at).unwrap_or_else(|e| panic!("{field} {at}: {e}"));
    }

    // Someone else's session, an unknown one and a malformed id: 404 alike.
    for id in [theirs.id.as_str(), "00000000-0000-4000-8000-000000000000", "not-an-id", "%27%3B"] {
        let response = revoke(&api, &laptop.token, id).await;
        assert_eq!(response.status(), 404, "{backend:?}: {id}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"error": "Not found"}));
    }
    assert_eq!(api_me(&api, &theirs.token).await.status(), 200, "{backend:?}: theirs untouched");

    assert_eq!(revoke(&api, &laptop.token, &desktop_app.id).await.status(), 204, "{backend:?}");
    assert_unauthorized(api_me(&api, &desktop_app.token).await).await;
    assert_unauthorized(list(&api, &desktop_app.token).await).await;

    let phone = signed_in(&auth, &ada, "phone").await;
    let tablet = signed_in(&auth, &ada, "tablet").await;
    let others =
        desktop().post(api.url("/api/sessions/revoke-others")).bearer_auth(&laptop.token).send().await.unwrap();
    assert_eq!(others.status(), 200);
    assert_eq!(others.json::<Value>().await.unwrap(), json!({"revoked": 2}), "{backend:?}");
    assert_unauthorized(api_me(&api, &phone.token).await).await;
    assert_unauthorized(api_me(&api, &tablet.token).await).await;
    let body: Value = list(&api, &laptop.token).await.json().await.unwrap();
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1, "{backend:?}: {body}");

    // Revoking the current session works, and its token is then refused.
    assert_eq!(revoke(&api, &laptop.token, &laptop.id).await.status(), 204, "{backend:?}");
    assert_unauthorized(list(&api, &laptop.token).await).await;
    assert_unauthorized(revoke(&api, &laptop.token, &laptop.id).await).await;
    assert_unauthorized(
        desktop().post(api.url("/api/sessions/revoke-others")).bearer_auth("nope").send().await.unwrap(),
    )
    .await;
    assert_unauthorized(desktop().get(api.url("/api/sessions")).send().await.unwrap()).await;

    // An expired token is a 401 like any other.
    let short = NewSession { ttl: Duration::from_millis(300), ..NewSession::for_user(&grace) };
    let short = auth.create_session(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_unauthorized(list(&api, &short.token).await).await;
    api.stop().await;
}

/// `/api/me` renews a session last renewed `API_SESSION_UPDATE_AGE` ago to
/// `SESSION_TTL` from now, once; in between, its expiry stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_requests_renew_once_per_update_age() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        let api = start_api(&db, |c| {
            c.session_ttl = Duration::from_secs(20);
            c.session_update_age = Duration::from_secs(1);
        })
        .await;
        let ada = person(&auth, "ada@example.com").await;
        let session = auth
            .create_session(&NewSession { ttl: Duration::from_secs(20), ..NewSession::for_user(&ada) })
            .await
            .unwrap();
        let expiry = |body: Value| body["session"]["expiresAt"].as_str().unwrap().to_owned();
        let first = expiry(api_me(&api, &session.token).await.json().await.unwrap());
        let stored = auth.find_session(&session.token).await.unwrap().unwrap();
        assert_eq!(
            stored.expires_at.timestamp_millis(),
            session.expires_at.timestamp_millis(),
            "{backend:?}: not due yet"
        );

        tokio::time::sleep(Duration::from_millis(1200)).await;
        let renewed = expiry(api_me(&api, &session.token).await.json().await.unwrap());
        assert!(renewed > first, "{backend:?}: {renewed} after {first}");
        let stored = auth.find_session(&session.token).await.unwrap().unwrap();
        assert!(stored.expires_at > session.expires_at, "{backend:?}");
        // Requests right after find it renewed: no second write.
        for _ in 0..5 {
            assert_eq!(expiry(api_me(&api, &session.token).await.json().await.unwrap()), renewed, "{backend:?}");
            let listed = list(&api, &session.token).await;
            assert_eq!(listed.status(), 200);
        }
        let again = auth.find_session(&session.token).await.unwrap().unwrap();
        assert_eq!(again.renewed_at, stored.renewed_at, "{backend:?}: one write per update age");
        api.stop().await;
    }
}

/// A device revoked through `/api/sessions` is refused by the streams server, and its
/// open SSE response ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_cut_off_by_the_streams_server() {
    for backend in Backend::ALL {
        let db = TestDatabase::new(backend).await;
        let auth = AuthDb::connect(&db.database_url()).await.unwrap();
        let api = start_api(&db, |_| {}).await;
        let data = tempfile::tempdir().unwrap();
        let streams = start_streams(&db, data.path()).await;
        let ada = person(&auth, "ada@example.com").await;
        let here = signed_in(&auth, &ada, "here").await;
        let lost = signed_in(&auth, &ada, "lost laptop").await;

        let stream = streams.url("/v1/stream/devices-test");
        let put = desktop().put(&stream).bearer_auth(&lost.token).header("content-type", "text/plain").body("hi");
        assert_eq!(put.send().await.unwrap().status(), 201, "{backend:?}");
        let mut sse =
            desktop().get(format!("{stream}?offset=-1&live=sse")).bearer_auth(&lost.token).send().await.unwrap();
        assert_eq!(sse.status(), 200);
        assert!(sse.chunk().await.unwrap().is_some(), "{backend:?}: the data arrives");

        assert_eq!(revoke(&api, &here.token, &lost.id).await.status(), 204);
        let revoked = Instant::now();
        let ended =
            tokio::time::timeout(Duration::from_secs(10), async { while let Ok(Some(_)) = sse.chunk().await {} });
        ended.await.unwrap_or_else(|_| panic!("{backend:?}: SSE still open 10 s after the revocation"));
        println!("{backend:?}: SSE ended {:?} after the revocation", revoked.elapsed());
        let refused = desktop().get(streams.url("/v1/me")).bearer_auth(&lost.token).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{backend:?}");
        let kept = desktop().get(streams.url("/v1/me")).bearer_auth(&here.token).send().await.unwrap();
        assert_eq!(kept.status(), 200, "{backend:?}");
        streams.stop().await;
        api.stop().await;
    }
}
