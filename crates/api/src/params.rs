//! Query and form parameters as OAuth reads them: each at most once (RFC 6749 §3.1),
//! an empty value counting as absent.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

/// A parameter given more than once: which one.
#[derive(Debug)]
pub struct Repeated(pub String);

impl Params {
    pub fn parse(encoded: &[u8]) -> Result<Self, Repeated> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(encoded) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(Repeated(name.into_owned()));
            }
        }
        Ok(Params(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses_repeats() {
        let p = Params::parse(b"a=1&b=x%20y&c=").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x y"));
        assert_eq!(p.get("c"), None);
        assert!(matches!(Params::parse(b"a=1&a=2"), Err(Repeated(n)) if n == "a"));
    }
}
