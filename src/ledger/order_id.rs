//! Client order ids: the key that ties a reservation to its fills, cancel and release.

use std::fmt;
use std::num::{NonZeroU128, NonZeroU64};
use std::str::FromStr;

/// A client order id, fixed-size: a uuid (128 bits, as `uuid4().hex` prints it) or a snowflake
/// (a 64-bit integer).
///
/// Text forms accepted: 32 hex digits (either case), the hyphenated 8-4-4-4-12 uuid form (the
/// same id as its 32-digit form), or 1 to 20 decimal digits that fit a `u64`. Zero is refused in
/// both kinds: a zero id is almost always a field that was never set. The variants hold
/// non-zero integers, so a zero id cannot be built at all:
///
/// ```compile_fail
/// let zero = capvault::ClientOrderId::Uuid(0);
/// ```
///
/// ```
/// # fn main() -> Result<(), capvault::OrderIdError> {
/// let id = capvault::ClientOrderId::uuid(0x9f1c_2a3b)?;
/// assert_eq!(capvault::ClientOrderId::uuid(0), Err(capvault::OrderIdError::Zero));
/// # let _ = id;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientOrderId {
    /// A 128-bit uuid.
    Uuid(NonZeroU128),
    /// A 64-bit snowflake.
    Snowflake(NonZeroU64),
}

/// Why text could not become a [`ClientOrderId`].
///
/// ```
/// use capvault::ClientOrderId;
/// assert!("not-an-id".parse::<ClientOrderId>().is_err());
/// assert!(ClientOrderId::snowflake(0).is_err(), "0 is not an id");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrderIdError {
    /// Neither 32 hex digits, nor a hyphenated uuid, nor decimal digits.
    Malformed {
        /// Bytes in the text.
        len: usize,
    },
    /// Decimal digits that do not fit a `u64`.
    SnowflakeOutOfRange,
    /// The id is zero.
    Zero,
}

impl fmt::Display for OrderIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderIdError::Malformed { len } => write!(
                f,
                "client_order_id of {len} bytes is neither a uuid (32 hex digits) nor a snowflake \
                 (decimal u64)"
            ),
            OrderIdError::SnowflakeOutOfRange => f.write_str("snowflake client_order_id exceeds u64"),
            OrderIdError::Zero => f.write_str("client_order_id is zero"),
        }
    }
}

impl std::error::Error for OrderIdError {}

impl ClientOrderId {
    /// A uuid id.
    ///
    /// # Errors
    /// [`OrderIdError::Zero`] for zero.
    pub const fn uuid(value: u128) -> Result<ClientOrderId, OrderIdError> {
        match NonZeroU128::new(value) {
            Some(value) => Ok(ClientOrderId::Uuid(value)),
            None => Err(OrderIdError::Zero),
        }
    }

    /// A snowflake id.
    ///
    /// # Errors
    /// [`OrderIdError::Zero`] for zero.
    pub const fn snowflake(value: u64) -> Result<ClientOrderId, OrderIdError> {
        match NonZeroU64::new(value) {
            Some(value) => Ok(ClientOrderId::Snowflake(value)),
            None => Err(OrderIdError::Zero),
        }
    }

    /// The id a text names, for ids that come as free text (seed 000's `signal_id`, such as
    /// `sig-20260216-0005`, is also the default `client_order_id`): a text that parses as an id
    /// (32 hex digits, a hyphenated uuid, a decimal snowflake) is that id; any other text is a
    /// `UUIDv8` (RFC 9562, version 8, variant `10`) made of the first 122 bits of the SHA-256 of its
    /// UTF-8 bytes. A uuid4 (version 4) never equals such an id. Two different texts meet only on
    /// a SHA-256 collision of 122 bits; the executor bridge still checks the texts it maps and
    /// refuses a second text for an id it holds.
    ///
    /// ```
    /// use capvault::ClientOrderId;
    /// let id = ClientOrderId::from_text("sig-20260216-0005");
    /// assert_eq!(id, ClientOrderId::from_text("sig-20260216-0005"));
    /// assert_ne!(id, ClientOrderId::from_text("sig-20260216-0006"));
    /// assert_eq!(ClientOrderId::from_text("42"), "42".parse().unwrap());
    /// assert_eq!(id.to_string().as_bytes()[12], b'8', "version 8");
    /// ```
    #[must_use]
    pub fn from_text(text: &str) -> ClientOrderId {
        use sha2::Digest;
        if let Ok(id) = text.parse() {
            return id;
        }
        let digest = sha2::Sha256::digest(text.as_bytes());
        let mut bytes = [0_u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let mut value = u128::from_be_bytes(bytes);
        value = (value & !(0xF_u128 << 76)) | (0x8_u128 << 76);
        value = (value & !(0x3_u128 << 62)) | (0x2_u128 << 62);
        ClientOrderId::Uuid(NonZeroU128::new(value).unwrap_or(NonZeroU128::MIN))
    }

    /// The id as two words, `(high, low)`: a uuid's high and low 64 bits, or `(0, value)` for a
    /// snowflake.
    #[must_use]
    pub const fn words(&self) -> (u64, u64) {
        match *self {
            ClientOrderId::Uuid(value) => ((value.get() >> 64) as u64, value.get() as u64),
            ClientOrderId::Snowflake(value) => (0, value.get()),
        }
    }
}

impl FromStr for ClientOrderId {
    type Err = OrderIdError;

    fn from_str(text: &str) -> Result<ClientOrderId, OrderIdError> {
        let bytes = text.as_bytes();
        let hyphenated = bytes.len() == 36 && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-');
        if bytes.len() == 32 || hyphenated {
            let mut value: u128 = 0;
            for (index, &byte) in bytes.iter().enumerate() {
                if hyphenated && matches!(index, 8 | 13 | 18 | 23) {
                    continue;
                }
                let digit =
                    (byte as char).to_digit(16).ok_or(OrderIdError::Malformed { len: bytes.len() })?;
                value = (value << 4) | u128::from(digit);
            }
            return ClientOrderId::uuid(value);
        }
        if (1..=20).contains(&bytes.len()) && bytes.iter().all(u8::is_ascii_digit) {
            let value = text.parse::<u64>().map_err(|_| OrderIdError::SnowflakeOutOfRange)?;
            return ClientOrderId::snowflake(value);
        }
        Err(OrderIdError::Malformed { len: bytes.len() })
    }
}

impl fmt::Display for ClientOrderId {
    /// The canonical text: 32 lowercase hex digits, or the decimal snowflake.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientOrderId::Uuid(value) => write!(f, "{value:032x}"),
            ClientOrderId::Snowflake(value) => write!(f, "{value}"),
        }
    }
}

impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({self})")
    }
}

impl serde::Serialize for ClientOrderId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ClientOrderId {
    /// Accepts the text forms, and a JSON integer as a snowflake.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ClientOrderId, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ClientOrderId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a client_order_id: 32 hex digits or a decimal snowflake")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ClientOrderId, E> {
                ClientOrderId::snowflake(v).map_err(E::custom)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ClientOrderId, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid4_hex_in_both_forms() {
        let hex = "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b";
        let id: ClientOrderId = hex.parse().unwrap();
        assert_eq!(id, ClientOrderId::uuid(0x9f1c_2a3b_4c5d_4e6f_8a9b_0c1d_2e3f_4a5b).unwrap());
        assert_eq!(id.to_string(), hex);
        assert_eq!("9F1C2A3B4C5D4E6F8A9B0C1D2E3F4A5B".parse(), Ok(id));
        assert_eq!("9f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b".parse(), Ok(id));
    }

    #[test]
    fn accepts_snowflakes() {
        let id: ClientOrderId = "1790000000000000001".parse().unwrap();
        assert_eq!(id, ClientOrderId::snowflake(1_790_000_000_000_000_001).unwrap());
        assert_eq!(id.to_string(), "1790000000000000001");
        assert_eq!("18446744073709551615".parse(), ClientOrderId::snowflake(u64::MAX));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!("".parse::<ClientOrderId>(), Err(OrderIdError::Malformed { len: 0 }));
        assert_eq!("abc".parse::<ClientOrderId>(), Err(OrderIdError::Malformed { len: 3 }));
        assert_eq!("-5".parse::<ClientOrderId>(), Err(OrderIdError::Malformed { len: 2 }));
        assert_eq!(
            "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5g".parse::<ClientOrderId>(),
            Err(OrderIdError::Malformed { len: 32 })
        );
        assert_eq!(
            "9f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5".parse::<ClientOrderId>(),
            Err(OrderIdError::Malformed { len: 35 })
        );
        assert_eq!("18446744073709551616".parse::<ClientOrderId>(), Err(OrderIdError::SnowflakeOutOfRange));
        assert_eq!("0".parse::<ClientOrderId>(), Err(OrderIdError::Zero));
        assert_eq!("00000000000000000000000000000000".parse::<ClientOrderId>(), Err(OrderIdError::Zero));
    }

    #[test]
    fn serde_takes_text_and_integers() {
        let id: ClientOrderId = serde_json::from_str("42").unwrap();
        assert_eq!(id, ClientOrderId::snowflake(42).unwrap());
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"42\"");
        assert!(serde_json::from_str::<ClientOrderId>("-1").is_err());
        assert!(serde_json::from_str::<ClientOrderId>("\"x\"").is_err());
    }
}
