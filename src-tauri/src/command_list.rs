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
            stop(session_id: String, message_id: Option<String>) -> ();
            subscribe_session(session_id: String, on_event: Channel<ChatFeed>) -> ();
            unsubscribe_session(session_id: String) -> ();
            ui_ready(screen: Screen) -> ();
            send_message(session_id: String, content: String, parent_id: Option<String>, model: Option<String>) -> Sent;
            regenerate(session_id: String, message_id: String, model: Option<String>) -> Sent;
            edit_message(session_id: String, message_id: String, content: String, model: Option<String>) -> Sent;
            get_settings() -> AssistantSettings;
            save_settings(provider: ProviderKind, model: Option<String>, base_url: Option<String>) -> AssistantSettings;
            set_api_key(provider: ProviderKind, key: String) -> StoredKey;
            delete_api_key(provider: ProviderKind) -> ();
            list_models(provider: ProviderKind, base_url: Option<String>) -> Vec<String>;
            test_connection(provider: ProviderKind, base_url: Option<String>) -> ConnectionTest;
            set_system_prompt(session_id: String, prompt: String) -> ();
            queued_messages() -> Vec<Outgoing>;
            network_status() -> NetworkChanged;
            search(query: String, limit: u32) -> Vec<SearchHit>;
            export_chat(session_id: String, format: String) -> Option<String>;
            import_chat() -> Option<ChatInfo>;
            update_status() -> UpdateStatus;
            check_for_update() -> UpdateStatus;
            set_update_schedule(schedule: UpdateSchedule) -> UpdateStatus;
            install_update() -> ();
        }
    };
}
