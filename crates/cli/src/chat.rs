//! `superset sessions` and `superset chat`: the conversation is what replaying the
//! session's stream gives, printed as it grows.

use std::collections::HashMap;

use anyhow::Context;
use superset_chat::{Conversation, Event, MessageStatus, Role};
use superset_client::chat_sessions::session_stream;
use superset_client::subscription::json_messages;
use superset_client::{StreamEvent, Subscription};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::account::manager;
use crate::cli::{ChatArgs, ServerArgs};

pub async fn sessions(servers: &ServerArgs) -> anyhow::Result<()> {
    let sessions = manager(servers)?.list_sessions().await?;
    if sessions.is_empty() {
        println!("No sessions yet: start one with `superset chat`.");
    }
    for session in sessions {
        let title = session.title.as_deref().unwrap_or("(untitled)");
        println!("{}  {}  {title}", session.session_id, session.last_activity_at);
    }
    Ok(())
}

pub async fn chat(servers: &ServerArgs, args: ChatArgs) -> anyhow::Result<()> {
    let manager = manager(servers)?;
    let id = args.session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    manager.create_session(&id).await.context("cannot open the session")?;
    eprintln!("session {id}");
    let mut subscription = manager.subscribe(&session_stream(&id), "-1");
    let mut view = View::default();
    match args.message {
        Some(text) => {
            let message_id = manager.send_message(&id, &text).await?;
            while view.conversation.message(&message_id).is_none() {
                view.next(&mut subscription).await?;
            }
        }
        None => {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => match line? {
                        Some(line) if !line.trim().is_empty() => {
                            manager.send_message(&id, line.trim()).await?;
                        }
                        Some(_) => {}
                        None => return Ok(()),
                    },
                    more = view.next(&mut subscription) => more?,
                }
            }
        }
    }
    Ok(())
}

/// The conversation so far, and how much of each message is on screen.
#[derive(Default)]
struct View {
    conversation: Conversation,
    /// Per message: bytes of text printed, and whether its end was printed.
    shown: HashMap<String, (usize, bool)>,
}

impl View {
    /// Applies the subscription's next event and prints what it added.
    async fn next(&mut self, subscription: &mut Subscription) -> anyhow::Result<()> {
        match subscription.next().await.context("the session's stream ended")?? {
            StreamEvent::Data { data, .. } => {
                for message in json_messages(&data).context("the session's stream holds invalid JSON")? {
                    self.conversation.apply(&Event::from_json(&message));
                }
                self.print_new();
            }
            StreamEvent::Reconnecting { after, reason } => {
                tracing::info!(%reason, ?after, "reconnecting to the session");
            }
            StreamEvent::UpToDate { .. } => {}
            StreamEvent::Closed { .. } => anyhow::bail!("the session was closed"),
        }
        Ok(())
    }

    fn print_new(&mut self) {
        for message in &self.conversation.messages {
            let (shown, ended) = self.shown.entry(message.id.clone()).or_insert_with(|| {
                let who = match message.role {
                    Role::User => "you",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                print!("{who}: ");
                (0, false)
            });
            if *ended {
                continue;
            }
            if let Some(new) = message.text.get(*shown..) {
                print!("{new}");
                *shown = message.text.len();
            }
            if message.status != MessageStatus::Streaming {
                match &message.error {
                    Some(error) => println!(" [failed: {error}]"),
                    None => println!(),
                }
                *ended = true;
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
}
