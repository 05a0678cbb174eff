//! Offsets as clients see them: `0000000000000000_<position>`, both parts 16 decimal
//! digits so that string order is stream order. The position is the byte position in
//! the stream (messages' bytes for JSON streams). The first part is always zero; the
//! published conformance suite constructs offsets of exactly this shape.

/// The most positions fit in 16 digits.
const MAX_POSITION: u64 = 9_999_999_999_999_999;

/// A requested read position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// `-1`: the beginning.
    Start,
    /// `now`: the current tail.
    Now,
    At(u64),
}

pub fn format(position: u64) -> String {
    format!("0000000000000000_{position:016}")
}

/// A concrete offset previously handed out (no sentinels).
pub fn parse_position(s: &str) -> Result<u64, String> {
    let (epoch, position) = s
        .split_once('_')
        .filter(|(a, b)| a.len() == 16 && b.len() == 16)
        .filter(|(a, b)| a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()))
        .ok_or_else(|| format!("offset {s:?} is malformed: expected -1, now, or an offset the server returned"))?;
    if epoch != "0000000000000000" {
        return Err(format!("offset {s:?} was not issued by this server"));
    }
    let position: u64 = position.parse().expect("16 digits fit in u64");
    if position > MAX_POSITION {
        return Err(format!("offset {s:?} is out of range"));
    }
    Ok(position)
}

pub fn parse(s: &str) -> Result<Requested, String> {
    match s {
        "-1" => Ok(Requested::Start),
        "now" => Ok(Requested::Now),
        _ => parse_position(s).map(Requested::At),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_sort_like_positions() {
        assert_eq!(parse(&format(42)), Ok(Requested::At(42)));
        assert!(format(9) < format(10));
        assert_eq!(parse("-1"), Ok(Requested::Start));
        assert_eq!(parse("now"), Ok(Requested::Now));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "0",
            "0,1",
            "0 1",
            "../x",
            "0000000000000000_000000000000000a",
            "0000000000000001_0000000000000000",
            "-2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
