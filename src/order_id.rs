//! Client order ids: the key that ties a reservation to its fills, cancel and release.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A client order id, fixed-size: a uuid (128 bits, as `uuid4().hex` prints it) or a snowflake
/// (a 64-bit integer).
///
/// Text forms accepted: 32 hex digits (either case), the hyphenated 8-4-4-4-12 uuid form (the
/// same id as its 32-digit form), or 1 to 20 decimal digits that fit a `u64`. Zero is refused in
/// both kinds: a zero id is almost always a field that was never set.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientOrderId {
    /// A 128-bit uuid.
    Uuid(u128),
    /// A 64-bit snowflake.
    Snowflake(u64),
}

/// Why text could not become a [`ClientOrderId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        if value == 0 {
            Err(OrderIdError::Zero)
        } else {
            Ok(ClientOrderId::Uuid(value))
        }
    }

    /// A snowflake id.
    ///
    /// # Errors
    /// [`OrderIdError::Zero`] for zero.
    pub const fn snowflake(value: u64) -> Result<ClientOrderId, OrderIdError> {
        if value == 0 {
            Err(OrderIdError::Zero)
        } else {
            Ok(ClientOrderId::Snowflake(value))
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

impl Hash for ClientOrderId {
    /// One `u64` per id, so the ledger's id hasher sees a single word.
    fn hash<H: Hasher>(&self, state: &mut H) {
        match *self {
            ClientOrderId::Uuid(value) => {
                state.write_u64((value as u64) ^ ((value >> 64) as u64).rotate_left(1))
            }
            // The tag bit keeps a snowflake from colliding with the uuid of the same low word.
            ClientOrderId::Snowflake(value) => state.write_u64(value ^ 0x8000_0000_0000_0001),
        }
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

/// A hasher for [`ClientOrderId`] keys: one multiply-xorshift finaliser (splitmix64) over the
/// single word the id writes. Ids come from the users' own strategies, not from an adversary, so
/// a keyed hash buys nothing here, and a fixed hash keeps replay deterministic.
#[derive(Clone, Copy, Default, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

/// Builds [`IdHasher`]s.
pub type IdHashBuilder = std::hash::BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_uuid4_hex_in_both_forms() {
        let hex = "9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b";
        let id: ClientOrderId = hex.parse().unwrap();
        assert_eq!(id, ClientOrderId::Uuid(0x9f1c2a3b4c5d4e6f8a9b0c1d2e3f4a5b));
        assert_eq!(id.to_string(), hex);
        assert_eq!("9F1C2A3B4C5D4E6F8A9B0C1D2E3F4A5B".parse(), Ok(id));
        assert_eq!("9f1c2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b".parse(), Ok(id));
    }

    #[test]
    fn accepts_snowflakes() {
        let id: ClientOrderId = "1790000000000000001".parse().unwrap();
        assert_eq!(id, ClientOrderId::Snowflake(1_790_000_000_000_000_001));
        assert_eq!(id.to_string(), "1790000000000000001");
        assert_eq!("18446744073709551615".parse(), Ok(ClientOrderId::Snowflake(u64::MAX)));
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
        assert_eq!(id, ClientOrderId::Snowflake(42));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"42\"");
        assert!(serde_json::from_str::<ClientOrderId>("-1").is_err());
        assert!(serde_json::from_str::<ClientOrderId>("\"x\"").is_err());
    }
}
