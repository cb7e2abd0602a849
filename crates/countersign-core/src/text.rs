//! Text that comes from outside and is shown again later (sign-in names, display names, the
//! sign-in log): what may not be in it. Control characters can forge log lines and drive a
//! terminal; bidirectional overrides make a name read differently from what it is (CVE-2021-42574,
//! "Trojan Source").

/// The Unicode bidirectional formatting characters: embeddings, overrides, isolates and marks.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Whether `s` holds a control or bidirectional formatting character.
pub fn has_unsafe_chars(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_bidi_control(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_unsafe() {
        for bad in [
            "a\u{1b}[2J",
            "a\rb",
            "a\nb",
            "x\u{202E}gpj.exe",
            "\u{2066}a",
            "a\u{0}",
        ] {
            assert!(has_unsafe_chars(bad), "{bad:?}");
        }
        for good in ["alice@contoso.com", "Zoë Ångström", "李雷", "أحمد"] {
            assert!(!has_unsafe_chars(good), "{good:?}");
        }
    }
}
