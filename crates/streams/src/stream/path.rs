//! Which stream paths are accepted: short, plain segments, nothing that could climb out
//! of a namespace or confuse a file system or a log line.

const MAX_LEN: usize = 1024;

pub fn validate(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("stream path is empty".into());
    }
    if path.len() > MAX_LEN {
        return Err(format!("stream path is longer than {MAX_LEN} bytes"));
    }
    for segment in path.split('/') {
        if segment.is_empty() {
            return Err("stream path has an empty segment (leading, trailing or doubled '/')".into());
        }
        if segment == "." || segment == ".." {
            return Err("stream path may not contain '.' or '..' segments".into());
        }
        if let Some(c) = segment.chars().find(|c| !(c.is_ascii_alphanumeric() || "-_.~:@".contains(*c))) {
            return Err(format!("stream path contains {c:?}; allowed: letters, digits, '/', and - _ . ~ : @"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn plain_paths_pass() {
        for ok in ["a", "sessions/0b6f7c2e-1d2a-4c3b-9f00-000000000000", "fork-src-1733.x_y~z:@"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn traversal_odd_characters_and_long_paths_fail() {
        let long = "a".repeat(1025);
        for bad in ["", "..", "a/../b", "a/./b", "/a", "a/", "a//b", "a b", "a\0b", "ä", "a?b", long.as_str()] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
