//! Listing a provider's models, which is also the settings' "Test connection": real
//! HTTP stand-ins on 127.0.0.1 speaking OpenAI's and Anthropic's documented models
//! lists, and each way it goes wrong told apart in words.

mod common;

use common::providers::{FakeProvider, Script, Step};
use superset_client::assistant::models::{list_models, ConnectionError};
use superset_client::assistant::settings::{ApiKey, ApiKeys, KeyPlace};
use superset_client::assistant::{ProviderKind, Settings};

const OPENAI_KEY: &str = "sk-proj-test-SECRET-1234";
const ANTHROPIC_KEY: &str = "sk-ant-test-SECRET-4242";

fn json(status: u16, body: serde_json::Value) -> Script {
    Script::error(status, &body.to_string())
}

/// OpenAI's documented `GET /v1/models` answer (Ollama's and LM Studio's look alike).
fn openai_list(ids: &[&str]) -> Script {
    let data: Vec<_> = ids
        .iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 1_686_935_002, "owned_by": "organization-owner"}))
        .collect();
    json(200, serde_json::json!({"object": "list", "data": data}))
}

fn base(provider: &FakeProvider) -> String {
    format!("{}v1", provider.url)
}

#[tokio::test]
async fn an_openai_compatible_server_lists_its_models_sorted_with_the_key_as_bearer() {
    let provider = FakeProvider::start(openai_list(&["llama3.2:3b", "gemma3:1b", "qwen3:8b"])).await;
    let key = ApiKey::new(OPENAI_KEY);
    let models = list_models(ProviderKind::Openai, Some(&base(&provider)), Some(&key)).await.unwrap();
    assert_eq!(models, ["gemma3:1b", "llama3.2:3b", "qwen3:8b"]);
    let received = provider.received.lock().unwrap()[0].clone();
    assert_eq!(received.method, "GET");
    assert_eq!(received.uri.path(), "/v1/models");
    assert_eq!(received.headers["authorization"], format!("Bearer {OPENAI_KEY}"));
}

#[tokio::test]
async fn a_local_server_is_asked_without_a_key_and_a_trailing_slash_changes_nothing() {
    let provider = FakeProvider::start(openai_list(&["local-model"])).await;
    let with_slash = format!("{}/", base(&provider));
    let models = list_models(ProviderKind::Openai, Some(&with_slash), None).await.unwrap();
    assert_eq!(models, ["local-model"]);
    let received = provider.received.lock().unwrap()[0].clone();
    assert_eq!(received.uri.path(), "/v1/models");
    assert!(!received.headers.contains_key("authorization"));
}

#[tokio::test]
async fn anthropic_lists_models_with_its_key_and_version_headers_in_its_order() {
    let body = serde_json::json!({
        "data": [
            {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"},
            {"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5", "created_at": "2025-10-01T00:00:00Z"},
        ],
        "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-haiku-4-5",
    });
    let provider = FakeProvider::start(json(200, body)).await;
    let key = ApiKey::new(ANTHROPIC_KEY);
    let models = list_models(ProviderKind::Anthropic, Some(provider.url.as_str()), Some(&key)).await.unwrap();
    assert_eq!(models, ["claude-sonnet-4-5", "claude-haiku-4-5"]);
    let received = provider.received.lock().unwrap()[0].clone();
    assert_eq!(received.uri.path(), "/v1/models");
    assert_eq!(received.headers["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(received.headers["anthropic-version"], "2023-06-01");
}

#[tokio::test]
async fn a_refused_key_says_so_and_never_repeats_the_key() {
    let anthropic_401 =
        serde_json::json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
    let provider = FakeProvider::start(json(401, anthropic_401)).await;
    let key = ApiKey::new(ANTHROPIC_KEY);
    let error = list_models(ProviderKind::Anthropic, Some(provider.url.as_str()), Some(&key)).await.unwrap_err();
    assert_eq!(error, ConnectionError::BadKey { provider: "Anthropic", status: 401 });
    assert_eq!(error.to_string(), "Anthropic refused the API key (401). Check it, or set a new one.");

    let openai_403 = serde_json::json!({"error": {"message": "You are not allowed", "type": "invalid_request_error"}});
    let provider = FakeProvider::start(json(403, openai_403)).await;
    let key = ApiKey::new(OPENAI_KEY);
    let error = list_models(ProviderKind::Openai, Some(&base(&provider)), Some(&key)).await.unwrap_err();
    assert_eq!(error.to_string(), "The server refused the API key (403). Check it, or set a new one.");
    assert!(!format!("{error:?}").contains("SECRET"));
}

#[tokio::test]
async fn a_wrong_path_or_a_web_page_is_not_an_api() {
    const WRONG: &str = "That address answered, but not like an OpenAI-compatible API. Does the base URL end in /v1?";
    let provider = FakeProvider::start(json(404, serde_json::json!({"error": "not found"}))).await;
    // The base URL without /v1: Ollama answers /models with 404.
    let error = list_models(ProviderKind::Openai, Some(provider.url.as_str()), None).await.unwrap_err();
    assert_eq!(error.to_string(), WRONG);
    assert_eq!(error.detail(), Some("answered 404 Not Found"));

    let page = Script {
        status: 200,
        headers: vec![("content-type", "text/html; charset=utf-8".into())],
        steps: vec![Step::Send("<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>".into())],
    };
    let provider = FakeProvider::start(page).await;
    let error = list_models(ProviderKind::Openai, Some(&base(&provider)), None).await.unwrap_err();
    assert_eq!(error.to_string(), WRONG);
    assert!(error.detail().unwrap().starts_with("the answer is not a models list"), "{error:?}");

    // JSON, but something else's.
    let provider = FakeProvider::start(json(200, serde_json::json!({"status": "ok"}))).await;
    let error = list_models(ProviderKind::Anthropic, Some(provider.url.as_str()), Some(&ApiKey::new("k"))).await;
    assert_eq!(
        error.unwrap_err().to_string(),
        "That address answered, but not like the Anthropic API. Is the base URL right? Anthropic's is https://api.anthropic.com."
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable_in_words() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("http://user:pw@127.0.0.1:{port}/v1");
    let error = list_models(ProviderKind::Openai, Some(&url), None).await.unwrap_err();
    assert_eq!(error.to_string(), format!("Nothing answered at http://127.0.0.1:{port}/v1/. Is the server running?"));
    assert!(error.detail().is_some_and(|d| !d.contains("pw")), "{error:?}");
}

#[tokio::test]
async fn another_failure_carries_the_servers_own_words() {
    let body = serde_json::json!({"error": {"message": "model registry is loading", "type": "server_error"}});
    let provider = FakeProvider::start(json(500, body)).await;
    let error = list_models(ProviderKind::Openai, Some(&base(&provider)), None).await.unwrap_err();
    assert_eq!(error.to_string(), "The server answered 500: model registry is loading");
}

/// The model each provider reports is the settings' one, or the provider's default.
#[test]
fn providers_report_the_model_that_writes_their_replies() {
    let home = tempfile::tempdir().unwrap();
    let keys = ApiKeys::new(home.path());
    let openai = Settings { provider: ProviderKind::Openai, model: Some("llama3.2:3b".into()), base_url: None };
    assert_eq!(openai.provider(&keys).unwrap().model(), Some("llama3.2:3b"));
    let default = Settings { provider: ProviderKind::Openai, ..Settings::default() };
    assert_eq!(default.provider(&keys).unwrap().model(), Some("gpt-4o-mini"));
    assert_eq!(Settings::default().provider(&keys).unwrap().model(), Some("echo"));
}

/// Without a keyring (no session bus), a key goes to a 0600 file; where it went is
/// reported, and deleting it removes the file.
#[test]
fn without_a_keyring_keys_are_found_in_their_file_and_can_be_removed() {
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    std::env::remove_var("DISPLAY");
    let home = tempfile::tempdir().unwrap();
    let keys = ApiKeys::new(home.path());
    assert!(keys.find(ProviderKind::Anthropic).is_none());
    let place = keys.set(ProviderKind::Anthropic, &ApiKey::new(ANTHROPIC_KEY)).unwrap();
    let KeyPlace::File(path) = place.clone() else { panic!("expected the file fallback, got {place:?}") };
    assert_eq!(common::mode(&path), 0o600);
    let (key, found) = keys.find(ProviderKind::Anthropic).unwrap();
    assert_eq!(found, place);
    assert_eq!(key.ending().as_deref(), Some("4242"));
    assert_eq!(ApiKey::new("short-key").ending(), None);
    keys.delete(ProviderKind::Anthropic).unwrap();
    assert!(keys.find(ProviderKind::Anthropic).is_none());
    assert!(!path.exists());
}
