//! `Amount::from_f64_rounded` agrees with Python's own half-even rounding of the float's exact
//! value (`Decimal(x).quantize(..., ROUND_HALF_EVEN)`, what `round(x, n)` does) on values a
//! Python strategy produces: prices times share counts, sums of fills, exact ties.

mod common;

use std::io::Write;
use std::process::{Command as Process, Stdio};

use capvault::Amount;
use common::stream::Rng;

#[test]
fn half_even_rounding_agrees_with_python_decimal() {
    let mut rng = Rng(20_261_121);
    let mut cases: Vec<(f64, u32)> = Vec::new();
    for _ in 0..20_000 {
        let decimals = rng.below(9) as u32;
        let value = match rng.below(4) {
            // price (3 decimals) x shares (a multiple of 100), as seed 000 computes amounts
            0 => (rng.below(100_000) as f64 / 1000.0) * (100 * (1 + rng.below(100))) as f64,
            // an exact tie at the rounding place, when it is representable
            1 => (rng.below(1_000_000) as f64 + 0.5) / 10_f64.powi(decimals as i32),
            // a sum of small fills
            2 => (0..=rng.below(8)).map(|_| rng.below(10_000) as f64 * 0.01).sum(),
            // any binary fraction below 2^30
            _ => (rng.below(1 << 40) as f64) / (1_u64 << (10 + rng.below(40))) as f64,
        };
        let signed = if rng.below(2) == 0 { value } else { -value };
        cases.push((signed, decimals));
    }
    let script = "import sys\nfrom decimal import Decimal, ROUND_HALF_EVEN\n\
        for line in sys.stdin:\n    x, d = line.split()\n    \
        q = Decimal(float.fromhex(x)).quantize(Decimal(1).scaleb(-int(d)), rounding=ROUND_HALF_EVEN)\n    \
        print(format(q, 'f'))\n";
    let mut child = Process::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut input = String::new();
    for (value, decimals) in &cases {
        input += &format!("{} {decimals}\n", hex_float(*value));
    }
    // Written from another thread: python's answers fill the output pipe while it reads.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    let python: Vec<String> = String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(python.len(), cases.len());
    let mut ties = 0;
    for ((value, decimals), expected) in cases.iter().zip(&python) {
        let expected: Amount = expected.parse().unwrap();
        let got = Amount::from_f64_rounded(*value, *decimals).unwrap();
        assert_eq!(got, expected, "{value:?} to {decimals} places");
        ties += usize::from(
            expected.raw() % 2 == 0 && (value * 10_f64.powi(*decimals as i32)).fract().abs() == 0.5,
        );
    }
    assert!(ties > 100, "only {ties} exact ties exercised");
}

/// The float's exact bits in Python's `float.hex` form.
fn hex_float(value: f64) -> String {
    if value == 0.0 {
        return "0x0p+0".into();
    }
    let bits = value.to_bits();
    let sign = if value < 0.0 { "-" } else { "" };
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1 << 52) - 1);
    if exponent == 0 {
        format!("{sign}0x0.{fraction:013x}p-1022")
    } else {
        format!("{sign}0x1.{fraction:013x}p{:+}", exponent - 1023)
    }
}
