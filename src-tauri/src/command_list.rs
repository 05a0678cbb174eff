// The desktop's commands, declared once: each line is `name(arguments) -> result`.
// `build.rs` includes this file for the permission names, `lib.rs` for the invoke
// handler and `contract.rs` for the TypeScript bindings (and, in a test, the
// capability file). A command's function in `commands.rs` takes these arguments
// (after its `State`/`AppHandle`) and returns `CommandResult<result>`.
//
// `$then` is a macro that receives the whole list; the names in it are resolved
// where `$then` expands, so build.rs, which has none of these types, only reads names.
macro_rules! with_commands {
    ($then:ident) => {
        $then! {
            get_config() -> Config;
            current_user() -> Option<User>;
            sign_in() -> SignedIn;
            cancel_sign_in() -> ();
            sign_out() -> ();
            list_devices() -> Vec<Device>;
            revoke_device(device_id: String) -> RevokedDevice;
            revoke_other_devices() -> u32;
            list_sessions() -> Vec<ChatInfo>;
            start_session(title: Option<String>) -> ChatInfo;
            rename_session(session_id: String, title: String) -> ChatInfo;
            delete_session(session_id: String) -> ();
            send_message(session_id: String, content: String) -> Sent;
            stop(session_id: String, message_id: Option<String>) -> ();
            subscribe_session(session_id: String, on_event: Channel<ChatFeed>) -> ();
            unsubscribe_session(session_id: String) -> ();
            ui_ready(screen: Screen) -> ();
            search(query: String, limit: u32) -> Vec<SearchHit>;
            export_chat(session_id: String, format: String) -> Option<String>;
            import_chat() -> Option<ChatInfo>;
        }
    };
}
