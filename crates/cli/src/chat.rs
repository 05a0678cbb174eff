//! `superset sessions` and `superset chat`: the conversation is what replaying the
//! session's stream gives, printed as it grows.

use std::collections::HashMap;

use anyhow::Context;
use superset_chat::{Conversation, Event, MessageStatus, Role};
use superset_client::assistant::generation::conversation;
use superset_client::assistant::settings::ApiKeys;
use superset_client::assistant::{generate, GenerationOptions, Provider, Settings};
use superset_client::chats::chat_stream;
use superset_client::home::superset_home;
use superset_client::subscription::json_messages;
use superset_client::{SessionManager, StreamEvent, Subscription};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

use crate::account::manager;
use crate::cli::{ChatArgs, ServerArgs};

pub async fn sessions(servers: &ServerArgs) -> anyhow::Result<()> {
    let chats = manager(servers)?.list_chats().await?;
    if chats.is_empty() {
        println!("No sessions yet: start one with `superset chat`.");
    }
    for chat in chats {
        let title = chat.title.as_deref().unwrap_or("(untitled)");
        println!("{}  {}  {title}", chat.chat_id, chat.last_activity_at);
    }
    Ok(())
}

pub async fn chat(servers: &ServerArgs, args: ChatArgs) -> anyhow::Result<()> {
    let manager = manager(servers)?;
    let home = superset_home()?;
    let provider = Settings::load(&home).provider(&ApiKeys::new(&home))?;
    let id = args.session_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    manager.create_chat(&id).await.context("cannot open the session")?;
    eprintln!("session {id}");
    eprintln!("assistant: {}", provider.name());
    let mut turn = Turn {
        manager: &manager,
        session_id: &id,
        provider: &*provider,
        view: View::default(),
        subscription: manager.subscribe(&chat_stream(&id), "-1"),
        named: false,
    };
    match args.message {
        Some(text) => turn.take(&text).await,
        None => {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => match line? {
                        Some(line) if !line.trim().is_empty() => turn.take(line.trim()).await?,
                        Some(_) => {}
                        None => return Ok(()),
                    },
                    more = turn.view.next(&mut turn.subscription) => more?,
                }
            }
        }
    }
}

/// One exchange: the user's message, then the assistant's reply generated here,
/// printed as it streams in from the session (as every other device sees it).
struct Turn<'a> {
    manager: &'a SessionManager,
    session_id: &'a str,
    provider: &'a dyn Provider,
    view: View,
    subscription: Subscription,
    /// Whether the chat was given a title (or had one) after this run's first reply.
    named: bool,
}

impl Turn<'_> {
    async fn take(&mut self, text: &str) -> anyhow::Result<()> {
        // After the thread every device shows by default; read afresh, as the view may
        // not have caught up yet (and another device may have written meanwhile).
        let (now, _) = conversation(self.manager, self.session_id).await?;
        let sent = self.manager.send_message(self.session_id, text, now.latest_leaf()).await?;
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        let signal = tokio::spawn(async move {
            superset_edge::signal::shutdown().await;
            on_signal.cancel();
        });
        let options = GenerationOptions::default();
        let generation = generate(self.manager, self.session_id, &sent, self.provider, options, cancel);
        tokio::pin!(generation);
        let mut reply: Option<String> = None;
        let result = loop {
            if reply.as_deref().is_some_and(|id| self.view.has_shown_end_of(id)) {
                break Ok(());
            }
            tokio::select! {
                done = &mut generation, if reply.is_none() => match done {
                    Ok(generation) => reply = Some(generation.message_id),
                    Err(e) => break Err(e.into()),
                },
                more = self.view.next(&mut self.subscription) => if let Err(e) = more { break Err(e) },
            }
        };
        signal.abort();
        result?;
        self.name_once().await;
        Ok(())
    }

    /// Titles an untitled chat after its first exchange, as the desktop does. A failure
    /// costs only the title, so it is logged and the chat goes on.
    async fn name_once(&mut self) {
        if std::mem::replace(&mut self.named, true) {
            return;
        }
        if let Err(e) = self.manager.name_untitled_chat(self.session_id).await {
            tracing::warn!(error = %e, "the chat could not be given a title");
        }
    }
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
            StreamEvent::Reconnecting { after, outage, reason } => {
                tracing::info!(%reason, ?after, "reconnecting to the session");
                eprintln!("{}", outage.retrying_in(after));
            }
            StreamEvent::UpToDate { .. } => {}
            StreamEvent::Closed { .. } => anyhow::bail!("the session was closed"),
        }
        Ok(())
    }

    fn has_shown_end_of(&self, message_id: &str) -> bool {
        self.shown.get(message_id).is_some_and(|(_, ended)| *ended)
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
