//! Keypad digits the agent presses on a call (an automated menu on the other
//! side: "press 2 for billing", an extension, a PIN).

/// The longest sequence pressed at once.
pub const MAX_DIGITS: usize = 32;

/// Checks a digit sequence: `0`–`9`, `*`, `#`, and `w` for a half-second pause
/// (the carriers' convention), 1 to [`MAX_DIGITS`] of them. The error says
/// what is wrong, to follow the field name.
pub fn check_digits(digits: &str) -> Result<(), String> {
    if digits.is_empty() {
        return Err("must not be empty".into());
    }
    if digits.chars().count() > MAX_DIGITS {
        return Err(format!("must be at most {MAX_DIGITS} digits"));
    }
    match digits
        .chars()
        .find(|c| !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'w')))
    {
        Some(bad) => Err(format!(
            "may hold only 0-9, *, # and w (a half-second pause), not {bad:?}"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_stars_hashes_and_pauses_pass_and_anything_else_is_named() {
        assert!(check_digits("1w2#*0").is_ok());
        assert!(check_digits("").is_err());
        assert!(check_digits(&"1".repeat(MAX_DIGITS + 1)).is_err());
        let err = check_digits("12a").unwrap_err();
        assert!(err.contains("'a'"), "{err}");
    }
}
