//! The vocabulary of a chat session, shared by the server that writes it and every
//! client that reads it.
//!
//! A chat session is a JSON-mode Durable Stream of State Protocol messages:
//! - [`event`]: the messages themselves (chunks of a message, session changes, resets);
//! - [`conversation`]: replaying them, in offset order, into the conversation a person
//!   sees, and what each event changed ([`Update`]) for views that only render. The
//!   same replay gives the same conversation on every device.
//!
//! With the `ts` feature, the types a view sees also derive `ts_rs::TS`, for the
//! desktop's generated TypeScript bindings.

pub mod conversation;
pub mod event;

pub use conversation::{Conversation, Message, MessageStatus, Update};
pub use event::{Chunk, ChunkRecord, Event, Role, SessionRecord};
