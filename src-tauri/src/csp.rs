//! The webview's Content Security Policy may connect to the IPC and to the servers
//! this run is configured with, which are only known at start (`SUPERSET_*_URL`).
//! Tauri sends the policy from its configuration with every page, so adding the
//! origins to the configuration before the app starts is enough.

use std::collections::HashMap;

use superset_client::ServerUrls;
use tauri::utils::config::{Config, Csp, CspDirectiveSources};

pub fn allow_servers(config: &mut Config, urls: &ServerUrls) {
    let origins: Vec<String> = [&urls.api, &urls.streams].map(|u| u.origin().ascii_serialization()).into();
    let security = &mut config.app.security;
    for csp in [&mut security.csp, &mut security.dev_csp].into_iter().flatten() {
        let mut directives: HashMap<String, CspDirectiveSources> = csp.clone().into();
        let connect = directives.entry("connect-src".to_owned()).or_default();
        for origin in &origins {
            if !connect.contains(origin) {
                connect.push(origin);
            }
        }
        *csp = Csp::DirectiveMap(directives);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_src_names_exactly_the_ipc_and_the_configured_servers() {
        let mut config: Config = serde_json::from_value(serde_json::json!({
            "identifier": "test",
            "app": {"security": {
                "csp": {"default-src": "'self'", "connect-src": "ipc: http://ipc.localhost"},
                "devCsp": {"connect-src": "ipc: http://ipc.localhost ws://localhost:1420"}
            }}
        }))
        .unwrap();
        let urls = ServerUrls {
            api: "https://auth.example.com/base/".parse().unwrap(),
            streams: "http://10.0.0.5:9000/".parse().unwrap(),
        };
        allow_servers(&mut config, &urls);
        let connect = |csp: &Option<Csp>| {
            let directives: HashMap<String, CspDirectiveSources> = csp.clone().unwrap().into();
            Vec::<String>::from(directives["connect-src"].clone())
        };
        assert_eq!(
            connect(&config.app.security.csp),
            ["ipc:", "http://ipc.localhost", "https://auth.example.com", "http://10.0.0.5:9000"]
        );
        assert_eq!(connect(&config.app.security.dev_csp)[3..], ["https://auth.example.com", "http://10.0.0.5:9000"]);
        let directives: HashMap<String, CspDirectiveSources> = config.app.security.csp.unwrap().into();
        assert_eq!(Vec::<String>::from(directives["default-src"].clone()), ["'self'"], "the rest is kept");
    }
}
