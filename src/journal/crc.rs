//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the checksum of journal records and
//! checkpoints. Twenty lines did not justify a dependency.

const TABLE: [u32; 256] = {
    let mut table = [0_u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// Continues a CRC over more bytes; start from `0`.
pub(crate) fn update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_check_value() {
        assert_eq!(super::update(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(super::update(super::update(0, b"12345"), b"6789"), 0xCBF4_3926);
    }
}
