//! Kernel command-line parsing, modelled on lib/cmdline.c and
//! kernel/params.c: `key`, `key=value` and `key="value with spaces"`,
//! separated by spaces. `memparse` reads sizes such as `512M`.

/// Iterates over the `(key, value)` pairs of a command line.
pub fn params(cmdline: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut rest = cmdline;
    core::iter::from_fn(move || {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        // A token ends at a space that is not inside quotes.
        let mut in_quotes = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '"' => in_quotes = !in_quotes,
                ' ' | '\t' | '\n' if !in_quotes => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let tok = &rest[..end];
        rest = &rest[end..];
        Some(match tok.split_once('=') {
            Some((k, v)) => (k, Some(v.trim_matches('"'))),
            None => (tok, None),
        })
    })
}

/// The value of the last `key=...` (later ones win, as in Linux), or `Some(None)` for a bare `key`.
pub fn get<'a>(cmdline: &'a str, key: &str) -> Option<Option<&'a str>> {
    params(cmdline).filter(|(k, _)| *k == key).map(|(_, v)| v).last()
}

/// Whether the bare flag `key` (or `key=...`) is present.
pub fn has(cmdline: &str, key: &str) -> bool {
    get(cmdline, key).is_some()
}

/// Parses a number with an optional size suffix (K, M, G, T; powers of 1024),
/// in decimal or with a 0x prefix. Like Linux's memparse.
pub fn memparse(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        b't' | b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn splits_flags_values_and_quoted_values() {
        let v: Vec<_> = params(r#"console=ttyAMA0  quiet init="/bin/sh -c x" loglevel=7"#).collect();
        assert_eq!(
            v,
            [
                ("console", Some("ttyAMA0")),
                ("quiet", None),
                ("init", Some("/bin/sh -c x")),
                ("loglevel", Some("7"))
            ]
        );
    }

    #[test]
    fn last_occurrence_wins_and_missing_key_is_none() {
        assert_eq!(get("loglevel=3 loglevel=8", "loglevel"), Some(Some("8")));
        assert_eq!(get("quiet", "loglevel"), None);
        assert!(has("a quiet b", "quiet"));
        assert!(!has("quietly", "quiet"));
    }

    #[test]
    fn memparse_understands_suffixes_and_hex() {
        assert_eq!(memparse("512M"), Some(512 << 20));
        assert_eq!(memparse("3G"), Some(3 << 30));
        assert_eq!(memparse("0x1000"), Some(4096));
        assert_eq!(memparse("64k"), Some(65536));
        assert_eq!(memparse("12"), Some(12));
        assert_eq!(memparse("x1"), None);
        assert_eq!(memparse(""), None);
        assert_eq!(memparse("99999999999999T"), None, "overflow is an error");
    }
}
