//! Fixed-size ASCII codes: venues, currencies and strategy labels.
//!
//! Codes are stored inline, zero-padded, so that a book and everything in it has a fixed size
//! (the shared-memory mirror depends on it) and comparing two codes is comparing two integers.

use std::fmt;
use std::str::FromStr;

/// Why text could not become a code.
///
/// ```
/// use capvault::Venue;
/// assert!(Venue::new("SSE").is_ok());
/// assert!(Venue::new("sse").is_err(), "venues are upper case");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodeError {
    /// The text is empty.
    Empty,
    /// The text is longer than the code holds.
    TooLong {
        /// Bytes in the text.
        len: usize,
        /// Bytes the code holds.
        max: usize,
    },
    /// A character outside the code's alphabet.
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the text.
        index: usize,
    },
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::Empty => f.write_str("code is empty"),
            CodeError::TooLong { len, max } => {
                write!(f, "code is {len} bytes long, at most {max} fit")
            }
            CodeError::InvalidChar { ch, index } => {
                write!(f, "code has {ch:?} at byte {index}, outside its alphabet")
            }
        }
    }
}

impl std::error::Error for CodeError {}

macro_rules! ascii_code {
    ($(#[$doc:meta])* $name:ident, $len:expr, $allowed:expr, $alphabet:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Bytes the code holds.
            pub const LEN_MAX: usize = $len;

            #[doc = concat!("Builds a code from text of 1 to ", stringify!($len), " characters in ", $alphabet, ".")]
            ///
            /// # Errors
            /// [`CodeError`] naming what is wrong with the text.
            pub const fn new(text: &str) -> Result<$name, CodeError> {
                let bytes = text.as_bytes();
                if bytes.is_empty() {
                    return Err(CodeError::Empty);
                }
                if bytes.len() > $len {
                    return Err(CodeError::TooLong { len: bytes.len(), max: $len });
                }
                let mut code = [0_u8; $len];
                let mut index = 0;
                while index < bytes.len() {
                    let byte = bytes[index];
                    if !$allowed(byte) {
                        return Err(CodeError::InvalidChar { ch: byte as char, index });
                    }
                    code[index] = byte;
                    index += 1;
                }
                Ok($name(code))
            }

            /// The zero-padded bytes, as stored in fixed-size layouts.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Rebuilds a code from zero-padded bytes, validating them.
            ///
            /// # Errors
            /// [`CodeError`] if the bytes are not a valid code.
            pub fn from_bytes(bytes: &[u8; $len]) -> Result<$name, CodeError> {
                let len = bytes.iter().position(|&b| b == 0).unwrap_or($len);
                if bytes[len..].iter().any(|&b| b != 0) {
                    return Err(CodeError::InvalidChar { ch: '\0', index: len });
                }
                let text = std::str::from_utf8(&bytes[..len])
                    .map_err(|e| CodeError::InvalidChar { ch: '?', index: e.valid_up_to() })?;
                $name::new(text)
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                let len = self.0.iter().position(|&b| b == 0).unwrap_or($len);
                // Only bytes of the alphabet, all ASCII, are ever stored.
                std::str::from_utf8(&self.0[..len]).unwrap_or("")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CodeError;

            fn from_str(text: &str) -> Result<$name, CodeError> {
                $name::new(text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

const fn is_code_byte(byte: u8) -> bool {
    byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_'
}

const fn is_label_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' || byte == b'.'
}

ascii_code!(
    /// A trading venue: an exchange or a brokerage account (`KRAKEN`, `SSE`, `QMT`).
    Venue, 16, is_code_byte, "`A-Z 0-9 _`"
);

ascii_code!(
    /// A currency or asset code (`USDT`, `USDC`, `CNY`).
    Currency, 8, is_code_byte, "`A-Z 0-9 _`"
);

ascii_code!(
    /// A strategy's label, usually the symbol it trades (`159201`, `512890.SH`).
    ///
    /// The label names the strategy in the JSON mirror (`used_159201`), so it is unique in a book.
    Label, 16, is_label_byte, "`A-Z a-z 0-9 _ - .`"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_codes_within_size_and_alphabet() {
        assert_eq!(Venue::new("KRAKEN").unwrap().as_str(), "KRAKEN");
        assert_eq!(Currency::new("USDT").unwrap().to_string(), "USDT");
        assert_eq!(Label::new("512890.SH").unwrap().as_str(), "512890.SH");
        assert_eq!(Venue::new("ABCDEFGHIJKLMNOP").unwrap().as_str().len(), 16);
    }

    #[test]
    fn refuses_bad_codes_with_the_reason() {
        assert_eq!(Currency::new(""), Err(CodeError::Empty));
        assert_eq!(Currency::new("USDTUSDTX"), Err(CodeError::TooLong { len: 9, max: 8 }));
        assert_eq!(Currency::new("usdt"), Err(CodeError::InvalidChar { ch: 'u', index: 0 }));
        assert_eq!(Venue::new("SSE "), Err(CodeError::InvalidChar { ch: ' ', index: 3 }));
        assert_eq!(Label::new("a\0b"), Err(CodeError::InvalidChar { ch: '\0', index: 1 }));
    }

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        let usdt = Currency::new("USDT").unwrap();
        assert_eq!(usdt.as_bytes(), b"USDT\0\0\0\0");
        assert_eq!(Currency::from_bytes(usdt.as_bytes()), Ok(usdt));
        assert!(Currency::from_bytes(b"US\0T\0\0\0\0").is_err());
        assert!(Currency::from_bytes(&[0; 8]).is_err());
    }

    #[test]
    fn serde_is_a_string() {
        let cny = Currency::new("CNY").unwrap();
        assert_eq!(serde_json::to_string(&cny).unwrap(), "\"CNY\"");
        assert_eq!(serde_json::from_str::<Currency>("\"CNY\"").unwrap(), cny);
        assert!(serde_json::from_str::<Currency>("\"cny\"").is_err());
    }
}
