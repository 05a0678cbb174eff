//! Export and import through the real streams server: a conversation exported as JSON
//! and imported comes back as a new chat that reads the same; Markdown is saved as a
//! file only its owner reads; a chat is named after its first exchange.

mod common;

use std::time::Duration;

use common::servers::Stack;
use superset_chat::Role;
use superset_client::assistant::echo::Echo;
use superset_client::assistant::generation::conversation;
use superset_client::assistant::{generate, GenerationOptions};
use superset_client::servers::ServerUrls;
use superset_client::transfer::{
    export, export_to_file, import, import_file, Exported, ExportedMessage, Format, TransferError,
};
use superset_client::{RetryPolicy, SessionManager, StoredToken, TokenStore};
use tokio_util::sync::CancellationToken;

async fn signed_in(stack: &Stack) -> (tempfile::TempDir, SessionManager) {
    let token = stack.user("ada@example.com").await;
    let home = tempfile::tempdir().unwrap();
    let store = TokenStore::new(home.path());
    store.save(&StoredToken::new(&token, None)).unwrap();
    let retry =
        RetryPolicy { first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(100), max_attempts: 3 };
    let urls = ServerUrls { api: stack.api.clone(), streams: stack.streams.clone() };
    (home, SessionManager::new(urls, store, retry))
}

/// A chat with two exchanges with the echo assistant, named by its first message.
async fn chat(manager: &SessionManager) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    manager.create_chat(&id).await.unwrap();
    let mut last: Option<String> = None;
    for question in ["Where should we eat in Lyon?\nWe arrive late.", "And **dessert**?"] {
        let asked = manager.send_message(&id, question, last.as_deref()).await.unwrap();
        let echo = Echo { pace: Duration::ZERO };
        let reply = generate(manager, &id, &asked, &echo, GenerationOptions::default(), CancellationToken::new())
            .await
            .unwrap();
        last = Some(reply.message_id);
        manager.name_untitled_chat(&id).await.unwrap();
    }
    id
}

#[tokio::test]
async fn a_chat_exported_as_json_imports_as_a_new_chat_that_reads_the_same() {
    let stack = Stack::start().await;
    let (home, manager) = signed_in(&stack).await;
    let id = chat(&manager).await;
    assert_eq!(manager.chat(&id).await.unwrap().title.as_deref(), Some("Where should we eat in Lyon?"));

    let path = home.path().join("lyon.json");
    export_to_file(&manager, &id, Format::Json, &path).await.unwrap();
    let imported = import_file(&manager, &path).await.unwrap();
    assert_ne!(imported.chat_id, id);
    assert_eq!(imported.title.as_deref(), Some("Where should we eat in Lyon?"));

    let (original, _) = conversation(&manager, &id).await.unwrap();
    let (copy, _) = conversation(&manager, &imported.chat_id).await.unwrap();
    let read = |c: &superset_chat::Conversation| -> Vec<(Role, String)> {
        c.messages.iter().map(|m| (m.role, m.text.clone())).collect()
    };
    assert_eq!(read(&copy), read(&original));
    assert_eq!(read(&copy).len(), 4);
    assert!(copy.messages.iter().all(|m| m.status == superset_chat::MessageStatus::Complete));
    assert_eq!(copy.messages[1].actor_id, "assistant", "replies are the assistant's, not the user's");
    let again = export(&manager, &imported.chat_id).await.unwrap();
    let first = export(&manager, &id).await.unwrap();
    let texts = |e: &Exported| e.messages.iter().map(|m| (m.role, m.text.clone())).collect::<Vec<_>>();
    assert_eq!((again.title.clone(), texts(&again)), (first.title.clone(), texts(&first)));
}

#[tokio::test]
async fn markdown_is_saved_for_its_owner_only_and_bad_files_import_nothing() {
    let stack = Stack::start().await;
    let (home, manager) = signed_in(&stack).await;
    let id = chat(&manager).await;
    let path = home.path().join("lyon.md");
    std::fs::write(&path, "old content that is much longer than nothing at all ".repeat(100)).unwrap();
    export_to_file(&manager, &id, Format::Markdown, &path).await.unwrap();
    let markdown = std::fs::read_to_string(&path).unwrap();
    assert!(markdown.starts_with("# Where should we eat in Lyon?\n"), "{markdown}");
    assert!(markdown.contains("## Assistant (echo)\n") && markdown.contains("And **dessert**?"), "{markdown}");
    assert!(!markdown.contains("old content"), "the file is replaced");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let fresh = home.path().join("fresh.md");
        export_to_file(&manager, &id, Format::Markdown, &fresh).await.unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
    }

    let before = manager.list_chats().await.unwrap().len();
    let refused = import_file(&manager, &path).await.unwrap_err();
    assert!(matches!(refused, TransferError::NotJson(_)), "{refused}");
    let missing = import_file(&manager, &home.path().join("nope.json")).await.unwrap_err();
    assert!(missing.to_string().starts_with("cannot read"), "{missing}");
    assert_eq!(manager.list_chats().await.unwrap().len(), before, "a refused file creates no chat");

    // The server refuses the second message (over its 1 MiB limit): the half-made chat goes.
    let message = |role, text: String| ExportedMessage { role, text, model: None, created_at: String::new() };
    let too_big = Exported {
        title: Some("Too big".into()),
        messages: vec![message(Role::User, "fine".into()), message(Role::Assistant, "x".repeat(1_100_000))],
    };
    let failed = import(&manager, &too_big).await.unwrap_err();
    assert!(failed.to_string().contains("larger than"), "{failed}");
    assert_eq!(manager.list_chats().await.unwrap().len(), before, "a failed import leaves no chat behind");
}

#[tokio::test]
async fn a_titled_chat_keeps_its_title() {
    let stack = Stack::start().await;
    let (_home, manager) = signed_in(&stack).await;
    let id = uuid::Uuid::new_v4().to_string();
    manager.create_chat(&id).await.unwrap();
    manager.rename_chat(&id, "Mine").await.unwrap();
    manager.send_message(&id, "hello", None).await.unwrap();
    assert!(manager.name_untitled_chat(&id).await.unwrap().is_none());
    assert_eq!(manager.chat(&id).await.unwrap().title.as_deref(), Some("Mine"));
}
